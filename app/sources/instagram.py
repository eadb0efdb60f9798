"""Instagram source: recent posts of a public business or creator account, by username.

Uses the Instagram Graph API's *business discovery* (Instagram API with Facebook Login): the
request is made on the client's own connected professional account (`ig_user_id`, with the
client's access token) and names the target account by username through field expansion::

    GET {base}/{version}/{ig_user_id}
        ?fields=business_discovery.username(<target>){username,followers_count,media_count,
                 media.limit(N){id,caption,media_type,media_url,thumbnail_url,permalink,timestamp,
                                children{media_type,media_url,thumbnail_url}}}
        &access_token=...

What this module relies on, from Meta's public documentation (see the report that came with it):

* Business discovery only returns *public* fields of Business or Creator accounts; age-gated
  accounts are never returned. `media_url` is left out for videos with copyrighted/licensed audio
  and for reels whose owner turned downloads off, so a VIDEO may come without it (we use
  `thumbnail_url` for videos anyway).
* The `/media` edge pages with cursors: the answer carries `paging.cursors.before/after` but,
  unlike ordinary Graph paging, no `next`/`previous` URLs, so the next page is asked for by hand.
  The docs do not spell out the syntax for that inside a field expansion; we use the
  `.after(<cursor>)` modifier next to `.limit(N)`, as the Graph API's field-expansion modifiers
  work elsewhere. Paging stops at an empty page, a missing cursor, `media_count`, or our limit.
* Errors come as `{"error": {"message", "type", "code", "error_subcode", "is_transient",
  "fbtrace_id", ...}}`, usually with HTTP 400 (rate limits sometimes 403, outages 5xx). We classify
  by `code`/`error_subcode`, not by the HTTP status.
* Rate limits: platform codes 4 (app), 17 (user), 32 (page), 613 (custom), 341 (app limit), and
  80002 (Instagram Business Use Case limit). `X-Business-Use-Case-Usage` carries
  `estimated_time_to_regain_access` in minutes; `X-App-Usage` only percentages of a rolling hour.
* Code 190 (and 102, and the session subcodes 458/459/460/463/464/467/492) mean the token is
  expired, revoked or invalid: only the owner can fix that by reconnecting.
* An unknown username and a personal (non-professional) account answer alike: code 110 with
  subcode 2207013 ("Invalid user id"). We could not find 2207013 in the parts of Meta's Instagram
  error-code table we could read; the mapping is what public client code observes, so it is
  matched on either the code or the subcode.

The access token travels as the documented `access_token` query parameter. It never appears in
our messages, exceptions or reprs, and a logging filter redacts it from httpx's request log line
(httpx logs every request URL at INFO level, and the app logs at INFO).

The Graph API base URL is a setting we control, not a user-supplied URL, so these requests do not
go through the SSRF-guarded fetcher; the media URLs in the items do when they are downloaded.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import httpx
import nh3

from app.i18n import gettext as _
from app.net.errors import PicklableError
from app.net.http_client import HttpClientOwner
from app.sources.parsing import FeedEntry, dedup_key, normalise_url

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "ConnectedAccount",
    "InstagramAccount",
    "InstagramChild",
    "InstagramDiscoveryClient",
    "InstagramError",
    "InstagramErrorKind",
    "InstagramPost",
    "InvalidInstagramUsername",
    "normalize_username",
    "post_title",
    "post_to_entry",
    "post_to_item",
]

logger = logging.getLogger("zavod.sources.instagram")

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
MAX_LIMIT = 100
MAX_PAGES = 10  # a runaway cursor must not turn one collection into hundreds of calls
TITLE_MAX = 120
SUMMARY_MAX = 500

InstagramErrorKind = Literal["retryable", "needs_owner", "permanent"]

# Graph API error codes (developers.facebook.com/docs/graph-api/guides/error-handling and
# /docs/graph-api/overview/rate-limiting).
_TOKEN_CODES = frozenset({190, 102})
_TOKEN_SUBCODES = frozenset({458, 459, 460, 463, 464, 467, 492})
_PERMISSION_CODES = frozenset({10, *range(200, 300)})
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80002})
_TRANSIENT_CODES = frozenset({1, 2, -1, -2})
_NOT_BUSINESS_CODE = 110
_NOT_BUSINESS_SUBCODE = 2207013
_NO_SUCH_OBJECT = (100, 33)  # the connected account's own id cannot be read with this token

_MEDIA_FIELDS = (
    "id,caption,media_type,media_url,thumbnail_url,permalink,timestamp,children{media_type,media_url,thumbnail_url}"
)

# Instagram usernames: 1-30 characters, letters, digits, periods and underscores.
USERNAME_RE = re.compile(r"[A-Za-z0-9._]{1,30}")
_INSTAGRAM_HOSTS = frozenset({"instagram.com", "www.instagram.com", "m.instagram.com"})
# First path segments of instagram.com URLs that are not profiles.
_NOT_PROFILE_PATHS = frozenset(
    {"p", "reel", "reels", "tv", "stories", "explore", "accounts", "direct", "about", "developer", "legal"}
)
_TOKEN_IN_TEXT_RE = re.compile(r"(access_token=)[^&\s\"'<>]+", re.IGNORECASE)


# --- errors ---------------------------------------------------------------------------------------


class InstagramError(PicklableError):
    """Collecting from Instagram failed. `message` is written for a person and never holds a token.

    `kind` says what to do: "retryable" (try again later, after `retry_after` seconds when known),
    "needs_owner" (the client's owner must reconnect Instagram), "permanent" (retrying won't help).
    """

    def __init__(
        self,
        message: str,
        kind: InstagramErrorKind,
        retry_after: float | None = None,
        *,
        code: int | None = None,
        subcode: int | None = None,
        status_code: int | None = None,
        fbtrace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind: InstagramErrorKind = kind
        self.retry_after = retry_after
        self.code = code
        self.subcode = subcode
        self.status_code = status_code
        self.fbtrace_id = fbtrace_id  # Meta's support id: safe to log, useful in bug reports

    @property
    def retryable(self) -> bool:
        return self.kind == "retryable"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, kind={self.kind!r}, retry_after={self.retry_after!r}, "
            f"code={self.code!r}, subcode={self.subcode!r}, status_code={self.status_code!r})"
        )


class InvalidInstagramUsername(InstagramError):
    """What the user typed is not an Instagram username or profile address."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "permanent")


# --- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstagramChild:
    """One picture or video of a carousel."""

    media_type: str
    media_url: str | None
    thumbnail_url: str | None = None


@dataclass(frozen=True)
class InstagramPost:
    id: str
    caption: str | None
    media_type: str  # IMAGE | VIDEO | CAROUSEL_ALBUM
    media_url: str | None
    thumbnail_url: str | None
    permalink: str | None
    timestamp: datetime  # aware, UTC
    children_media_urls: list[str] = field(default_factory=list)
    children: tuple[InstagramChild, ...] = ()


@dataclass(frozen=True)
class ConnectedAccount:
    """The client's own professional account, as the connection check reads it."""

    id: str
    username: str


@dataclass(frozen=True)
class InstagramAccount:
    username: str
    followers_count: int | None
    media_count: int | None
    posts: list[InstagramPost]


# --- usernames ------------------------------------------------------------------------------------


def normalize_username(raw: str) -> str:
    """`name`, `@name` or a profile address (https://www.instagram.com/name/) → `name`, lowercased.

    Raises InvalidInstagramUsername with a message for the form when it is none of those.
    """
    text = (raw or "").strip()
    if not text:
        raise InvalidInstagramUsername(_("Enter an Instagram username, such as @natgeo."))
    candidate = text
    lowered = text.lower()
    looks_like_url = (
        "/" in text or lowered.startswith(("http:", "https:")) or lowered.startswith(tuple(_INSTAGRAM_HOSTS))
    )
    if looks_like_url:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        host = (parts.hostname or "").lower()
        if parts.scheme.lower() not in ("http", "https") or host not in _INSTAGRAM_HOSTS:
            raise InvalidInstagramUsername(
                _("This is not an Instagram address. Enter a username, such as @natgeo, or a profile address.")
            )
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if not segments:
            raise InvalidInstagramUsername(_("This Instagram address does not name an account."))
        if segments[0].lower() in _NOT_PROFILE_PATHS or len(segments) > 1:
            raise InvalidInstagramUsername(
                _("This is a link to a post or page, not to a profile. Enter the account's username instead.")
            )
        candidate = segments[0]
    candidate = candidate.removeprefix("@")
    if not USERNAME_RE.fullmatch(candidate):
        raise InvalidInstagramUsername(
            _(
                "“%(name)s” is not a valid Instagram username: use 1 to 30 letters, digits, periods and underscores.",
                name=candidate[:40],
            )
        )
    # Instagram usernames are case-insensitive and shown in lower case.
    return candidate.lower()


# --- client ---------------------------------------------------------------------------------------


class _RedactAccessToken(logging.Filter):
    """Removes access tokens from log records (httpx logs each request's full URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "access_token=" in record.msg:
            record.msg = _TOKEN_IN_TEXT_RE.sub(r"\1[redacted]", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any("access_token=" in str(a) for a in args if not isinstance(a, Mapping)):
                record.args = tuple(
                    _TOKEN_IN_TEXT_RE.sub(r"\1[redacted]", str(a)) if "access_token=" in str(a) else a for a in args
                )
        return True


def _install_log_redaction() -> None:
    # Logger filters only see records logged on that very logger: httpx logs request lines on
    # "httpx" (httpcore's own debug lines carry no URL).
    target = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactAccessToken) for f in target.filters):
        target.addFilter(_RedactAccessToken())


_install_log_redaction()


def _scrub(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "[redacted]")
    return _TOKEN_IN_TEXT_RE.sub(r"\1[redacted]", text)


class GraphApiClient(HttpClientOwner):
    """A client of Meta's Graph API at one base URL and version.

    Pass `http` to share a client (its own timeout is overridden per request); otherwise one is
    created and closed by `aclose()` / `async with`.
    """

    default_timeout = 15.0

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        http: httpx.AsyncClient | None = None,
        timeout: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")
        self.timeout = self.default_timeout if timeout is None else timeout
        self._use_http(http, self.timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_version={self.api_version!r})"


class InstagramDiscoveryClient(GraphApiClient):
    """Reads recent posts of public business/creator accounts through business discovery."""

    async def connected_account(self, ig_user_id: str, access_token: str) -> ConnectedAccount:
        """Check a connection before it is saved: `GET /{ig_user_id}?fields=id,username` with the token.

        Raises InstagramError with a message for the connect form (what to fix in the form, not
        "Zavod will try again later").
        """
        ig_user_id = str(ig_user_id or "").strip()
        try:
            body = await self._get(ig_user_id, access_token, "id,username", "")
        except InstagramError as exc:
            raise _connection_error(exc, ig_user_id) from None
        username = body.get("username")
        if str(body.get("id")) != ig_user_id or not isinstance(username, str) or not username:
            raise _unreadable()
        return ConnectedAccount(id=ig_user_id, username=username.lower())

    async def recent_posts(
        self, ig_user_id: str, access_token: str, username: str, limit: int = 25
    ) -> list[InstagramPost]:
        """The newest `limit` posts of `username` (any accepted form), newest first."""
        account = await self.account(ig_user_id, access_token, username, limit=limit)
        return account.posts

    async def account(self, ig_user_id: str, access_token: str, username: str, limit: int = 25) -> InstagramAccount:
        """The account's public counters and its newest `limit` posts (for previews)."""
        name = normalize_username(username)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        ig_user_id = str(ig_user_id or "").strip()
        if not ig_user_id.isdigit():
            raise InstagramError(
                _(
                    "The client's Instagram connection is incomplete (no account id); "
                    "the owner must reconnect Instagram in Channels."
                ),
                "needs_owner",
            )
        if not access_token:
            raise InstagramError(
                _("The client's Instagram connection has expired; the owner must reconnect Instagram in Channels."),
                "needs_owner",
            )

        posts: list[InstagramPost] = []
        seen: set[str] = set()
        cursor: str | None = None
        followers_count: int | None = None
        media_count: int | None = None
        for _page in range(MAX_PAGES):
            wanted = limit - len(posts)
            media = f"media.limit({wanted})" if cursor is None else f"media.after({cursor}).limit({wanted})"
            account_fields = f"username,followers_count,media_count,{media}{{{_MEDIA_FIELDS}}}"
            fields = f"business_discovery.username({name}){{{account_fields}}}"
            body = await self._get(ig_user_id, access_token, fields, name)
            discovery = body.get("business_discovery")
            if not isinstance(discovery, dict):
                raise _unreadable()
            followers_count = _int_or_none(discovery.get("followers_count"))
            media_count = _int_or_none(discovery.get("media_count"))
            edge = discovery.get("media") if isinstance(discovery.get("media"), dict) else {}
            data = edge.get("data") if isinstance(edge.get("data"), list) else []
            for raw in data:
                post = _parse_post(raw)
                if post is not None and post.id not in seen:
                    seen.add(post.id)
                    posts.append(post)
            paging = edge.get("paging") if isinstance(edge.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            next_cursor = cursors.get("after")
            if (
                len(posts) >= limit
                or not data
                or not isinstance(next_cursor, str)
                or not next_cursor
                or next_cursor == cursor
                or (media_count is not None and len(seen) >= media_count)
            ):
                break
            cursor = next_cursor
        posts.sort(key=lambda p: p.timestamp, reverse=True)
        return InstagramAccount(
            username=name, followers_count=followers_count, media_count=media_count, posts=posts[:limit]
        )

    async def _get(self, ig_user_id: str, access_token: str, fields: str, username: str) -> dict[str, Any]:
        url = f"{self.base_url}/{self.api_version}/{ig_user_id}"
        failure: InstagramError | None = None
        response: httpx.Response | None = None
        # The httpx exception is not chained to ours: it holds the request, and so the token.
        try:
            response = await self._http.get(
                url, params={"fields": fields, "access_token": access_token}, timeout=self.timeout
            )
        except httpx.TimeoutException:
            failure = InstagramError(
                _(
                    "Instagram did not answer within %(seconds)s seconds; Zavod will try again later.",
                    seconds=f"{self.timeout:g}",
                ),
                "retryable",
            )
        except (httpx.RequestError, httpx.InvalidURL) as exc:  # connect/protocol/decoding failures
            failure = InstagramError(
                _(
                    "Could not connect to Instagram (%(reason)s); Zavod will try again later.",
                    reason=type(exc).__name__,
                ),
                "retryable",
            )
        if failure is not None:
            raise failure
        assert response is not None
        return _read_response(response, access_token, username)


# --- responses and errors -------------------------------------------------------------------------


def _unreadable(status: int | None = None) -> InstagramError:
    return InstagramError(
        _("Instagram sent an answer Zavod could not read; Zavod will try again later."),
        "retryable",
        status_code=status,
    )


def _read_response(response: httpx.Response, token: str, username: str) -> dict[str, Any]:
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if 200 <= status < 300 and isinstance(body, dict) and "error" not in body:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raise _classify(error, response, token, username)
    if status == 429 or status >= 500:
        retry_after = _retry_after(response.headers) if status == 429 else None
        raise InstagramError(
            _("Instagram is having trouble right now (HTTP %(status)s); Zavod will try again later.", status=status),
            "retryable",
            retry_after,
            status_code=status,
        )
    if 200 <= status < 300:
        raise _unreadable(status)
    raise InstagramError(
        _("Instagram refused the request (HTTP %(status)s).", status=status), "permanent", status_code=status
    )


def _classify(error: Mapping[str, Any], response: httpx.Response, token: str, username: str) -> InstagramError:
    code = _int_or_none(error.get("code"))
    subcode = _int_or_none(error.get("error_subcode"))
    status = response.status_code
    trace = error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None
    extra = {"code": code, "subcode": subcode, "status_code": status, "fbtrace_id": trace}

    if code in _TOKEN_CODES or subcode in _TOKEN_SUBCODES:
        return InstagramError(
            _("The client's Instagram connection has expired; the owner must reconnect Instagram in Channels."),
            "needs_owner",
            **extra,
        )
    if code in _RATE_LIMIT_CODES or status == 429:
        retry_after = _retry_after(response.headers)
        if retry_after:
            minutes = max(1, round(retry_after / 60))
            message = _(
                "Instagram is limiting how often Zavod may ask for posts; Zavod will try again in about "
                "%(minutes)s min.",
                minutes=minutes,
            )
        else:
            message = _("Instagram is limiting how often Zavod may ask for posts; Zavod will try again later.")
        return InstagramError(message, "retryable", retry_after, **extra)
    if code == _NOT_BUSINESS_CODE or subcode == _NOT_BUSINESS_SUBCODE:
        return InstagramError(
            _(
                "@%(name)s is not a public business or creator account, so Instagram does not share its posts.",
                name=username,
            ),
            "permanent",
            **extra,
        )
    if (code, subcode) == _NO_SUCH_OBJECT:
        return InstagramError(
            _(
                "The client's Instagram connection can no longer read its Instagram account; "
                "the owner must reconnect Instagram in Channels."
            ),
            "needs_owner",
            **extra,
        )
    if code in _PERMISSION_CODES:
        return InstagramError(
            _(
                "The client's Instagram connection lacks a permission Zavod needs; the owner must reconnect "
                "Instagram in Channels and approve every permission asked."
            ),
            "needs_owner",
            **extra,
        )
    if error.get("is_transient") is True or code in _TRANSIENT_CODES or status >= 500:
        return InstagramError(
            _("Instagram is having trouble right now; Zavod will try again later."), "retryable", **extra
        )
    said = error.get("message") if isinstance(error.get("message"), str) else ""
    said = _scrub(said, token)[:300] or _("no reason given")
    return InstagramError(
        _("Instagram refused the request (code %(code)s): %(reason)s", code=code, reason=said),
        "permanent",
        **extra,
    )


def _connection_error(exc: InstagramError, ig_user_id: str) -> InstagramError:
    """The same failure, told to the owner who is filling in the connect form."""
    extra = {"code": exc.code, "subcode": exc.subcode, "status_code": exc.status_code, "fbtrace_id": exc.fbtrace_id}
    if exc.code in _TOKEN_CODES or exc.subcode in _TOKEN_SUBCODES:
        message = _(
            "Instagram did not accept this access token: it has expired or been revoked, or was not copied "
            "whole. Create a new long-lived token and paste it here."
        )
        return InstagramError(message, "needs_owner", **extra)
    if exc.code == _NO_SUCH_OBJECT[0]:
        message = _(
            "Instagram has no professional account with the id %(id)s that this token can open. Check the id: "
            "it is the Instagram account's id (it usually starts with 1784), not the Facebook page's.",
            id=ig_user_id,
        )
        return InstagramError(message, "permanent", **extra)
    if exc.code in _PERMISSION_CODES:
        message = _("This token lacks a permission Zavod needs. Create a new token and approve every permission asked.")
        return InstagramError(message, "needs_owner", **extra)
    if exc.code in _RATE_LIMIT_CODES or exc.status_code == 429:
        if exc.retry_after:
            message = _(
                "Instagram is limiting requests right now, so the connection could not be checked. "
                "Try again in about %(minutes)s min.",
                minutes=max(1, round(exc.retry_after / 60)),
            )
        else:
            message = _(
                "Instagram is limiting requests right now, so the connection could not be checked. Try again later."
            )
        return InstagramError(message, "retryable", exc.retry_after, **extra)
    if exc.retryable:
        message = _("Could not reach Instagram to check the connection. Try again in a few minutes.")
        return InstagramError(message, "retryable", exc.retry_after, **extra)
    return exc


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, estimated from Meta's usage headers (None when they say nothing useful).

    * `X-Business-Use-Case-Usage`: `{business-id: [{type, call_count, total_cputime, total_time,
      estimated_time_to_regain_access}]}`; the last is documented as minutes until calls are no
      longer throttled. It is the only real estimate Meta gives; we take the largest.
    * `X-App-Usage` (and the percentages of the BUC header): percentages of a rolling one-hour
      window, with no time. When one is at or above 100 we estimate the share of that hour that
      must roll off before it drops under 100, at least 5 minutes. This is our estimate, not Meta's.
    * A plain `Retry-After` header is not documented for the Graph API; honoured if ever sent.
    """
    best_minutes = 0.0
    worst_percent = 0.0
    buc = _json_header(headers.get("x-business-use-case-usage"))
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                if not isinstance(entry, dict):
                    continue
                best_minutes = max(best_minutes, _float(entry.get("estimated_time_to_regain_access")))
                worst_percent = max(worst_percent, *(_float(entry.get(k)) for k in _USAGE_KEYS))
    if best_minutes > 0:
        return best_minutes * 60.0
    for name in ("x-app-usage", "x-ad-account-usage"):
        usage = _json_header(headers.get(name))
        if isinstance(usage, dict):
            worst_percent = max(worst_percent, *(_float(usage.get(k)) for k in _USAGE_KEYS))
    if worst_percent >= 100:
        return min(3600.0, max(300.0, 3600.0 * (worst_percent - 100.0) / worst_percent))
    plain = headers.get("retry-after")
    if plain and plain.strip().isdigit():
        return float(plain.strip())
    return None


_USAGE_KEYS = ("call_count", "total_cputime", "total_time")


def _json_header(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN → 0


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_time(value: Any) -> datetime | None:
    """Graph timestamps look like 2025-03-14T09:30:00+0000 (ISO 8601)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_post(raw: Any) -> InstagramPost | None:
    """One IG Media object → InstagramPost; None (skipped, logged) when it lacks an id or a time."""
    if not isinstance(raw, dict):
        return None
    media_id = raw.get("id")
    media_id = str(media_id) if isinstance(media_id, str | int) and str(media_id) else None
    timestamp = _parse_time(raw.get("timestamp"))
    if media_id is None or timestamp is None:
        logger.warning("Skipping an Instagram media object without an id or a readable timestamp (id=%s)", media_id)
        return None
    children: list[InstagramChild] = []
    edge = raw.get("children")
    for child in (edge.get("data") if isinstance(edge, dict) else None) or []:
        if isinstance(child, dict):
            children.append(
                InstagramChild(
                    media_type=str(child.get("media_type") or "IMAGE"),
                    media_url=_str_or_none(child.get("media_url")),
                    thumbnail_url=_str_or_none(child.get("thumbnail_url")),
                )
            )
    caption = raw.get("caption") if isinstance(raw.get("caption"), str) else None
    return InstagramPost(
        id=media_id,
        caption=caption,
        media_type=str(raw.get("media_type") or "IMAGE").upper(),
        media_url=_str_or_none(raw.get("media_url")),
        thumbnail_url=_str_or_none(raw.get("thumbnail_url")),
        permalink=_str_or_none(raw.get("permalink")),
        timestamp=timestamp,
        children_media_urls=[c.media_url for c in children if c.media_url],
        children=tuple(children),
    )


# --- posts → source items -------------------------------------------------------------------------


def post_title(post: InstagramPost, max_length: int = TITLE_MAX) -> str:
    """The caption's first non-empty line, cut at a word boundary; or "Instagram post <date>"."""
    for line in (post.caption or "").splitlines():
        line = " ".join(line.split())
        if line:
            if len(line) <= max_length:
                return line
            cut = line[: max_length - 1]
            space = cut.rfind(" ")
            if space >= max_length // 2:
                cut = cut[:space]
            return cut.rstrip(" ,;:.-–—") + "…"
    return f"Instagram post {post.timestamp.astimezone(UTC):%Y-%m-%d}"


def post_image_url(post: InstagramPost) -> str | None:
    """IMAGE: its picture; CAROUSEL_ALBUM: the first child picture; VIDEO: the video's thumbnail."""
    if post.media_type == "VIDEO":
        return post.thumbnail_url
    if post.media_type == "CAROUSEL_ALBUM":
        for child in post.children:
            if child.media_type == "IMAGE" and child.media_url:
                return child.media_url
        for child in post.children:
            if child.media_type == "VIDEO" and child.thumbnail_url:
                return child.thumbnail_url
        # Without usable children, the album's own media_url is its cover.
        return post.media_url or post.thumbnail_url
    return post.media_url or post.thumbnail_url


def _caption_html(caption: str) -> str:
    escaped = "<br>".join(html.escape(line, quote=False) for line in caption.splitlines())
    return nh3.clean(escaped, tags={"br"})


def post_to_entry(post: InstagramPost) -> FeedEntry:
    """A post as an entry for the collection code: the post id is its guid, the permalink its link."""
    item = post_to_item(post)
    caption = item["content_text"]
    return FeedEntry(
        dedup_key=dedup_key(item["guid"], item["url"], item["title"], post.timestamp),
        guid=item["guid"],
        url=item["url"],
        title=item["title"],
        summary=_summary(caption),
        content=item["content_html"],
        content_html=item["content_html"],
        content_text=caption,
        image_url=item["image_url"],
        published_at=post.timestamp,
        normalized_url=normalise_url(item["url"]) if item["url"] else None,
        thumbnail_url=post.thumbnail_url,
    )


def _summary(caption: str, max_length: int = SUMMARY_MAX) -> str:
    # One paragraph for lists and search; the whole caption stays in content_text.
    text = " ".join(caption.split())
    if len(text) <= max_length:
        return text
    return text[: max_length - 1].rsplit(" ", 1)[0] + "…"


def post_to_item(post: InstagramPost) -> dict[str, Any]:
    """A source item (the keys the collection code stores) made from one post."""
    caption = (post.caption or "").strip()
    return {
        "guid": f"instagram:{post.id}",
        "url": post.permalink,
        "title": post_title(post),
        "content_text": caption,
        "content_html": _caption_html(caption) if caption else "",
        "image_url": post_image_url(post),
        "published_at": post.timestamp,
    }
