"""YouTube: connecting a channel through Google's OAuth consent, and uploading videos resumably.

Two clients on httpx, both pointed at settings (tests point them at tests/fakes/google_youtube.py):

* `GoogleOAuthClient` — the consent URL (`GOOGLE_OAUTH_AUTHORIZE_URL`), the code exchange and the
  access-token refresh at the token endpoint (`GOOGLE_OAUTH_TOKEN_URL`), with the agency's OAuth
  client (`GOOGLE_CLIENT_ID` / `GOOGLE_CLIENT_SECRET`).
* `YouTubeClient` — the YouTube Data API v3 at `YOUTUBE_API_BASE_URL`: `check_channel()` (which
  channel the owner connected) and the resumable upload protocol (`start_upload()`, `upload()`,
  and `upload_video()` which ties them together and restarts an expired session).

What the refresh returns is a `RefreshOutcome`, not a token or an exception, because the one
mistake schedulers keep making is dropping a stored refresh token on a transient error
(shared/PLATFORMS.md, complaint 3). Exactly one outcome, `RefreshRevoked`, means "Google will never
accept this refresh token again"; every other failure is a `RefreshFailed`, whose
`keeps_refresh_token` is always True.

Failures become `YouTubeError` (a `ChannelError`) whose kind says what to do: RETRYABLE (with
`retry_at` / `retry_after` when Google says when: quota exhausted → next midnight Pacific time),
PERMANENT (someone must change something; the message says what), NEEDS_ATTENTION (the video may
or may not be on YouTube: a person must look before anything is uploaded again).

Why an upload never doubles: an upload session creates a video only when its last byte arrives,
and the session URL answers "how much did you get?" with either the received range or the finished
video. So after any interruption we ask, and only a session that is gone (404) *after* its last
byte may have been sent is an unknown outcome.

Tokens, the client secret and session URLs (their `upload_id` lets anyone who holds it write to the
session) never appear in our messages, exceptions or reprs; httpx's exceptions (which hold the
request) are never chained to ours, and a logging filter redacts `upload_id` from httpx's request
log line. The base URLs are settings we control, not user input, so these requests do not go
through the SSRF-guarded fetcher.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import inspect
import json
import logging
import random
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from app.channels.base import ChannelError, FailureKind
from app.config import get_settings
from app.i18n import gettext as _
from app.net.http_client import HttpClientOwner
from app.secrets import mask

__all__ = [
    "CHUNK_GRANULARITY",
    "DEFAULT_CHUNK_SIZE",
    "DESCRIPTION_MAX_BYTES",
    "SCOPES",
    "SHORTS_MAX_SECONDS",
    "TAGS_MAX_CHARS",
    "TITLE_MAX_CHARS",
    "AccessToken",
    "AccessTokenSource",
    "GoogleOAuthClient",
    "GoogleTokens",
    "PreparedMetadata",
    "RefreshFailed",
    "RefreshOutcome",
    "RefreshRevoked",
    "Refreshed",
    "RefreshingAccessToken",
    "ShortsFit",
    "StaticAccessToken",
    "UploadIncomplete",
    "UploadResult",
    "VideoMetadata",
    "YouTubeChannel",
    "YouTubeClient",
    "YouTubeError",
    "next_quota_reset",
    "prepare_metadata",
    "shorts_fit",
]

log = logging.getLogger(__name__)

# --- limits and constants (shared/PLATFORMS.md, "YouTube Data API v3"; Google's API reference) ----

UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
READONLY_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"
SCOPES = (UPLOAD_SCOPE, READONLY_SCOPE)

CHUNK_GRANULARITY = 256 * 1024  # every chunk but the last must be a multiple of this
DEFAULT_CHUNK_SIZE = 32 * CHUNK_GRANULARITY  # 8 MiB
TITLE_MAX_CHARS = 100  # snippet.title: 100 characters, no < or >
DESCRIPTION_MAX_BYTES = 5000  # snippet.description: 5000 *bytes* of UTF-8, no < or >
TAGS_MAX_CHARS = 500  # snippet.tags: 500 characters, counting commas and quotes around tags with spaces
SHORTS_MAX_SECONDS = 180  # vertical or square, up to 3 minutes (older sources say 60 s)
PRIVACY_STATUSES = ("public", "unlisted", "private")
DEFAULT_CATEGORY_ID = "22"  # "People & Blogs", YouTube's own default for uploads

# Daily quotas reset at midnight Pacific time (developers.google.com/youtube/v3/determine_quota_cost).
QUOTA_TIMEZONE = ZoneInfo("America/Los_Angeles")
# uploadLimitExceeded is a per-channel limit over a rolling day: Google says "try again in 24 hours".
UPLOAD_LIMIT_WAIT = timedelta(hours=24)
# rateLimitExceeded / userRateLimitExceeded are short-window limits: back off, do not wait a day.
RATE_LIMIT_WAIT = 60.0
MAX_RETRY_AFTER = 300.0  # a Retry-After longer than this is handed to the caller, not slept on

_ACCESS_TOKEN_MARGIN = timedelta(seconds=60)  # refresh a little before Google's expiry
_UPLOAD_ID_RE = re.compile(r"(upload_id=)[^&\s\"'<>]+")
_TAG_RE = re.compile(r"<[^>]*>")


# --- errors ---------------------------------------------------------------------------------------


class YouTubeError(ChannelError):
    """A Google or YouTube call failed. `message` is written for a person and holds no secret.

    `reason` and `description` are Google's own (`errors[0].reason` / the OAuth `error`, and the
    text that came with it); `status` is the HTTP status (None when no answer came). `retry_at` is
    when a retry can work (UTC), `reconnect_needed` says the owner must connect YouTube again.
    """

    def __init__(
        self,
        message: str,
        kind: FailureKind,
        retry_after: float | None = None,
        *,
        reason: str | None = None,
        description: str | None = None,
        status: int | None = None,
        retry_at: datetime | None = None,
        reconnect_needed: bool = False,
    ) -> None:
        super().__init__(message, kind, retry_after)
        self.reason = reason
        self.description = description
        self.status = status
        self.retry_at = retry_at
        self.reconnect_needed = reconnect_needed

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, kind={self.kind!r}, retry_after={self.retry_after!r}, "
            f"reason={self.reason!r}, status={self.status!r}, retry_at={self.retry_at!r}, "
            f"reconnect_needed={self.reconnect_needed!r})"
        )


class UploadIncomplete(YouTubeError):
    """The upload stopped part-way (retries used up). The session can be resumed later.

    `session_url` resumes it (`upload(..., resume=True)` or `upload_video(session_url=...)`);
    `bytes_received` is what YouTube confirmed; `final_chunk_sent` says the last byte went out at
    least once (so the video may already exist: resume, never start a new session).
    """

    def __init__(
        self,
        message: str,
        *,
        session_url: str,
        bytes_received: int,
        total_size: int,
        final_chunk_sent: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, FailureKind.RETRYABLE, retry_after, reason="uploadIncomplete")
        self.session_url = session_url
        self.bytes_received = bytes_received
        self.total_size = total_size
        self.final_chunk_sent = final_chunk_sent

    def __repr__(self) -> str:
        return (
            f"UploadIncomplete(message={self.message!r}, bytes_received={self.bytes_received!r}, "
            f"total_size={self.total_size!r}, final_chunk_sent={self.final_chunk_sent!r}, session_url='[redacted]')"
        )


class _SessionGone(YouTubeError):
    """The session URL answered 404/410: the session expired (Google keeps them about a week)."""


# --- secrets stay out of logs -----------------------------------------------------------------------


class _RedactUploadId(logging.Filter):
    """Removes the `upload_id` of session URLs from httpx's request log line (INFO, full URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "upload_id=" in record.msg:
            record.msg = _UPLOAD_ID_RE.sub(r"\1[redacted]", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any("upload_id=" in str(a) for a in args if not isinstance(a, Mapping)):
                record.args = tuple(
                    _UPLOAD_ID_RE.sub(r"\1[redacted]", str(a)) if "upload_id=" in str(a) else a for a in args
                )
        return True


def _install_log_redaction() -> None:
    target = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactUploadId) for f in target.filters):
        target.addFilter(_RedactUploadId())


_install_log_redaction()


# --- time -------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in America/Los_Angeles after `now` (aware), in UTC: when quotas reset.

    Built from the Pacific calendar date, so the 23- and 25-hour days around DST changes come out
    right (midnight itself is never skipped or repeated there: the clocks change at 2 a.m.).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(QUOTA_TIMEZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=QUOTA_TIMEZONE)
    return midnight.astimezone(UTC)


# --- OAuth: tokens and refresh outcomes ---------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class AccessToken:
    value: str
    expires_at: datetime  # UTC

    def expired(self, now: datetime, margin: timedelta = _ACCESS_TOKEN_MARGIN) -> bool:
        return now + margin >= self.expires_at

    def __repr__(self) -> str:
        return f"AccessToken(value={mask(self.value)!r}, expires_at={self.expires_at.isoformat()!r})"


@dataclass(frozen=True, repr=False)
class GoogleTokens:
    """What the code exchange gives: a short-lived access token and the refresh token to store."""

    access_token: AccessToken
    refresh_token: str
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return (
            f"GoogleTokens(access_token={self.access_token!r}, refresh_token={mask(self.refresh_token)!r}, "
            f"scopes={sorted(self.scopes)!r})"
        )


class RefreshOutcome:
    """What `refresh_access_token()` returns: `Refreshed`, `RefreshRevoked` or `RefreshFailed`.

    `keeps_refresh_token` is False only for `RefreshRevoked` (Google answered `invalid_grant`): that
    is the one case in which a stored refresh token is dead. A timeout, a 5xx, a 429, an answer we
    cannot read, even a misconfigured OAuth client: the token stays.
    """

    keeps_refresh_token: bool = True
    revoked: bool = False

    def as_error(self) -> YouTubeError:
        raise NotImplementedError


@dataclass(frozen=True, repr=False)
class Refreshed(RefreshOutcome):
    access_token: AccessToken
    # Google normally keeps the refresh token; if it ever sends a new one, store that one instead.
    new_refresh_token: str | None = None

    def as_error(self) -> YouTubeError:
        raise TypeError("a successful refresh is not an error")

    def __repr__(self) -> str:
        new = mask(self.new_refresh_token) if self.new_refresh_token else None
        return f"Refreshed(access_token={self.access_token!r}, new_refresh_token={new!r})"


@dataclass(frozen=True)
class RefreshRevoked(RefreshOutcome):
    """Google will not accept this refresh token again (revoked, expired, password changed...)."""

    message: str
    description: str | None = None
    keeps_refresh_token: bool = field(default=False, init=False)
    revoked: bool = field(default=True, init=False)

    def as_error(self) -> YouTubeError:
        return YouTubeError(
            self.message,
            FailureKind.PERMANENT,
            reason="invalid_grant",
            description=self.description,
            status=400,
            reconnect_needed=True,
        )


@dataclass(frozen=True)
class RefreshFailed(RefreshOutcome):
    """The refresh did not work this time; the stored refresh token stays as it is."""

    message: str
    kind: FailureKind = FailureKind.RETRYABLE
    retry_after: float | None = None
    reason: str | None = None
    status: int | None = None

    def as_error(self) -> YouTubeError:
        return YouTubeError(self.message, self.kind, self.retry_after, reason=self.reason, status=self.status)


# --- OAuth client --------------------------------------------------------------------------------------


class GoogleOAuthClient(HttpClientOwner):
    """The agency's Google OAuth client: consent URL, code exchange, access-token refresh."""

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 10.0,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        settings = get_settings()
        self.client_id = (client_id if client_id is not None else settings.google_client_id).strip()
        self._client_secret = (client_secret if client_secret is not None else settings.google_client_secret).strip()
        self.authorize_url = authorize_url or settings.google_oauth_authorize_url
        self.token_url = token_url or settings.google_oauth_token_url
        self.timeout = timeout
        self._timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self._now = now
        self._use_http(http, self._timeout)

    def __repr__(self) -> str:
        return (
            f"GoogleOAuthClient(client_id={self.client_id!r}, token_url={self.token_url!r}, client_secret='[redacted]')"
        )

    def _require_client(self) -> None:
        if not self.client_id or not self._client_secret:
            raise YouTubeError(
                _(
                    "YouTube is not set up on this Zavod: the administrator must set GOOGLE_CLIENT_ID and "
                    "GOOGLE_CLIENT_SECRET (a Google Cloud OAuth client of type \u201cWeb application\u201d)."
                ),
                FailureKind.PERMANENT,
                reason="not_configured",
            )

    def consent_url(self, state: str, redirect_uri: str, *, login_hint: str | None = None) -> str:
        """Where to send the owner: Google's consent screen, which redirects back with code + state.

        `access_type=offline` + `prompt=consent` make Google issue a refresh token even to an
        account that allowed Zavod before; `include_granted_scopes` keeps earlier grants.
        """
        self._require_client()
        if not state:
            raise ValueError("state must not be empty: it is what ties the answer to the owner's session")
        params = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
        }
        if login_hint:
            params["login_hint"] = login_hint
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{urlencode(params)}"

    async def exchange_code(self, code: str, redirect_uri: str) -> GoogleTokens:
        """Trade the code from the redirect for tokens. Raises YouTubeError (never returns half)."""
        self._require_client()
        answer = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            }
        )
        if isinstance(answer, _TokenTransportFailure):
            raise YouTubeError(
                _(
                    "Google's sign-in service did not answer (%(reason)s). Connect YouTube again in a minute.",
                    reason=answer.reason,
                ),
                FailureKind.RETRYABLE,
                reason=answer.reason,
            )
        status, body, headers = answer
        if status == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
            access = self._access_token(body)
            if access is None:
                raise _unreadable_token_answer(status)
            scopes = frozenset(str(body.get("scope") or "").split())
            refresh_token = body.get("refresh_token")
            if not isinstance(refresh_token, str) or not refresh_token:
                raise YouTubeError(
                    _(
                        "Google did not give Zavod lasting access to this YouTube channel (no refresh token came "
                        "back). This happens when the Google account allowed Zavod before. Open "
                        "https://myaccount.google.com/permissions, remove Zavod's access there, then connect "
                        "YouTube again."
                    ),
                    FailureKind.PERMANENT,
                    reason="no_refresh_token",
                    reconnect_needed=True,
                )
            # Google lets people untick scopes on the consent screen; without upload, nothing works.
            if scopes and UPLOAD_SCOPE not in scopes:
                raise YouTubeError(
                    _(
                        "The permission to upload videos was not granted. Connect YouTube again and leave "
                        "\u201cManage your YouTube videos\u201d ticked on Google's screen."
                    ),
                    FailureKind.PERMANENT,
                    reason="scope_not_granted",
                    reconnect_needed=True,
                )
            return GoogleTokens(access_token=access, refresh_token=refresh_token, scopes=scopes)
        error, description = _oauth_error(body)
        if status == 429 or status >= 500 or (status == 200 and not error):
            retry_after = _retry_after_header(headers)
            raise YouTubeError(
                _(
                    "Google's sign-in service is busy (HTTP %(status)s). Connect YouTube again in a minute.",
                    status=status,
                ),
                FailureKind.RETRYABLE,
                retry_after,
                reason=error,
                description=description,
                status=status,
            )
        if error == "invalid_grant":
            raise YouTubeError(
                _("The Google sign-in expired or was already used. Connect YouTube again."),
                FailureKind.PERMANENT,
                reason=error,
                description=description,
                status=status,
                reconnect_needed=True,
            )
        raise _client_config_error(error, description, status)

    async def refresh_access_token(self, refresh_token: str) -> RefreshOutcome:
        """A fresh access token, or why not. Never raises for what Google or the network does."""
        try:
            self._require_client()
        except YouTubeError as exc:
            return RefreshFailed(exc.message, FailureKind.PERMANENT, reason=exc.reason)
        if not refresh_token:
            raise ValueError("refresh_token must not be empty")
        answer = await self._token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            }
        )
        if isinstance(answer, _TokenTransportFailure):
            return RefreshFailed(
                _(
                    "Google's sign-in service did not answer (%(reason)s). Zavod keeps the YouTube connection "
                    "and will try again later.",
                    reason=answer.reason,
                ),
                FailureKind.RETRYABLE,
                reason=answer.reason,
            )
        status, body, headers = answer
        if status == 200 and isinstance(body, dict):
            access = self._access_token(body)
            if access is not None:
                new_refresh = body.get("refresh_token")
                return Refreshed(
                    access_token=access,
                    new_refresh_token=new_refresh if isinstance(new_refresh, str) and new_refresh else None,
                )
        error, description = _oauth_error(body)
        if error == "invalid_grant" and 400 <= status < 500:
            return RefreshRevoked(
                _(
                    "Google no longer accepts Zavod's access to this YouTube channel (it was removed, expired, "
                    "or the account's password changed). The owner must connect YouTube again."
                ),
                description=description,
            )
        if status == 429 or status >= 500 or status == 200:
            return RefreshFailed(
                _(
                    "Google's sign-in service is busy or answered oddly (HTTP %(status)s). Zavod keeps the YouTube "
                    "connection and will try again later.",
                    status=status,
                ),
                FailureKind.RETRYABLE,
                _retry_after_header(headers),
                reason=error,
                status=status,
            )
        config = _client_config_error(error, description, status)
        return RefreshFailed(
            config.message + " " + _("The YouTube connection itself is kept."),
            FailureKind.PERMANENT,
            reason=error,
            status=status,
        )

    def _access_token(self, body: Mapping[str, Any]) -> AccessToken | None:
        value = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(value, str) or not value:
            return None
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
            expires_in = 3600
        try:
            seconds = float(expires_in)
        except ValueError:
            seconds = 3600.0
        return AccessToken(value=value, expires_at=self._now() + timedelta(seconds=max(seconds, 0.0)))

    async def _token_request(self, form: dict[str, str]) -> tuple[int, Any, httpx.Headers] | _TokenTransportFailure:
        failure: _TokenTransportFailure | None = None
        response: httpx.Response | None = None
        try:
            response = await self._http.post(
                self.token_url, data=form, headers={"Accept": "application/json"}, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            # Not chained and not kept: the request in it carries the form (secret, tokens).
            failure = _TokenTransportFailure(_transport_reason(exc))
        if failure is not None:
            return failure
        assert response is not None
        return response.status_code, _json_or_none(response), response.headers


@dataclass(frozen=True)
class _TokenTransportFailure:
    reason: str


def _oauth_error(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    description = body.get("error_description")
    if isinstance(error, dict):  # some Google endpoints answer OAuth errors in the API error shape
        return (str(error.get("status") or "") or None), (str(error.get("message") or "") or None)
    return (error if isinstance(error, str) else None), (description if isinstance(description, str) else None)


def _client_config_error(error: str | None, description: str | None, status: int) -> YouTubeError:
    return YouTubeError(
        _(
            "Google refused Zavod's OAuth client (%(error)s). The administrator must check GOOGLE_CLIENT_ID, "
            "GOOGLE_CLIENT_SECRET and the authorized redirect URI in the Google Cloud console.",
            error=error or f"HTTP {status}",
        ),
        FailureKind.PERMANENT,
        reason=error,
        description=description,
        status=status,
    )


def _unreadable_token_answer(status: int) -> YouTubeError:
    return YouTubeError(
        _("Google's sign-in service sent an answer Zavod could not read. Connect YouTube again in a minute."),
        FailureKind.RETRYABLE,
        status=status,
    )


# --- access tokens for API calls ------------------------------------------------------------------------


class AccessTokenSource(Protocol):
    """Where API calls get their access token, and a new one after Google answered 401."""

    async def token(self) -> str: ...

    async def renew(self) -> str: ...


class StaticAccessToken:
    """One access token as is (e.g. right after the code exchange). A 401 cannot be repaired here."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def token(self) -> str:
        return self._value

    async def renew(self) -> str:
        raise YouTubeError(
            _("The YouTube access token has expired; Zavod will get a new one and try again."),
            FailureKind.RETRYABLE,
            reason="authError",
            status=401,
        )

    def __repr__(self) -> str:
        return f"StaticAccessToken({mask(self._value)!r})"


class RefreshingAccessToken:
    """An access token kept fresh from the stored refresh token.

    Refreshes when the current token is missing or about to expire, and when Google answered 401.
    A failed refresh raises the outcome's YouTubeError: `reconnect_needed` only for a revoked token.
    After use, `current` is the token to store for the next job and `new_refresh_token` (rare) the
    refresh token to store instead of the old one.
    """

    def __init__(
        self,
        oauth: GoogleOAuthClient,
        refresh_token: str,
        current: AccessToken | None = None,
        *,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._oauth = oauth
        self._refresh_token = refresh_token
        self.current = current
        self.new_refresh_token: str | None = None
        self.last_outcome: RefreshOutcome | None = None
        self.refreshes = 0
        self._now = now
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self.current is None or self.current.expired(self._now()):
                await self._refresh()
            assert self.current is not None
            return self.current.value

    async def renew(self) -> str:
        async with self._lock:
            await self._refresh()
            assert self.current is not None
            return self.current.value

    async def _refresh(self) -> None:
        outcome = await self._oauth.refresh_access_token(self._refresh_token)
        self.last_outcome = outcome
        if isinstance(outcome, Refreshed):
            self.current = outcome.access_token
            self.refreshes += 1
            if outcome.new_refresh_token:
                self._refresh_token = self.new_refresh_token = outcome.new_refresh_token
            return
        raise outcome.as_error()

    def __repr__(self) -> str:
        return f"RefreshingAccessToken(current={self.current!r}, refresh_token={mask(self._refresh_token)!r})"


def _as_source(auth: str | AccessTokenSource) -> AccessTokenSource:
    return StaticAccessToken(auth) if isinstance(auth, str) else auth


# --- metadata ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoMetadata:
    """The snippet and status sent when an upload session starts."""

    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    privacy_status: str = "private"
    category_id: str = DEFAULT_CATEGORY_ID
    default_language: str | None = None

    def problems(self) -> list[str]:
        """What YouTube would refuse, in words for people (empty: fine). Nothing is changed here."""
        found: list[str] = []
        title = self.title.strip()
        if not title:
            found.append(_("The video needs a title."))
        if len(self.title) > TITLE_MAX_CHARS:
            found.append(
                _(
                    "The title is %(length)s characters long; YouTube allows %(limit)s.",
                    length=len(self.title),
                    limit=TITLE_MAX_CHARS,
                )
            )
        if "<" in self.title or ">" in self.title:
            found.append(_("The title must not contain < or >."))
        size = len(self.description.encode("utf-8"))
        if size > DESCRIPTION_MAX_BYTES:
            found.append(
                _(
                    "The description is %(size)s bytes long; YouTube allows %(limit)s bytes.",
                    size=size,
                    limit=DESCRIPTION_MAX_BYTES,
                )
            )
        if "<" in self.description or ">" in self.description:
            found.append(_("The description must not contain < or >."))
        if tags_length(self.tags) > TAGS_MAX_CHARS:
            found.append(
                _(
                    "The tags take %(length)s characters; YouTube allows %(limit)s (commas and quotes count).",
                    length=tags_length(self.tags),
                    limit=TAGS_MAX_CHARS,
                )
            )
        if any("<" in tag or ">" in tag for tag in self.tags):
            found.append(_("Tags must not contain < or >."))
        if self.privacy_status not in PRIVACY_STATUSES:
            found.append(_("Privacy must be public, unlisted or private."))
        return found

    def resource(self) -> dict[str, Any]:
        snippet: dict[str, Any] = {"title": self.title, "description": self.description, "categoryId": self.category_id}
        if self.tags:
            snippet["tags"] = list(self.tags)
        if self.default_language:
            snippet["defaultLanguage"] = self.default_language
        return {
            "snippet": snippet,
            "status": {"privacyStatus": self.privacy_status, "selfDeclaredMadeForKids": False},
        }


@dataclass(frozen=True)
class PreparedMetadata:
    title: str
    description: str
    tags: tuple[str, ...]
    notes: tuple[str, ...]  # every change made, in words for the editor; empty: nothing changed

    def metadata(self, privacy_status: str = "private", category_id: str = DEFAULT_CATEGORY_ID) -> VideoMetadata:
        return VideoMetadata(self.title, self.description, self.tags, privacy_status, category_id)


def tags_length(tags: Iterable[str]) -> int:
    """How YouTube counts the 500: the tags, the commas between them, quotes around tags with spaces."""
    tags = list(tags)
    return sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(len(tags) - 1, 0)


def _no_angle_brackets(text: str) -> str:
    # Look-alikes keep the meaning of "<3" or "A > B" where YouTube refuses the ASCII characters.
    return text.replace("<", "\u2039").replace(">", "\u203a")


def _shorten_chars(text: str, limit: int) -> str:
    """At most `limit` characters ending in "…", cut at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-\u2013\u2014") + "\u2026"


def _shorten_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes ending in "…", never splitting a character, ideally at a break."""
    if len(text.encode("utf-8")) <= limit:
        return text
    budget = limit - len("\u2026".encode())
    cut = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    for separator in ("\n\n", "\n", ". ", " "):
        position = cut.rfind(separator)
        if position >= len(cut) * 0.8:
            cut = cut[: position + (1 if separator == ". " else 0)]
            break
    return cut.rstrip() + "\u2026"


def prepare_metadata(title: str, description: str = "", tags: Iterable[str] = ()) -> PreparedMetadata:
    """Make title, description and tags fit YouTube's rules, and say what was changed.

    Nothing is cut silently: every change is a note for the editor. A title that is empty after
    cleaning raises YouTubeError (PERMANENT): there is nothing sensible to upload under.
    """
    notes: list[str] = []

    clean_title = " ".join(title.split())
    if clean_title != title.strip():
        notes.append(_("Line breaks and repeated spaces in the title were joined into single spaces."))
    if "<" in clean_title or ">" in clean_title:
        clean_title = _no_angle_brackets(clean_title)
        notes.append(_("YouTube does not allow < or > in titles: they were replaced with \u2039 and \u203a."))
    if not clean_title:
        raise YouTubeError(_("The video needs a title."), FailureKind.PERMANENT, reason="invalidTitle")
    if len(clean_title) > TITLE_MAX_CHARS:
        original = len(clean_title)
        clean_title = _shorten_chars(clean_title, TITLE_MAX_CHARS)
        notes.append(
            _(
                "The title was shortened from %(before)s to %(after)s characters (YouTube allows %(limit)s).",
                before=original,
                after=len(clean_title),
                limit=TITLE_MAX_CHARS,
            )
        )

    clean_description = description.strip()
    if "<" in clean_description or ">" in clean_description:
        clean_description = _no_angle_brackets(clean_description)
        notes.append(_("YouTube does not allow < or > in descriptions: they were replaced with \u2039 and \u203a."))
    size = len(clean_description.encode("utf-8"))
    if size > DESCRIPTION_MAX_BYTES:
        clean_description = _shorten_bytes(clean_description, DESCRIPTION_MAX_BYTES)
        notes.append(
            _(
                "The description was shortened from %(before)s to %(after)s bytes (YouTube allows %(limit)s bytes; "
                "letters outside Latin take 2 bytes or more).",
                before=size,
                after=len(clean_description.encode("utf-8")),
                limit=DESCRIPTION_MAX_BYTES,
            )
        )

    kept: list[str] = []
    seen: set[str] = set()
    changed_tags = False
    dropped: list[str] = []
    for raw in tags:
        tag = " ".join(raw.replace(",", " ").split()).lstrip("#").strip()
        tag = tag.replace("<", "").replace(">", "").strip()
        if tag != raw:
            changed_tags = True
        if not tag or tag.casefold() in seen:
            changed_tags = changed_tags or bool(raw.strip())
            continue
        if tags_length([*kept, tag]) > TAGS_MAX_CHARS:
            dropped.append(tag)
            continue
        seen.add(tag.casefold())
        kept.append(tag)
    if changed_tags:
        notes.append(_("Tags were tidied for YouTube: no leading #, commas, < or >, and no repeats."))
    if dropped:
        notes.append(
            _(
                "%(count)s tags did not fit YouTube's %(limit)s-character limit for tags and were left out: %(tags)s.",
                count=len(dropped),
                limit=TAGS_MAX_CHARS,
                tags=", ".join(dropped),
            )
        )
    return PreparedMetadata(clean_title, clean_description, tuple(kept), tuple(notes))


# --- Shorts -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShortsFit:
    fits: bool
    reasons: tuple[str, ...]  # why not, in words for the editor (empty when it fits)

    def __bool__(self) -> bool:
        return self.fits


def shorts_fit(width: int, height: int, duration_s: float) -> ShortsFit:
    """Whether a video is a Short: vertical or square, and at most 3 minutes long."""
    reasons: list[str] = []
    if width <= 0 or height <= 0:
        reasons.append(_("The video's size is unknown."))
    elif width > height:
        reasons.append(
            _(
                "The video is horizontal (%(width)s\u00d7%(height)s); Shorts are vertical or square.",
                width=width,
                height=height,
            )
        )
    if duration_s <= 0:
        reasons.append(_("The video's length is unknown."))
    elif duration_s > SHORTS_MAX_SECONDS:
        reasons.append(
            _(
                "The video is %(seconds)s s long; Shorts last at most %(limit)s s.",
                seconds=f"{duration_s:g}",
                limit=SHORTS_MAX_SECONDS,
            )
        )
    return ShortsFit(not reasons, tuple(reasons))


# --- what an upload returns --------------------------------------------------------------------------------


@dataclass(frozen=True)
class YouTubeChannel:
    channel_id: str
    title: str
    custom_url: str | None = None


@dataclass(frozen=True)
class UploadResult:
    video_id: str
    url: str
    requested_privacy: str | None
    privacy_status: str | None
    upload_status: str | None
    # True when YouTube made the video private although public/unlisted was asked: Google does that
    # to uploads from API projects that have not passed its audit. `warning` says so in words.
    locked_private: bool
    warning: str | None
    bytes_sent: int  # bytes Zavod put on the wire, re-sent ones included
    sessions: int  # upload sessions used (more than one: an expired session was started again)
    resource: dict[str, Any] = field(repr=False, compare=False)


def _locked_private_warning(requested: str) -> str:
    return _(
        "YouTube made the video private although %(requested)s was asked. Google does this to every upload "
        "from an API project that has not passed its audit: the administrator must apply for the YouTube API "
        "audit. Until then, make the video %(requested)s by hand in YouTube Studio.",
        requested=requested,
    )


# --- upload sources ---------------------------------------------------------------------------------------


class _Source:
    size: int

    async def read_at(self, offset: int, size: int) -> bytes:
        raise NotImplementedError

    @property
    def rereadable(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class _BytesSource(_Source):
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.size = len(data)

    async def read_at(self, offset: int, size: int) -> bytes:
        return bytes(self._data[offset : offset + size])


class _FileSource(_Source):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: Any = None
        self.size = path.stat().st_size

    def _read(self, offset: int, size: int) -> bytes:
        if self._file is None:
            self._file = self._path.open("rb")
        self._file.seek(offset)
        return self._file.read(size)

    async def read_at(self, offset: int, size: int) -> bytes:
        return await asyncio.to_thread(self._read, offset, size)

    async def aclose(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _StreamSource(_Source):
    """An async byte stream read once. Keeps from the oldest byte YouTube may still ask for.

    YouTube never asks again for bytes it confirmed, so only the chunk in flight is buffered.
    """

    def __init__(self, stream: AsyncIterable[bytes], size: int) -> None:
        self._iterator: AsyncIterator[bytes] = aiter(stream)
        self._buffer = bytearray()
        self._start = 0
        self._exhausted = False
        self.size = size

    @property
    def rereadable(self) -> bool:
        return False

    async def read_at(self, offset: int, size: int) -> bytes:
        if offset < self._start:
            raise YouTubeError(
                _("YouTube lost part of the upload and the video cannot be read again now; Zavod will start over."),
                FailureKind.RETRYABLE,
                reason="cannotRewind",
            )
        while self._start + len(self._buffer) < offset + size and not self._exhausted:
            try:
                piece = await anext(self._iterator)
            except StopAsyncIteration:
                self._exhausted = True
                break
            self._buffer.extend(piece)
            # Drop what lies before `offset` as we go, so a skip forward does not hold the file.
            drop = min(offset - self._start, len(self._buffer))
            if drop > 0:
                del self._buffer[:drop]
                self._start += drop
        drop = min(offset - self._start, len(self._buffer))
        if drop > 0:
            del self._buffer[:drop]
            self._start += drop
        return bytes(self._buffer[:size])

    async def aclose(self) -> None:
        closer = getattr(self._iterator, "aclose", None)
        if closer is not None:
            await closer()


UploadSource = str | Path | bytes | bytearray | AsyncIterable[bytes]


def _open_source(source: UploadSource, total_size: int | None) -> _Source:
    if isinstance(source, bytes | bytearray):
        opened: _Source = _BytesSource(bytes(source))
    elif isinstance(source, str | Path):
        opened = _FileSource(Path(source))
    else:
        if total_size is None:
            raise ValueError("total_size is required when uploading from a stream")
        return _StreamSource(source, total_size)
    if total_size is not None and total_size != opened.size:
        raise ValueError(f"total_size is {total_size} but the source holds {opened.size} bytes")
    return opened


def _source_size(source: UploadSource, total_size: int | None) -> int:
    if total_size is not None:
        return total_size
    if isinstance(source, bytes | bytearray):
        return len(source)
    if isinstance(source, str | Path):
        return Path(source).stat().st_size
    raise ValueError("total_size is required when uploading from a stream")


# --- session answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Done:
    resource: dict[str, Any]


@dataclass(frozen=True)
class _Received:
    next_offset: int  # bytes YouTube holds: the next byte to send


@dataclass(frozen=True)
class _Interrupted:
    reason: str
    retry_after: float | None = None


_SessionAnswer = _Done | _Received | _Interrupted


def _parse_range(value: str | None) -> int | None:
    """`bytes=0-524287` → 524288 (the next offset); None when there is no usable Range."""
    if not value:
        return 0
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d+)\s*-\s*(\d+)\s*", value)
    if match is None or int(match.group(1)) != 0:
        return None
    return int(match.group(2)) + 1


# --- the YouTube Data API client ---------------------------------------------------------------------


def _default_backoff(attempt: int) -> float:
    return min(32.0, 2.0 ** (attempt - 1)) + random.uniform(0, 1)  # jitter, not crypto


class YouTubeClient(HttpClientOwner):
    """The YouTube Data API v3 for one Zavod process. `auth` is an access token or an AccessTokenSource.

    Pass `http` to share an httpx client (its timeouts are overridden per request). `backoff(n)`
    is the pause before the n-th retry of an interrupted upload (tests pass `lambda n: 0`).
    """

    def __init__(
        self,
        *,
        api_base_url: str | None = None,
        web_base_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 5,
        max_session_restarts: int = 1,
        backoff: Callable[[int], float] = _default_backoff,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        settings = get_settings()
        self.api_base_url = (api_base_url or settings.youtube_api_base_url).rstrip("/")
        self.web_base_url = (web_base_url or settings.youtube_base_url).rstrip("/")
        self.timeout = timeout
        self._timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self.max_retries = max_retries
        self.max_session_restarts = max_session_restarts
        self._backoff = backoff
        self._now = now
        self._use_http(http, self._timeout)

    def __repr__(self) -> str:
        return f"YouTubeClient(api_base_url={self.api_base_url!r})"

    # -- checks --

    async def check_channel(self, auth: str | AccessTokenSource) -> YouTubeChannel:
        """The channel of the signed-in account (`channels.list part=snippet mine=true`)."""
        response = await self._api(
            "GET",
            f"{self.api_base_url}/youtube/v3/channels",
            _as_source(auth),
            params={"part": "snippet", "mine": "true"},
        )
        if isinstance(response, _Interrupted):
            raise YouTubeError(
                _("YouTube did not answer (%(reason)s); try again in a minute.", reason=response.reason),
                FailureKind.RETRYABLE,
                response.retry_after,
                reason=response.reason,
            )
        if response.status_code != 200:
            raise self._api_error(response)
        body = _json_or_none(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise YouTubeError(
                _("YouTube sent an answer Zavod could not read; try again in a minute."),
                FailureKind.RETRYABLE,
                status=response.status_code,
            )
        if not items or not isinstance(items[0], dict) or not isinstance(items[0].get("id"), str):
            raise YouTubeError(
                _(
                    "This Google account has no YouTube channel. Create the channel on YouTube (or sign in with the "
                    "account that owns it), then connect YouTube again."
                ),
                FailureKind.PERMANENT,
                reason="noChannel",
                reconnect_needed=True,
            )
        channel = items[0]
        snippet = channel.get("snippet") if isinstance(channel.get("snippet"), dict) else {}
        custom_url = snippet.get("customUrl")
        return YouTubeChannel(
            channel_id=channel["id"],
            title=str(snippet.get("title") or channel["id"]),
            custom_url=custom_url if isinstance(custom_url, str) else None,
        )

    async def video_status(self, auth: str | AccessTokenSource, video_id: str) -> dict[str, Any] | None:
        """A video's `status` part as YouTube sees it now (None: not found). One quota unit.

        The lock to private can come minutes after the upload: a later check uses this.
        """
        response = await self._api(
            "GET",
            f"{self.api_base_url}/youtube/v3/videos",
            _as_source(auth),
            params={"part": "status", "id": video_id},
        )
        if isinstance(response, _Interrupted):
            raise YouTubeError(
                _("YouTube did not answer (%(reason)s); try again in a minute.", reason=response.reason),
                FailureKind.RETRYABLE,
                response.retry_after,
                reason=response.reason,
            )
        if response.status_code != 200:
            raise self._api_error(response)
        body = _json_or_none(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return None
        status = items[0].get("status")
        return status if isinstance(status, dict) else None

    # -- uploads --

    async def start_upload(
        self,
        auth: str | AccessTokenSource,
        metadata: VideoMetadata,
        *,
        total_size: int,
        content_type: str = "video/mp4",
        notify_subscribers: bool = True,
    ) -> str:
        """Open a resumable upload session; returns its URL (keep it secret: it is a write capability).

        Metadata is checked here first (no quota is spent on what YouTube would refuse). Opening a
        session creates no video, so this is always safe to retry.
        """
        problems = metadata.problems()
        if problems:
            raise YouTubeError(
                _("YouTube would refuse this video: %(problems)s", problems=" ".join(problems)),
                FailureKind.PERMANENT,
                reason="invalidVideoMetadata",
            )
        if total_size <= 0:
            raise ValueError("total_size must be positive")
        params = {"uploadType": "resumable", "part": "snippet,status"}
        if not notify_subscribers:
            params["notifySubscribers"] = "false"
        response = await self._api(
            "POST",
            f"{self.api_base_url}/upload/youtube/v3/videos",
            _as_source(auth),
            params=params,
            headers={
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Length": str(total_size),
                "X-Upload-Content-Type": content_type,
            },
            content=json.dumps(metadata.resource(), ensure_ascii=False).encode("utf-8"),
        )
        if isinstance(response, _Interrupted):
            raise YouTubeError(
                _(
                    "YouTube did not answer (%(reason)s); Zavod will try the upload again later.",
                    reason=response.reason,
                ),
                FailureKind.RETRYABLE,
                response.retry_after,
                reason=response.reason,
            )
        if response.status_code not in (200, 201):
            raise self._api_error(response)
        location = response.headers.get("Location")
        if not location:
            raise YouTubeError(
                _("YouTube did not open an upload session; Zavod will try again later."),
                FailureKind.RETRYABLE,
                status=response.status_code,
            )
        return location

    async def upload(
        self,
        session_url: str,
        source: UploadSource,
        total_size: int | None = None,
        *,
        auth: str | AccessTokenSource,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        content_type: str = "video/mp4",
        resume: bool = False,
        requested_privacy: str | None = None,
        progress: Callable[[int, int], Any] | None = None,
        final_chunk_sent: bool | None = None,
    ) -> UploadResult:
        """Send the bytes to a session in chunks; after an interruption, ask what arrived and go on.

        `resume=True` first asks the session where it stands (a session from an earlier attempt).
        `progress(received, total)` is called (and awaited if it returns an awaitable) as YouTube
        confirms bytes. Raises `UploadIncomplete` when retries run out (resume it later),
        `_SessionGone` internally for an expired session (see `upload_video`).
        """
        if chunk_size <= 0 or chunk_size % CHUNK_GRANULARITY:
            raise ValueError(f"chunk_size must be a positive multiple of {CHUNK_GRANULARITY} bytes (256 KiB)")
        tokens = _as_source(auth)
        reader = _open_source(source, total_size)
        total = reader.size
        if total <= 0:
            raise ValueError("nothing to upload: the video is empty")
        offset = 0
        best = 0
        failures = 0
        bytes_sent = 0
        # Resuming someone else's session: its last byte may have gone out already.
        last_byte_sent = resume if final_chunk_sent is None else final_chunk_sent
        need_status = resume
        try:
            while True:
                if need_status:
                    answer = await self._session_put(
                        session_url, tokens, {"Content-Length": "0", "Content-Range": f"bytes */{total}"}, b""
                    )
                else:
                    size = min(chunk_size, total - offset)
                    chunk = await reader.read_at(offset, size)
                    if len(chunk) != size:
                        raise YouTubeError(
                            _(
                                "The video file is shorter than expected (%(expected)s bytes); it may have changed "
                                "during the upload. Zavod will start again.",
                                expected=total,
                            ),
                            FailureKind.RETRYABLE,
                            reason="sourceTooShort",
                        )
                    end = offset + size - 1
                    if end == total - 1:
                        last_byte_sent = True
                    bytes_sent += size
                    answer = await self._session_put(
                        session_url,
                        tokens,
                        {
                            "Content-Length": str(size),
                            "Content-Type": content_type,
                            "Content-Range": f"bytes {offset}-{end}/{total}",
                        },
                        chunk,
                    )
                if isinstance(answer, _Done):
                    if progress is not None:
                        await _maybe_await(progress(total, total))
                    return self._result(answer.resource, requested_privacy, bytes_sent, 1)
                if isinstance(answer, _Received):
                    if answer.next_offset > total:
                        raise YouTubeError(
                            _("YouTube reported more bytes than the video has; Zavod will start the upload again."),
                            FailureKind.RETRYABLE,
                            reason="badRange",
                        )
                    was_status_query, need_status = need_status, False
                    offset = answer.next_offset
                    progressed = offset > best
                    if progressed:
                        best = offset
                        failures = 0
                        if progress is not None:
                            await _maybe_await(progress(offset, total))
                    if offset == total:
                        # Every byte is there but the video is not confirmed yet: ask again shortly.
                        answer = _Interrupted("waiting for YouTube to confirm the video")
                    elif progressed or was_status_query:
                        continue
                    else:
                        # A chunk was taken without any progress: as good as an interruption.
                        answer = _Interrupted("no progress")
                failures += 1
                if failures > self.max_retries:
                    raise UploadIncomplete(
                        _(
                            "The upload to YouTube kept being interrupted (%(reason)s) and stopped at %(done)s of "
                            "%(total)s MB. Zavod will resume it later.",
                            reason=answer.reason,
                            done=f"{best / 1048576:.1f}",
                            total=f"{total / 1048576:.1f}",
                        ),
                        session_url=session_url,
                        bytes_received=best,
                        total_size=total,
                        final_chunk_sent=last_byte_sent,
                        retry_after=answer.retry_after,
                    )
                delay = self._backoff(failures)
                if answer.retry_after is not None:
                    delay = max(delay, min(answer.retry_after, MAX_RETRY_AFTER))
                log.info("YouTube upload interrupted (%s); asking the session where it stands", answer.reason)
                if delay > 0:
                    await asyncio.sleep(delay)
                need_status = True
        except _SessionGone as gone:
            if last_byte_sent:
                # The whole video may have arrived before the session went: only a person can tell.
                raise YouTubeError(
                    _(
                        "The YouTube upload session ended after the whole video was sent, so the video may or may "
                        "not be on YouTube. Check the channel in YouTube Studio: if the video is there, mark the "
                        "publication published; if not, publish it again."
                    ),
                    FailureKind.NEEDS_ATTENTION,
                    reason="sessionExpired",
                    status=gone.status,
                ) from None
            raise
        finally:
            await reader.aclose()

    async def upload_video(
        self,
        auth: str | AccessTokenSource,
        metadata: VideoMetadata,
        source: UploadSource,
        total_size: int | None = None,
        *,
        content_type: str = "video/mp4",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        session_url: str | None = None,
        final_chunk_may_be_sent: bool = True,
        notify_subscribers: bool = True,
        on_session: Callable[[str], Any] | None = None,
        progress: Callable[[int, int], Any] | None = None,
    ) -> UploadResult:
        """Start (or resume, with `session_url`) an upload and see it through.

        `on_session(url)` is called (and awaited) with each new session URL before any byte is
        sent: store it, so a crash after the last byte is resumed (and finds the video) instead of
        uploading the video twice. An expired session is started again when the source can be read
        again and the last byte never went out. A stored `session_url` that turns out expired counts
        as "the last byte may have gone out" (→ NEEDS_ATTENTION) unless `final_chunk_may_be_sent` is
        False (e.g. `UploadIncomplete.final_chunk_sent` said so).
        """
        tokens = _as_source(auth)
        size = _source_size(source, total_size)
        sessions = 0
        resume = session_url is not None
        while True:
            if session_url is None:
                session_url = await self.start_upload(
                    tokens, metadata, total_size=size, content_type=content_type, notify_subscribers=notify_subscribers
                )
                sessions += 1
                if on_session is not None:
                    await _maybe_await(on_session(session_url))
            try:
                result = await self.upload(
                    session_url,
                    source,
                    size,
                    auth=tokens,
                    chunk_size=chunk_size,
                    content_type=content_type,
                    resume=resume,
                    requested_privacy=metadata.privacy_status,
                    progress=progress,
                    final_chunk_sent=final_chunk_may_be_sent if resume else False,
                )
            except _SessionGone as gone:
                rereadable = isinstance(source, bytes | bytearray | str | Path)
                if sessions > self.max_session_restarts or not rereadable:
                    raise YouTubeError(
                        _("The YouTube upload session expired; Zavod will start the upload again later."),
                        FailureKind.RETRYABLE,
                        reason="sessionExpired",
                        status=gone.status,
                    ) from None
                log.info("YouTube upload session expired; starting a new one")
                session_url = None
                resume = False
                continue
            return dataclasses.replace(result, sessions=max(sessions, 1))

    # -- plumbing --

    def _result(
        self, resource: dict[str, Any], requested_privacy: str | None, bytes_sent: int, sessions: int
    ) -> UploadResult:
        video_id = resource.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise YouTubeError(
                _(
                    "YouTube said the upload finished but sent no video id, so Zavod cannot link to it. Check the "
                    "channel in YouTube Studio: if the video is there, mark the publication published."
                ),
                FailureKind.NEEDS_ATTENTION,
                reason="noVideoId",
            )
        status = resource.get("status") if isinstance(resource.get("status"), dict) else {}
        privacy = status.get("privacyStatus")
        upload_status = status.get("uploadStatus")
        locked = requested_privacy in ("public", "unlisted") and privacy == "private"
        warning = _locked_private_warning(requested_privacy or "") if locked else None
        if upload_status in ("rejected", "failed"):
            why = status.get("rejectionReason") or status.get("failureReason") or upload_status
            warning = " ".join(
                filter(
                    None,
                    [warning, _("YouTube did not accept the uploaded video (%(why)s).", why=why)],
                )
            )
        return UploadResult(
            video_id=video_id,
            url=f"{self.web_base_url}/watch?v={video_id}",
            requested_privacy=requested_privacy,
            privacy_status=privacy if isinstance(privacy, str) else None,
            upload_status=upload_status if isinstance(upload_status, str) else None,
            locked_private=locked,
            warning=warning,
            bytes_sent=bytes_sent,
            sessions=sessions,
            resource=resource,
        )

    async def _session_put(
        self, session_url: str, tokens: AccessTokenSource, headers: dict[str, str], content: bytes
    ) -> _SessionAnswer:
        response = await self._api("PUT", session_url, tokens, headers=headers, content=content)
        if isinstance(response, _Interrupted):
            return response
        status = response.status_code
        if status in (200, 201):
            body = _json_or_none(response)
            if isinstance(body, dict) and body.get("id"):
                return _Done(body)
            # Finished, but the answer was cut or garbled: the status query returns the video again.
            return _Interrupted(f"unreadable answer (HTTP {status})")
        if status == 308:
            next_offset = _parse_range(response.headers.get("Range"))
            if next_offset is None:
                return _Interrupted("unreadable Range")
            return _Received(next_offset)
        if status in (404, 410):
            raise _SessionGone(
                _("The YouTube upload session expired."), FailureKind.RETRYABLE, reason="sessionExpired", status=status
            )
        if status in (429, 500, 502, 503, 504):
            return _Interrupted(f"HTTP {status}", _retry_after_header(response.headers))
        raise self._api_error(response)

    async def _api(
        self,
        method: str,
        url: str,
        tokens: AccessTokenSource,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response | _Interrupted:
        """One authorized call; a 401 gets one new access token and one more try."""
        renewed = False
        while True:
            token = await tokens.token()
            sent_headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
            response: httpx.Response | None = None
            interrupted: _Interrupted | None = None
            try:
                response = await self._http.request(
                    method, url, params=params, headers=sent_headers, content=content, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                # Not chained: the request in it holds the Authorization header and the session URL.
                interrupted = _Interrupted(_transport_reason(exc))
            if interrupted is not None:
                return interrupted
            assert response is not None
            if response.status_code == 401 and not renewed:
                renewed = True
                await tokens.renew()
                continue
            return response

    def _api_error(self, response: httpx.Response) -> YouTubeError:
        return classify_api_error(response.status_code, _json_or_none(response), response.headers, self._now())


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


# --- Google API errors --------------------------------------------------------------------------------------


_METADATA_FIXES = {
    "invalidTitle": lambda: _(
        "YouTube refused the title: it must be 1 to 100 characters, without < or >. Edit the title and publish again."
    ),
    "invalidDescription": lambda: _(
        "YouTube refused the description: at most 5000 bytes, without < or >. Edit it and publish again."
    ),
    "invalidTags": lambda: _(
        "YouTube refused the tags: together at most 500 characters (commas and quotes count), without < or >. "
        "Remove some tags and publish again."
    ),
    "invalidCategoryId": lambda: _("YouTube refused the video category. Choose another category and publish again."),
    "invalidVideoMetadata": lambda: _(
        "YouTube refused the video's details (title, description, tags or language). Check them and publish again."
    ),
    "defaultLanguageNotSet": lambda: _(
        "YouTube needs the video's language to be set for these details. Set the language and publish again."
    ),
    "mediaBodyRequired": lambda: _("YouTube received no video file. Zavod will need the video to be generated again."),
    "invalidFilename": lambda: _("YouTube refused the video file's name. Publish again."),
}


def classify_api_error(status: int, body: Any, headers: Mapping[str, str], now: datetime) -> YouTubeError:
    """A YouTube Data API error answer → YouTubeError with the right kind, wait and message.

    Google's shape: `{"error": {"code", "message", "errors": [{"reason", "domain", "message"}]}}`.
    """
    reason: str | None = None
    domain: str | None = None
    google_message: str | None = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        if isinstance(error.get("message"), str):
            google_message = _plain(error["message"])
        errors = error.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            reason = errors[0].get("reason") if isinstance(errors[0].get("reason"), str) else None
            domain = errors[0].get("domain") if isinstance(errors[0].get("domain"), str) else None
    extra: dict[str, Any] = {"reason": reason, "description": google_message, "status": status}

    if reason in ("quotaExceeded", "dailyLimitExceeded"):
        reset = next_quota_reset(now)
        return YouTubeError(
            _(
                "The YouTube API quota for today is used up. Zavod will try again after the daily reset at "
                "midnight Pacific time (%(reset)s UTC).",
                reset=reset.strftime("%Y-%m-%d %H:%M"),
            ),
            FailureKind.RETRYABLE,
            (reset - now).total_seconds(),
            retry_at=reset,
            **extra,
        )
    if reason == "uploadLimitExceeded":
        retry_at = now + UPLOAD_LIMIT_WAIT
        return YouTubeError(
            _("This YouTube channel has reached its limit of uploads for the day. Zavod will try again in 24 hours."),
            FailureKind.RETRYABLE,
            UPLOAD_LIMIT_WAIT.total_seconds(),
            retry_at=retry_at,
            **extra,
        )
    if reason in ("rateLimitExceeded", "userRateLimitExceeded") or status == 429:
        wait = _retry_after_header(headers) or RATE_LIMIT_WAIT
        return YouTubeError(
            _("YouTube asked Zavod to slow down; Zavod will try again in %(seconds)s s.", seconds=f"{wait:g}"),
            FailureKind.RETRYABLE,
            wait,
            retry_at=now + timedelta(seconds=wait),
            **extra,
        )
    if status == 401 or reason in ("authError", "youtubeSignupRequired"):
        if reason == "youtubeSignupRequired":
            return YouTubeError(
                _(
                    "This Google account has no YouTube channel. Create the channel on YouTube, then connect "
                    "YouTube again."
                ),
                FailureKind.PERMANENT,
                reconnect_needed=True,
                **extra,
            )
        return YouTubeError(
            _("YouTube does not accept Zavod's access any more. The owner must connect YouTube again."),
            FailureKind.PERMANENT,
            reconnect_needed=True,
            **extra,
        )
    if reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"):
        return YouTubeError(
            _(
                "Zavod may not upload to this YouTube channel: the upload permission was not granted. Connect "
                "YouTube again and leave \u201cManage your YouTube videos\u201d ticked."
            ),
            FailureKind.PERMANENT,
            reconnect_needed=True,
            **extra,
        )
    if reason in _METADATA_FIXES:
        return YouTubeError(_METADATA_FIXES[reason](), FailureKind.PERMANENT, **extra)
    if reason in ("authenticatedUserAccountSuspended", "authenticatedUserAccountClosed", "channelSuspended"):
        return YouTubeError(
            _("YouTube says this channel or its Google account is suspended or closed; nothing can be uploaded."),
            FailureKind.PERMANENT,
            **extra,
        )
    if reason == "forbiddenPrivacySetting":
        return YouTubeError(
            _("YouTube does not allow this privacy setting for this video. Choose another and publish again."),
            FailureKind.PERMANENT,
            **extra,
        )
    if status >= 500 or reason in ("backendError", "internalError"):
        return YouTubeError(
            _("YouTube had a temporary problem (HTTP %(status)s); Zavod will try again later.", status=status),
            FailureKind.RETRYABLE,
            _retry_after_header(headers),
            **extra,
        )
    detail = google_message or (f"{domain}/{reason}" if reason else f"HTTP {status}")
    return YouTubeError(
        _("YouTube refused the request: %(detail)s", detail=detail),
        FailureKind.PERMANENT,
        **extra,
    )


# --- small helpers -------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Google puts HTML links into some messages (the quota one): keep the words only."""
    return html.unescape(_TAG_RE.sub("", text)).strip()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return None  # an HTTP date: rare from Google; the caller's own backoff applies


def _transport_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "no connection"
    return "connection lost"
