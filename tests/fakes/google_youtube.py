"""A local fake of Google's OAuth endpoints and of the YouTube Data API's resumable upload, for tests.

One server plays both hosts (the paths do not collide), so the three settings
GOOGLE_OAUTH_AUTHORIZE_URL (`{base}/o/oauth2/v2/auth`), GOOGLE_OAUTH_TOKEN_URL (`{base}/token`)
and YOUTUBE_API_BASE_URL (`{base}`) all point at it. It follows Google's public contract:

* `GET /o/oauth2/v2/auth` — the consent screen, already clicked through: answers 302 to the
  `redirect_uri` with `code`, `state` and `scope` (or `error=access_denied` when `user_denies`).
  An unknown `client_id` → 401 page "invalid_client"; a redirect URI not in `allowed_redirect_uris`
  (when that is set) → 400 page "redirect_uri_mismatch". A refresh token is promised only with
  `access_type=offline`, and only to an account consenting for the first time or with
  `prompt=consent`, as Google does; `grant_scopes` lets the "user" untick scopes.
* `POST /token` (form-encoded) — `grant_type=authorization_code` and `grant_type=refresh_token`.
  Success: `{"access_token", "expires_in": 3599, "refresh_token" (code exchange only), "scope",
  "token_type": "Bearer"}`. Errors with Google's bodies: `{"error": "invalid_grant",
  "error_description": "Token has been expired or revoked."}` for a revoked refresh token, "Bad
  Request" for a used or unknown code, `invalid_client` / "Unauthorized" (401),
  `redirect_uri_mismatch`, `unsupported_grant_type`, `invalid_request`.
* `GET /youtube/v3/channels?part=snippet&mine=true` and `GET /youtube/v3/videos?part=status&id=`.
* `POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status` — checks the bearer
  token and scope, `X-Upload-Content-Length` / `X-Upload-Content-Type`, and the metadata as
  YouTube does (title ≤ 100 characters, description ≤ 5000 bytes, no `<`/`>`, tags ≤ 500 counted
  YouTube's way, a known category, a privacy status) → 400 with `youtube.video` reasons
  (`invalidTitle`, `invalidDescription`, `invalidTags`, `invalidCategoryId`,
  `invalidVideoMetadata`). Success: 200, empty body, the session URL in `Location` (with
  `upload_id`).
* `PUT <session URL>` — `Content-Range: bytes a-b/N` with the chunk (every chunk but the last a
  multiple of 256 KiB) → `308 Resume Incomplete` with `Range: bytes=0-(received-1)` (no Range
  before the first byte), and when the last byte is in, 201 with the video resource (`id`,
  `snippet`, `status.uploadStatus="uploaded"`, `status.privacyStatus`). `Content-Range: bytes */N`
  with no body asks for the status: 308 + Range, or 201 + the video when complete. An expired or
  unknown session → 404.
* API errors have Google's shape `{"error": {"code", "message", "errors": [{"message", "domain",
  "reason"}]}}` — e.g. quota: 403, domain `youtube.quota`, reason `quotaExceeded`, the message
  with Google's HTML link in it; an expired token: 401, reason `authError`, "Invalid Credentials".

Switches: `fail(target, status, body, headers, times)`, `quota_exceeded(target)`,
`upload_limit_exceeded()`, `rate_limited(target)`, `server_error(target, status)`,
`drop_connection_at(offset)` (the chunk covering that byte of the upload is read up to it, that
much is kept, and the connection is cut without an answer), `expire_session(url)`,
`expire_access_tokens()`, `revoke(refresh_token)`, `force_private`, `user_denies`,
`grant_scopes`, `omit_refresh_token`, `token_delay`, `has_channel`. Targets: "authorize", "token",
"channels", "videos", "upload_start", "upload_chunk", "upload_status".

Where it is knowingly simpler than Google: one user, one channel; no processing (uploadStatus
stays "uploaded"); tokens never expire by time (`expire_access_tokens()` does it); Google's 429
body for the token endpoint is not documented, ours is modelled on its other OAuth errors.
Every request is recorded in `requests` (tokens included, so tests can check what was sent);
`bytes_received_total` counts every chunk byte read, re-sent ones included.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.fakes.server import ThreadedFakeServer

CLIENT_ID = "123456789012-zavodtestclient.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fakeClientSecret0123456789"
UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
READONLY_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
CHANNEL_ID = "UCzavodTestChannel0000001"
CHANNEL_TITLE = "Northwind Bakery TV"
CHANNEL_HANDLE = "@northwindbakery"
CHUNK_GRANULARITY = 256 * 1024
VIDEO_CATEGORIES = frozenset({"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28"})

QUOTA_MESSAGE = (
    'The request cannot be completed because you have exceeded your <a href="/youtube/v3/getting-started#quota">'
    "quota</a>."
)
TARGETS = frozenset({"authorize", "token", "channels", "videos", "upload_start", "upload_chunk", "upload_status"})


def api_error(status: int, reason: str, message: str, domain: str = "global", **extra: Any) -> dict[str, Any]:
    """Google's API error body."""
    item = {"message": message, "domain": domain, "reason": reason, **extra}
    return {"error": {"code": status, "message": message, "errors": [item]}}


def oauth_error(error: str, description: str) -> dict[str, Any]:
    return {"error": error, "error_description": description}


def _random_id(length: int, alphabet: str = string.ascii_letters + string.digits + "-_") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# --- state ------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    body_size: int = 0

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class CodeGrant:
    redirect_uri: str
    scopes: tuple[str, ...]
    offline: bool
    used: bool = False


@dataclass
class UploadSession:
    upload_id: str
    metadata: dict[str, Any]
    total: int
    content_type: str
    received: bytearray = field(default_factory=bytearray)
    video_id: str | None = None
    expired: bool = False


@dataclass
class Fault:
    target: str
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int | None = 1  # None: until cleared


class _Drop(Exception):
    """Cut the connection without answering."""


class _Answer(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None, reason: str | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.reason = reason


# --- the fake -------------------------------------------------------------------------------------


class FakeGoogle(ThreadedFakeServer):
    """Google's OAuth endpoints and YouTube's upload API; `start()` serves them on 127.0.0.1."""

    thread_name = "fake-google"
    display_name = "The fake Google"

    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    # -- state --

    def reset(self) -> None:
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.faults: list[Fault] = []
            self.allowed_redirect_uris: set[str] | None = None
            self.user_denies = False
            self.grant_scopes: tuple[str, ...] | None = None  # None: what was asked
            self.omit_refresh_token = False
            self.token_delay = 0.0
            self.has_channel = True
            self.force_private = False
            self.persist_granularity = 1  # keep interrupted chunks in steps of this many bytes
            self.consented = False
            self.codes: dict[str, CodeGrant] = {}
            self.refresh_tokens: dict[str, tuple[str, ...]] = {}  # token → scopes
            self.revoked: set[str] = set()
            self.access_tokens: dict[str, tuple[str, ...]] = {}  # valid token → scopes
            self.expired_access_tokens: set[str] = set()
            self.sessions: dict[str, UploadSession] = {}
            self.videos: dict[str, dict[str, Any]] = {}
            self.video_bytes: dict[str, bytes] = {}
            self.drop_offsets: list[int] = []
            self.bytes_received_total = 0

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def issue_tokens(self, scopes: tuple[str, ...] = (UPLOAD_SCOPE, READONLY_SCOPE)) -> tuple[str, str]:
        """An (access token, refresh token) pair as if the owner had connected already."""
        with self._lock:
            access = self._new_access_token(scopes)
            refresh = "1//0g" + _random_id(60)
            self.refresh_tokens[refresh] = scopes
            self.consented = True
            return access, refresh

    def revoke(self, refresh_token: str) -> None:
        """The owner removed Zavod in their Google account: the refresh token is dead."""
        with self._lock:
            self.revoked.add(refresh_token)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired (Google answers 401 authError)."""
        with self._lock:
            self.expired_access_tokens.update(self.access_tokens)
            self.access_tokens.clear()

    def expire_session(self, session_url: str | None = None) -> None:
        """Expire one session (by URL) or every open one: they answer 404 from now on."""
        with self._lock:
            for session in self.sessions.values():
                if session_url is None or session.upload_id in session_url:
                    session.expired = True

    def drop_connection_at(self, offset: int) -> None:
        """The chunk carrying byte `offset` of the upload is cut there: bytes before it are kept."""
        with self._lock:
            self.drop_offsets.append(offset)

    def fail(
        self,
        target: str,
        status: int,
        body: dict[str, Any] | bytes | str,
        *,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        content_type: str | None = None,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; one of {sorted(TARGETS)}")
        if isinstance(body, dict):
            raw, kind = json.dumps(body, indent=2).encode(), "application/json; charset=UTF-8"
        else:
            raw = body.encode() if isinstance(body, str) else body
            kind = "text/html; charset=UTF-8"
        with self._lock:
            self.faults.append(Fault(target, status, raw, content_type or kind, dict(headers or {}), times))

    def quota_exceeded(self, target: str = "upload_start", *, times: int | None = 1) -> None:
        self.fail(target, 403, api_error(403, "quotaExceeded", QUOTA_MESSAGE, "youtube.quota"), times=times)

    def upload_limit_exceeded(self, *, times: int | None = 1) -> None:
        self.fail(
            "upload_start",
            400,
            api_error(
                400,
                "uploadLimitExceeded",
                "The user has exceeded the number of videos they may upload.",
                "youtube.video",
            ),
            times=times,
        )

    def rate_limited(self, target: str = "upload_start", *, times: int | None = 1) -> None:
        self.fail(
            target,
            403,
            api_error(403, "rateLimitExceeded", "The request cannot be completed due to rate limiting.", "usageLimits"),
            times=times,
        )

    def server_error(self, target: str, status: int = 503, *, times: int | None = 1, html: bool = False) -> None:
        if target == "token" or html:
            # Google's front ends answer outages with an HTML page, the token endpoint included.
            body: dict[str, Any] | str = (
                f"<!DOCTYPE html><html><title>Error {status}</title><p>Backend Error</p></html>"
            )
        else:
            body = api_error(status, "backendError", "Backend Error")
        self.fail(target, status, body, times=times)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.target != target:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.pop(index)
                return fault
            return None

    def _new_access_token(self, scopes: tuple[str, ...]) -> str:
        token = "ya29.a0" + _random_id(100)
        self.access_tokens[token] = scopes
        return token

    # -- serving --

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = RecordedRequest(handler.command, parts.path, params, headers)
        with self._lock:
            self.requests.append(record)
        try:
            route = self._route(handler.command, parts.path, headers)
            fault = self._take_fault(route)
            if fault is not None:
                self._drain(handler, headers)
                self._send(handler, fault.status, fault.body, fault.content_type, fault.headers)
                return
            if route == "authorize":
                self._authorize(params)
            elif route == "token":
                self._token(handler, headers, record)
            elif route == "channels":
                self._channels(headers, params)
            elif route == "videos":
                self._videos(headers, params)
            elif route == "upload_start":
                self._upload_start(handler, headers, params)
            else:
                self._upload_put(handler, headers, params, route)
        except _Drop:
            _abort(handler)
        except _Answer as answer:
            body = answer.body
            if isinstance(body, dict | list):
                raw, kind = json.dumps(body, indent=2).encode(), "application/json; charset=UTF-8"
            elif isinstance(body, str):
                raw, kind = body.encode(), "text/html; charset=UTF-8"
            else:
                raw, kind = b"", "text/plain"
            self._send(handler, answer.status, raw, kind, answer.headers, answer.reason)

    @staticmethod
    def _route(method: str, path: str, headers: dict[str, str]) -> str:
        if method == "GET" and path == "/o/oauth2/v2/auth":
            return "authorize"
        if method == "POST" and path == "/token":
            return "token"
        if method == "GET" and path == "/youtube/v3/channels":
            return "channels"
        if method == "GET" and path == "/youtube/v3/videos":
            return "videos"
        if method == "POST" and path == "/upload/youtube/v3/videos":
            return "upload_start"
        if method == "PUT" and path == "/upload/youtube/v3/videos":
            # `Content-Range: bytes */N` with no body asks where the session stands.
            return "upload_status" if "*/" in headers.get("content-range", "") else "upload_chunk"
        raise _Answer(404, api_error(404, "notFound", "Not Found"))

    @staticmethod
    def _drain(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        length = int(headers.get("content-length") or 0)
        if length:
            handler.rfile.read(length)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str],
        reason: str | None = None,
    ) -> None:
        try:
            handler.send_response(status, reason)
            if body or status not in (308,):
                handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    # -- OAuth --

    def _authorize(self, params: dict[str, str]) -> None:
        if params.get("client_id") != self.client_id:
            raise _Answer(401, "<html><body>Error 401: invalid_client. The OAuth client was not found.</body></html>")
        redirect_uri = params.get("redirect_uri", "")
        with self._lock:
            allowed = self.allowed_redirect_uris
        if not redirect_uri or (allowed is not None and redirect_uri not in allowed):
            raise _Answer(400, "<html><body>Error 400: redirect_uri_mismatch</body></html>")
        if params.get("response_type") != "code" or not params.get("scope"):
            raise _Answer(400, "<html><body>Error 400: invalid_request</body></html>")
        answer: dict[str, str] = {}
        with self._lock:
            if self.user_denies:
                answer["error"] = "access_denied"
            else:
                asked = tuple(params["scope"].split())
                granted = self.grant_scopes if self.grant_scopes is not None else asked
                offline = params.get("access_type") == "offline" and not self.omit_refresh_token
                # Google issues a refresh token at the first consent, or again only with prompt=consent.
                offline = offline and (not self.consented or "consent" in params.get("prompt", "").split())
                code = "4/0A" + _random_id(70)
                self.codes[code] = CodeGrant(redirect_uri, granted, offline)
                self.consented = True
                answer["code"] = code
                answer["scope"] = " ".join(granted)
        if "state" in params:
            answer["state"] = params["state"]
        target = urlsplit(redirect_uri)
        query = "&".join(filter(None, [target.query, urlencode(answer)]))
        raise _Answer(302, b"", {"Location": urlunsplit(target._replace(query=query))})

    def _token(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], record: RecordedRequest) -> None:
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        record.form = form
        record.body_size = len(raw)
        with self._lock:
            delay = self.token_delay
        if delay:
            time.sleep(delay)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            raise _Answer(401, oauth_error("invalid_client", "Unauthorized"))
        grant_type = form.get("grant_type", "")
        with self._lock:
            if grant_type == "authorization_code":
                code = form.get("code")
                if not code:
                    raise _Answer(400, oauth_error("invalid_request", "Missing required parameter: code"))
                grant = self.codes.get(code)
                if grant is None or grant.used:
                    raise _Answer(400, oauth_error("invalid_grant", "Bad Request"))
                if form.get("redirect_uri") != grant.redirect_uri:
                    raise _Answer(400, oauth_error("redirect_uri_mismatch", "Bad Request"))
                grant.used = True
                body: dict[str, Any] = {
                    "access_token": self._new_access_token(grant.scopes),
                    "expires_in": 3599,
                    "scope": " ".join(grant.scopes),
                    "token_type": "Bearer",
                }
                if grant.offline:
                    refresh = "1//0g" + _random_id(60)
                    self.refresh_tokens[refresh] = grant.scopes
                    body["refresh_token"] = refresh
                raise _Answer(200, body)
            if grant_type == "refresh_token":
                refresh = form.get("refresh_token", "")
                if not refresh:
                    raise _Answer(400, oauth_error("invalid_request", "Missing required parameter: refresh_token"))
                scopes = self.refresh_tokens.get(refresh)
                if scopes is None or refresh in self.revoked:
                    raise _Answer(400, oauth_error("invalid_grant", "Token has been expired or revoked."))
                raise _Answer(
                    200,
                    {
                        "access_token": self._new_access_token(scopes),
                        "expires_in": 3599,
                        "scope": " ".join(scopes),
                        "token_type": "Bearer",
                    },
                )
        raise _Answer(400, oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}"))

    # -- the Data API --

    def _authorized(self, headers: dict[str, str], *needs_any: str) -> None:
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            raise _Answer(
                401,
                api_error(401, "required", "Login Required.", location="Authorization", locationType="header"),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        token = value[7:].strip()
        with self._lock:
            scopes = self.access_tokens.get(token)
        if scopes is None:
            raise _Answer(
                401,
                api_error(
                    401,
                    "authError",
                    "Invalid Credentials",
                    location="Authorization",
                    locationType="header",
                ),
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        if needs_any and not (set(needs_any) & set(scopes)):
            raise _Answer(403, api_error(403, "insufficientPermissions", "Insufficient Permission"))

    def _channels(self, headers: dict[str, str], params: dict[str, str]) -> None:
        self._authorized(headers, READONLY_SCOPE, YOUTUBE_SCOPE, UPLOAD_SCOPE)
        if params.get("mine") != "true" or "snippet" not in params.get("part", "").split(","):
            raise _Answer(400, api_error(400, "missingRequiredParameter", "No filter selected."))
        with self._lock:
            items = []
            if self.has_channel:
                items.append(
                    {
                        "kind": "youtube#channel",
                        "etag": _random_id(27),
                        "id": CHANNEL_ID,
                        "snippet": {
                            "title": CHANNEL_TITLE,
                            "description": "Fresh bread, every morning.",
                            "customUrl": CHANNEL_HANDLE,
                            "publishedAt": "2019-04-01T08:00:00Z",
                            "thumbnails": {
                                "default": {"url": "https://yt3.ggpht.test/c.jpg", "width": 88, "height": 88}
                            },
                            "localized": {"title": CHANNEL_TITLE, "description": "Fresh bread, every morning."},
                        },
                    }
                )
        raise _Answer(
            200,
            {
                "kind": "youtube#channelListResponse",
                "etag": _random_id(27),
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
                "items": items,
            },
        )

    def _videos(self, headers: dict[str, str], params: dict[str, str]) -> None:
        self._authorized(headers, READONLY_SCOPE, YOUTUBE_SCOPE, UPLOAD_SCOPE)
        with self._lock:
            ids = [i for i in params.get("id", "").split(",") if i]
            items = [
                {"kind": "youtube#video", "etag": _random_id(27), "id": i, "status": dict(self.videos[i]["status"])}
                for i in ids
                if i in self.videos
            ]
        raise _Answer(
            200,
            {
                "kind": "youtube#videoListResponse",
                "etag": _random_id(27),
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
                "items": items,
            },
        )

    def lock_private(self, video_id: str) -> None:
        """What Google does later to uploads of unaudited projects."""
        with self._lock:
            self.videos[video_id]["status"]["privacyStatus"] = "private"

    def _upload_start(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], params: dict[str, str]) -> None:
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self._authorized(headers, UPLOAD_SCOPE, YOUTUBE_SCOPE)
        if params.get("uploadType") != "resumable":
            raise _Answer(400, api_error(400, "invalidParameter", "Invalid value for uploadType"))
        parts = set(params.get("part", "").split(","))
        if not {"snippet", "status"} <= parts:
            raise _Answer(400, api_error(400, "missingRequiredParameter", "Required parameter: part"))
        try:
            total = int(headers.get("x-upload-content-length", ""))
        except ValueError:
            raise _Answer(400, api_error(400, "badContent", "X-Upload-Content-Length is required.")) from None
        content_type = headers.get("x-upload-content-type", "")
        if total <= 0 or not (content_type.startswith("video/") or content_type == "application/octet-stream"):
            raise _Answer(400, api_error(400, "badContent", "Unsupported content with type: " + content_type))
        try:
            resource = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Answer(400, api_error(400, "parseError", "Parse Error")) from None
        self._check_metadata(resource)
        upload_id = "ADPycd" + _random_id(80)
        with self._lock:
            self.sessions[upload_id] = UploadSession(upload_id, resource, total, content_type)
        location = f"{self.base_url}/upload/youtube/v3/videos?" + urlencode(
            {"uploadType": "resumable", "part": params["part"], "upload_id": upload_id}
        )
        raise _Answer(200, b"", {"Location": location, "X-GUploader-UploadID": upload_id})

    @staticmethod
    def _check_metadata(resource: Any) -> None:
        def refuse(reason: str, message: str) -> _Answer:
            return _Answer(400, api_error(400, reason, message, "youtube.video", location="body", locationType="other"))

        if not isinstance(resource, dict) or not isinstance(resource.get("snippet"), dict):
            raise refuse("invalidVideoMetadata", "The request metadata is invalid.")
        snippet, status = resource["snippet"], resource.get("status") or {}
        title = snippet.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > 100 or "<" in title or ">" in title:
            raise refuse("invalidTitle", "The request metadata specifies an invalid video title.")
        description = snippet.get("description", "")
        if (
            not isinstance(description, str)
            or len(description.encode("utf-8")) > 5000
            or "<" in description
            or ">" in description
        ):
            raise refuse("invalidDescription", "The request metadata specifies an invalid video description.")
        tags = snippet.get("tags", [])
        counted = sum(len(t) + (2 if " " in t else 0) for t in tags) + max(len(tags) - 1, 0) if tags else 0
        if not isinstance(tags, list) or counted > 500 or any("<" in t or ">" in t for t in tags):
            raise refuse("invalidTags", "The request metadata specifies invalid video keywords.")
        if snippet.get("categoryId", "22") not in VIDEO_CATEGORIES:
            raise refuse("invalidCategoryId", "The snippet.categoryId property specifies an invalid category ID.")
        if status.get("privacyStatus", "public") not in ("public", "unlisted", "private"):
            raise refuse("invalidVideoMetadata", "The request metadata is invalid.")

    def _upload_put(
        self, handler: BaseHTTPRequestHandler, headers: dict[str, str], params: dict[str, str], route: str
    ) -> None:
        length = int(headers.get("content-length") or 0)
        content_range = headers.get("content-range", "").strip()
        with self._lock:
            session = self.sessions.get(params.get("upload_id", ""))
        if session is None or session.expired:
            self._drain(handler, headers)
            raise _Answer(404, "Not Found")
        try:
            self._authorized(headers, UPLOAD_SCOPE, YOUTUBE_SCOPE)
        except _Answer:
            self._drain(handler, headers)
            raise
        unit, _, spec = content_range.partition(" ")
        span, _, total_text = spec.partition("/")
        if unit != "bytes" or total_text != str(session.total):
            self._drain(handler, headers)
            raise _Answer(400, "Failed to parse Content-Range header.")
        if span == "*":
            self._drain(handler, headers)
            self._session_answer(session)
        first_text, _, last_text = span.partition("-")
        try:
            first, last = int(first_text), int(last_text)
        except ValueError:
            self._drain(handler, headers)
            raise _Answer(400, "Failed to parse Content-Range header.") from None
        with self._lock:
            held = len(session.received)
        if last < first or last >= session.total or length != last - first + 1 or first > held:
            self._drain(handler, headers)
            raise _Answer(400, "Invalid request. The Content-Range header does not match the data sent.")
        if last != session.total - 1 and length % CHUNK_GRANULARITY:
            self._drain(handler, headers)
            raise _Answer(400, "Invalid request. The chunk size must be a multiple of 262144 bytes.")
        with self._lock:
            drop_at = next((o for o in self.drop_offsets if first <= o <= last), None)
            if drop_at is not None:
                self.drop_offsets.remove(drop_at)
        if drop_at is not None:
            data = handler.rfile.read(drop_at - first)
            with self._lock:
                self.bytes_received_total += len(data)
                keep = first + len(data)
                keep -= keep % self.persist_granularity
                self._append(session, first, data[: max(keep - first, 0)])
            raise _Drop
        data = handler.rfile.read(length)
        with self._lock:
            self.bytes_received_total += len(data)
        if len(data) != length:
            raise _Drop
        with self._lock:
            self._append(session, first, data)
        self._session_answer(session)

    @staticmethod
    def _append(session: UploadSession, first: int, data: bytes) -> None:
        held = len(session.received)
        if first + len(data) > held:
            session.received.extend(data[held - first :])

    def _session_answer(self, session: UploadSession) -> None:
        with self._lock:
            held = len(session.received)
            if held == session.total and session.video_id is None:
                session.video_id = self._publish(session)
            if session.video_id is not None:
                raise _Answer(201, self.videos[session.video_id])
        headers = {"Range": f"bytes=0-{held - 1}"} if held else {}
        raise _Answer(308, b"", {**headers, "X-GUploader-UploadID": session.upload_id}, "Resume Incomplete")

    def _publish(self, session: UploadSession) -> str:
        video_id = _random_id(11)
        snippet = session.metadata["snippet"]
        status = session.metadata.get("status") or {}
        privacy = "private" if self.force_private else status.get("privacyStatus", "public")
        resource: dict[str, Any] = {
            "kind": "youtube#video",
            "etag": _random_id(27),
            "id": video_id,
            "snippet": {
                "publishedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "channelId": CHANNEL_ID,
                "title": snippet["title"],
                "description": snippet.get("description", ""),
                "thumbnails": {
                    "default": {"url": f"https://i.ytimg.test/vi/{video_id}/default.jpg", "width": 120, "height": 90}
                },
                "channelTitle": CHANNEL_TITLE,
                "categoryId": snippet.get("categoryId", "22"),
                "liveBroadcastContent": "none",
                "localized": {"title": snippet["title"], "description": snippet.get("description", "")},
            },
            "status": {
                "uploadStatus": "uploaded",
                "privacyStatus": privacy,
                "license": "youtube",
                "embeddable": True,
                "publicStatsViewable": True,
                "selfDeclaredMadeForKids": bool(status.get("selfDeclaredMadeForKids", False)),
            },
        }
        if snippet.get("tags"):
            resource["snippet"]["tags"] = list(snippet["tags"])
        self.videos[video_id] = resource
        self.video_bytes[video_id] = bytes(session.received)
        return video_id


def _abort(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection mid-request, like a network cut: no answer, a reset instead of a close."""
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@contextmanager
def serve_google() -> Iterator[FakeGoogle]:
    """Run a fake Google on a free 127.0.0.1 port for the duration of the block."""
    fake = FakeGoogle().start()
    try:
        yield fake
    finally:
        fake.stop()
