"""A local fake of the Instagram Graph API (Instagram API with Facebook Login), for tests.

It follows Meta's public contract as far as the documentation shows it:

* `GET /{version}/{ig-user-id}?fields=...&access_token=...` on the connected account, with field
  expansion: `business_discovery.username(<name>){followers_count,media_count,media.limit(N){...}}`.
  The `fields` parameter is parsed (names, `.modifier(arg)` chains, nested `{...}`), so `limit`,
  `after` and the requested subfields are honoured; unknown fields are refused like Graph does.
* Ids are always returned, absent values are left out (a VIDEO with licensed audio has no
  `media_url`), the `/media` edge pages with `paging.cursors.before/after` and no `next`/`previous`.
* Errors have the Graph shape `{"error": {"message", "type", "code", "error_subcode",
  "is_transient", "fbtrace_id"}}`: an unknown or personal account → code 110 / subcode 2207013,
  an expired token → code 190 / subcode 463, an unknown token → code 190, no token → code 104, an
  id the token cannot read → code 100 / subcode 33.
* Successful answers carry `X-App-Usage` and `X-Business-Use-Case-Usage` (type "instagram") the
  way Meta describes them; the rate-limit switch answers codes 4/17/32/613/80002 with those
  headers at or over 100 and `estimated_time_to_regain_access` in minutes.

Message texts are modelled on Meta's; where the docs show none (e.g. for code 110) they are ours.
Switches: `rate_limit(...)`, `server_error(...)`, `delay`, `max_page_size`; every request is
recorded in `requests` (the access token included, so tests can check what was sent).

Content publishing (the connected account publishing to itself), as Meta documents it:

* `POST /{ig-user-id}/media` makes a container: `image_url` (+ `caption`), `is_carousel_item=true`
  for a carousel child, `media_type=CAROUSEL` with `children` (2–10 child container ids), or
  `media_type=REELS` with `video_url` (+ `cover_url`, `share_to_feed`). Parameters may come in the
  query or in a form/JSON body. A missing caption is fine; a missing `image_url` / `video_url` is
  error 100, a carousel of 1 or 11 children is error 100, a URL that is not http(s) is 9004 /
  2207052 ("Media download has failed"). Media URLs are recorded, never downloaded.
* `GET /{container-id}?fields=status_code,status`: each read moves the container one step along
  its status sequence (IN_PROGRESS → FINISHED by default; `program_container(...)` sets ERROR or
  EXPIRED for the next container); a published one says PUBLISHED.
* `POST /{ig-user-id}/media_publish?creation_id=...` → `{"id": media id}`; refused while the
  container is not FINISHED (9007 / 2207027), when it has expired (-2 / 2207020), and when the
  rolling 24 h quota is used up (9 / 2207042). The new post joins the account's own media.
* `GET /{media-id}?fields=permalink,...`, `GET /{ig-user-id}/media?fields=...` (the account's own
  posts, newest first, cursor-paged), `GET /{ig-user-id}/content_publishing_limit?fields=config,
  quota_usage` (`{"data": [{"quota_usage": n, "config": {"quota_total", "quota_duration"}}]}`).
* `GET /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`
  (Facebook Login's long-lived token exchange) → `{"access_token", "token_type", "expires_in"}`;
  the new token works from then on (the old one too, until it runs out).

Ours, where the docs show no wording: the messages for a carousel of the wrong size, a container
published twice, a child published alone, and an over-long caption. Publishing switches:
`program_container(*statuses)`, `refuse_media()`, `hang_publish(seconds, publish_first=...)`,
`quota_usage`; `containers` and `own_media` hold what was made, `published` what media_publish did.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.server import ThreadedFakeServer

API_VERSION = "v21.0"
OWNER_IG_USER_ID = "17841400000000001"  # the client's connected professional account
OWNER_USERNAME = "zavod.agency"
OWNER_BUSINESS_ID = "900000000000001"
VALID_TOKEN = "EAAGfakeValidToken0123456789abcdefSECRET"
EXPIRED_TOKEN = "EAAGfakeExpiredToken0123456789abcdefSECRET"
# The agency's Meta app, for the long-lived token exchange.
APP_ID = "1234567890123456"
APP_SECRET = "fakeAppSecret0123456789abcdef"
REFRESHED_TOKEN_TTL = 5183944  # seconds; the figure in Meta's sample answer (about 60 days)
QUOTA_TOTAL = 50  # posts per rolling window through the API (the docs' current figure)
QUOTA_DURATION = 86400
DEFAULT_CONTAINER_STATUSES = ("IN_PROGRESS", "FINISHED")
CONTAINER_STATUS_FIELDS = frozenset({"id", "status_code", "status"})
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
CAPTION_MAX, HASHTAGS_MAX = 2200, 30

IG_USER_PUBLIC_FIELDS = frozenset(
    {
        "id",
        "username",
        "name",
        "biography",
        "website",
        "followers_count",
        "follows_count",
        "media_count",
        "profile_picture_url",
        "media",
    }
)
IG_MEDIA_PUBLIC_FIELDS = frozenset(
    {
        "id",
        "caption",
        "media_type",
        "media_product_type",
        "media_url",
        "thumbnail_url",
        "permalink",
        "timestamp",
        "shortcode",
        "username",
        "comments_count",
        "like_count",
        "children",
    }
)
CHILD_FIELDS = frozenset({"id", "media_type", "media_url", "thumbnail_url", "permalink", "timestamp", "shortcode"})
DEFAULT_PAGE_SIZE = 25  # Graph's usual default page size when no limit is asked for


# --- field expansion ------------------------------------------------------------------------------


class FieldSyntaxError(ValueError):
    pass


@dataclass
class FieldSpec:
    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    children: list[FieldSpec] | None = None

    def child(self, name: str) -> FieldSpec | None:
        for spec in self.children or []:
            if spec.name == name:
                return spec
        return None


def parse_fields(text: str) -> list[FieldSpec]:
    """`a,b.limit(3){c,d{e}}` → FieldSpec tree. Raises FieldSyntaxError with the position."""
    specs, pos = _parse_list(text, 0)
    if pos != len(text):
        raise FieldSyntaxError(f'Expected end of string instead of "{text[pos]}" at character {pos}')
    return specs


def _parse_list(text: str, pos: int) -> tuple[list[FieldSpec], int]:
    specs: list[FieldSpec] = []
    while True:
        spec, pos = _parse_field(text, pos)
        specs.append(spec)
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return specs, pos


def _parse_field(text: str, pos: int) -> tuple[FieldSpec, int]:
    pos = _skip_space(text, pos)
    name, pos = _parse_name(text, pos)
    spec = FieldSpec(name=name)
    while pos < len(text) and text[pos] == ".":
        modifier, pos = _parse_name(text, pos + 1)
        if pos >= len(text) or text[pos] != "(":
            raise FieldSyntaxError(f'Expected "(" at character {pos}')
        end = text.find(")", pos)
        if end < 0:
            raise FieldSyntaxError(f'Expected ")" after character {pos}')
        spec.modifiers[modifier] = text[pos + 1 : end]
        pos = end + 1
    pos = _skip_space(text, pos)
    if pos < len(text) and text[pos] == "{":
        spec.children, pos = _parse_list(text, pos + 1)
        pos = _skip_space(text, pos)
        if pos >= len(text) or text[pos] != "}":
            raise FieldSyntaxError(f'Expected "}}" at character {pos}')
        pos += 1
    return spec, pos


def _parse_name(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
        pos += 1
    if pos == start:
        raise FieldSyntaxError(f"Expected a field name at character {pos}")
    return text[start:pos], pos


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


# --- data -----------------------------------------------------------------------------------------


@dataclass
class FakeAccount:
    username: str
    ig_id: str
    followers_count: int
    media: list[dict[str, Any]]  # IG Media objects, newest first, as Graph would return them
    business: bool = True  # False: a personal account, which business discovery cannot see
    name: str = ""
    biography: str = ""


def _cdn(path: str) -> str:
    return f"https://cdn.fake-instagram.test/{path}"


def _media(
    media_id: str,
    media_type: str,
    timestamp: str,
    caption: str | None = None,
    *,
    media_url: str | None = None,
    thumbnail_url: str | None = None,
    children: list[dict[str, Any]] | None = None,
    shortcode: str | None = None,
) -> dict[str, Any]:
    shortcode = shortcode or f"C{media_id[-8:]}"
    item: dict[str, Any] = {
        "id": media_id,
        "media_type": media_type,
        "media_product_type": "REELS" if media_type == "VIDEO" else "FEED",
        "permalink": f"https://www.instagram.com/{'reel' if media_type == 'VIDEO' else 'p'}/{shortcode}/",
        "shortcode": shortcode,
        "timestamp": timestamp,
        "comments_count": 3,
        "like_count": 42,
    }
    if caption is not None:
        item["caption"] = caption
    if media_url is not None:
        item["media_url"] = media_url
    if thumbnail_url is not None:
        item["thumbnail_url"] = thumbnail_url
    if children is not None:
        item["children"] = children
    return item


def default_accounts() -> dict[str, FakeAccount]:
    bakery = [
        _media(
            "17900000000000006",
            "IMAGE",
            "2025-03-14T09:30:00+0000",
            "Fresh rye loaves are out of the oven!\nCome early: we open at 7.\n#bakery #rye",
            media_url=_cdn("bakery/rye.jpg"),
            shortcode="RyeLoaves1",
        ),
        _media(
            "17900000000000005",
            "VIDEO",
            "2025-03-13T18:05:00+0000",
            "How we shape a croissant, in 30 seconds",
            media_url=_cdn("bakery/croissant.mp4"),
            thumbnail_url=_cdn("bakery/croissant-thumb.jpg"),
            shortcode="Croissant1",
        ),
        _media(
            "17900000000000004",
            "CAROUSEL_ALBUM",
            "2025-03-12T12:00:00+0000",
            "Our new spring menu: three cakes, one tart.",
            media_url=_cdn("bakery/spring-cover.jpg"),
            children=[
                {"id": "17800000000000041", "media_type": "IMAGE", "media_url": _cdn("bakery/spring-1.jpg")},
                {
                    "id": "17800000000000042",
                    "media_type": "VIDEO",
                    "media_url": _cdn("bakery/spring-2.mp4"),
                    "thumbnail_url": _cdn("bakery/spring-2-thumb.jpg"),
                },
                {"id": "17800000000000043", "media_type": "IMAGE", "media_url": _cdn("bakery/spring-3.jpg")},
            ],
            shortcode="SpringMenu",
        ),
        _media(
            "17900000000000003",
            "CAROUSEL_ALBUM",
            "2025-03-10T08:15:00+0000",
            "Behind the scenes at 4 a.m.",
            media_url=_cdn("bakery/night-cover.jpg"),
            children=[
                {
                    "id": "17800000000000031",
                    "media_type": "VIDEO",
                    "media_url": _cdn("bakery/night-1.mp4"),
                    "thumbnail_url": _cdn("bakery/night-1-thumb.jpg"),
                },
                {"id": "17800000000000032", "media_type": "IMAGE", "media_url": _cdn("bakery/night-2.jpg")},
            ],
            shortcode="NightShift",
        ),
        # No caption at all: the item's title falls back to the date.
        _media(
            "17900000000000002",
            "IMAGE",
            "2025-03-08T16:45:00+0000",
            None,
            media_url=_cdn("bakery/bread.jpg"),
            shortcode="BreadOnly1",
        ),
        # A reel with licensed audio: Graph leaves media_url out for other accounts' media.
        _media(
            "17900000000000001",
            "VIDEO",
            "2025-03-05T20:00:00+0000",
            "We are hiring bakers & baristas <apply in store>! "
            "Full-time and part-time shifts are open at both shops, with training for anyone who loves "
            "bread as much as we do.\nDetails in bio.",
            thumbnail_url=_cdn("bakery/hiring-thumb.jpg"),
            shortcode="Hiring2025",
        ),
    ]
    news = [
        _media(
            f"1790000000001{n:04d}",
            "IMAGE",
            f"2025-02-{28 - n // 3:02d}T{23 - (n % 3) * 6:02d}:00:00+0000",
            f"City news #{60 - n}: headline of the day",
            media_url=_cdn(f"news/{60 - n}.jpg"),
            shortcode=f"News{60 - n:04d}",
        )
        for n in range(60)
    ]
    accounts = [
        FakeAccount("northwind.bakery", "17841400000000101", 12840, bakery, name="Northwind Bakery"),
        FakeAccount("city_news.daily", "17841400000000102", 98100, news, name="City News Daily"),
        FakeAccount("private.person", "17841400000000103", 120, [], business=False),
    ]
    return {a.username: a for a in accounts}


# --- requests and faults --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]

    @property
    def fields(self) -> str:
        return self.params.get("fields", "")

    @property
    def access_token(self) -> str | None:
        return self.params.get("access_token")


@dataclass
class Fault:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int | None = None  # None: until cleared


@dataclass
class FakeContainer:
    """An IG Container: what `POST /{ig-user-id}/media` made, and where its processing stands."""

    id: str
    media_type: str  # IMAGE | VIDEO | CAROUSEL | REELS
    is_carousel_item: bool
    caption: str | None
    image_url: str | None = None
    video_url: str | None = None
    cover_url: str | None = None
    children: list[str] = field(default_factory=list)
    statuses: tuple[str, ...] = DEFAULT_CONTAINER_STATUSES
    error_text: str = "Error: Media upload has failed with error code 2207026"
    created_at: float = field(default_factory=time.time)
    reads: int = 0
    media_id: str | None = None  # set once published

    @property
    def status_code(self) -> str:
        if self.media_id is not None:
            return "PUBLISHED"
        return self.statuses[min(self.reads, len(self.statuses) - 1)]

    def read_status(self) -> str:
        status = self.status_code
        self.reads += 1
        return status


@dataclass
class PublishCall:
    creation_id: str
    media_id: str | None  # None: refused


_RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. For more "
    "info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}


def graph_error(
    message: str,
    code: int,
    subcode: int | None = None,
    *,
    type_: str = "OAuthException",
    is_transient: bool = False,
    user_title: str | None = None,
    user_msg: str | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = is_transient
    if user_title is not None:
        error["error_user_title"] = user_title
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return {"error": error}


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        return int(number) if prefix == "cursor" else None
    except (ValueError, UnicodeDecodeError):
        return None


class _GraphError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["error"]["message"])
        self.status = status
        self.body = body


# --- the fake -------------------------------------------------------------------------------------


class FakeInstagramGraph(ThreadedFakeServer):
    """The fake Graph API's state and behaviour; `start()` serves it on 127.0.0.1 in a thread."""

    thread_name = "fake-instagram-graph"
    display_name = "The fake Graph API"

    api_version = API_VERSION
    owner_ig_user_id = OWNER_IG_USER_ID
    valid_token = VALID_TOKEN
    expired_token = EXPIRED_TOKEN

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    # -- state --

    def reset(self) -> None:
        with self._lock:
            self.accounts: dict[str, FakeAccount] = default_accounts()
            self.requests: list[RecordedRequest] = []
            self.faults: list[Fault] = []
            self.delay: float = 0.0
            self.max_page_size: int = 50
            self.call_count_percent: int = 3
            # Content publishing.
            self.containers: dict[str, FakeContainer] = {}
            self.own_media: list[dict[str, Any]] = []  # the connected account's posts, newest first
            self.published: list[PublishCall] = []
            self.quota_usage: int = 0
            self.issued_tokens: dict[str, float] = {}  # token → when it runs out (unix time)
            self._next_statuses: list[tuple[tuple[str, ...], str | None]] = []
            self._refuse_media: int = 0
            self._publish_hang: tuple[float, bool] | None = None
            self._ids = itertools.count(1)

    def add_account(self, account: FakeAccount) -> None:
        with self._lock:
            self.accounts[account.username.lower()] = account

    def rate_limit(
        self,
        code: int = 80002,
        *,
        status: int = 400,
        regain_minutes: float | None = None,
        app_usage_percent: int | None = None,
        times: int | None = None,
    ) -> None:
        """Answer every request (or the next `times`) with a rate-limit error of `code`.

        `regain_minutes` adds `X-Business-Use-Case-Usage` (type instagram, call_count 100, that
        `estimated_time_to_regain_access`); `app_usage_percent` adds `X-App-Usage` at that level.
        """
        message = _RATE_LIMIT_MESSAGES.get(code, f"(#{code}) Rate limit reached")
        headers: dict[str, str] = {}
        if regain_minutes is not None:
            headers["X-Business-Use-Case-Usage"] = json.dumps(
                {
                    OWNER_BUSINESS_ID: [
                        {
                            "type": "instagram",
                            "call_count": 100,
                            "total_cputime": 12,
                            "total_time": 14,
                            "estimated_time_to_regain_access": regain_minutes,
                        }
                    ]
                }
            )
        if app_usage_percent is not None:
            headers["X-App-Usage"] = json.dumps(
                {"call_count": app_usage_percent, "total_time": 20, "total_cputime": 15}
            )
        body = json.dumps(graph_error(message, code)).encode()
        self._add_fault(Fault(status, body, "application/json; charset=UTF-8", headers, times))

    def server_error(self, status: int = 500, *, graph_body: bool = True, times: int | None = None) -> None:
        """Answer with an outage: Graph's transient error body (code 2), or a proxy's HTML page."""
        if graph_body:
            body = json.dumps(
                graph_error("An unexpected error has occurred. Please retry your request later.", 2, is_transient=True)
            ).encode()
            content_type = "application/json; charset=UTF-8"
        else:
            body = f"<html><body><h1>{status} Bad Gateway</h1></body></html>".encode()
            content_type = "text/html"
        self._add_fault(Fault(status, body, content_type, {}, times))

    def program_container(self, *statuses: str, error_text: str | None = None) -> None:
        """The next container that is not a carousel child goes through `statuses` on successive
        status reads (the last one stays), e.g. `program_container("IN_PROGRESS", "ERROR")`."""
        with self._lock:
            self._next_statuses.append((tuple(statuses), error_text))

    def refuse_media(self, times: int = 1) -> None:
        """The next `times` containers with a media URL fail as when Meta cannot download it."""
        with self._lock:
            self._refuse_media += times

    def hang_publish(self, seconds: float, *, publish_first: bool = False) -> None:
        """The next media_publish answers only after `seconds`: it publishes after the wait (the
        server was slow to act) or, with `publish_first`, before it (it acted, then was slow to say)."""
        with self._lock:
            self._publish_hang = (seconds, publish_first)

    def add_own_media(self, caption: str | None, timestamp: datetime, media_type: str = "IMAGE") -> dict[str, Any]:
        """A post of the connected account made some other way (or earlier), kept newest first."""
        with self._lock:
            item = self._own_media_item(caption, timestamp, media_type)
            self.own_media.append(item)
            self.own_media.sort(key=lambda m: m["timestamp"], reverse=True)
            return item

    def token_is_valid(self, token: str) -> bool:
        if token == self.valid_token:
            return True
        expires = self.issued_tokens.get(token)
        return expires is not None and expires > time.time()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take_fault(self) -> Fault | None:
        with self._lock:
            while self.faults:
                fault = self.faults[0]
                if fault.remaining is None:
                    return fault
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.pop(0)
                    return fault
                self.faults.pop(0)
            return None

    # -- serving --

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if handler.command in ("POST", "PUT"):
            params.update(_body_params(handler))
        with self._lock:
            self.requests.append(
                RecordedRequest(handler.command, parts.path, params, {k.lower(): v for k, v in handler.headers.items()})
            )
            delay = self.delay
        if delay:
            time.sleep(delay)
        fault = self._take_fault()
        if fault is not None:
            self._send(handler, fault.status, fault.body, fault.content_type, fault.headers)
            return
        try:
            if handler.command == "POST":
                status, body = 200, self.handle_post(parts.path, params)
            else:
                status, body = 200, self.handle_get(parts.path, params)
        except _GraphError as exc:
            status, body = exc.status, exc.body
        self._send(handler, status, json.dumps(body).encode(), "application/json; charset=UTF-8", self._usage_headers())

    def _usage_headers(self) -> dict[str, str]:
        percent = self.call_count_percent
        return {
            "X-App-Usage": json.dumps({"call_count": percent, "total_time": 1, "total_cputime": 1}),
            "X-Business-Use-Case-Usage": json.dumps(
                {
                    OWNER_BUSINESS_ID: [
                        {
                            "type": "instagram",
                            "call_count": percent,
                            "total_cputime": 1,
                            "total_time": 1,
                            "estimated_time_to_regain_access": 0,
                        }
                    ]
                }
            ),
        }

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    # -- the Graph API --

    def handle_get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        segments = [s for s in path.split("/") if s]
        if len(segments) not in (2, 3) or segments[0] != self.api_version:
            raise _GraphError(400, graph_error("Unknown path components: " + path, 2500))
        if segments[1:] == ["oauth", "access_token"]:
            return self._exchange_token(params)
        self._check_token(params)
        node_id = segments[1]
        specs = _fields(params.get("fields") or "id")
        if len(segments) == 3:
            if node_id != self.owner_ig_user_id:
                raise _no_object(node_id, "get")
            if segments[2] == "media":
                return self._own_media_edge(params, specs)
            if segments[2] == "content_publishing_limit":
                return self._publishing_limit(specs)
            raise _GraphError(400, graph_error("Unknown path components: /" + segments[2], 2500))
        with self._lock:
            container = self.containers.get(node_id)
            media = next((m for m in self.own_media if m["id"] == node_id), None)
            if container is not None:
                return self._container_fields(container, specs)
        if media is not None:
            for spec in specs:
                if spec.name not in IG_MEDIA_PUBLIC_FIELDS:
                    raise _nonexisting(spec.name, "IGMedia")
            return self._media_object(media, specs)
        if node_id != self.owner_ig_user_id:
            raise _no_object(node_id, "get")

        result: dict[str, Any] = {}
        for spec in specs:
            if spec.name == "business_discovery":
                result["business_discovery"] = self._business_discovery(spec)
            elif spec.name == "username":
                result["username"] = OWNER_USERNAME
            elif spec.name != "id":
                raise _nonexisting(spec.name, "IGUser")
        result["id"] = self.owner_ig_user_id
        return result

    def handle_post(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        segments = [s for s in path.split("/") if s]
        if len(segments) != 3 or segments[0] != self.api_version:
            raise _GraphError(400, graph_error("Unknown path components: " + path, 2500))
        self._check_token(params)
        if segments[1] != self.owner_ig_user_id:
            raise _no_object(segments[1], "post")
        if segments[2] == "media":
            return self._create_container(params)
        if segments[2] == "media_publish":
            return self._media_publish(params)
        raise _GraphError(400, graph_error("Unknown path components: /" + segments[2], 2500))

    def _check_token(self, params: dict[str, str]) -> None:
        token = params.get("access_token")
        if not token:
            raise _GraphError(400, graph_error("An access token is required to request this resource.", 104))
        if token == self.expired_token or (token in self.issued_tokens and not self.token_is_valid(token)):
            raise _GraphError(
                400,
                graph_error(
                    "Error validating access token: Session has expired on Friday, 14-Mar-25 10:00:00 PDT. "
                    "The current time is Saturday, 15-Mar-25 09:00:00 PDT.",
                    190,
                    463,
                ),
            )
        if not self.token_is_valid(token):
            raise _GraphError(400, graph_error("Invalid OAuth access token - Cannot parse access token", 190))

    # -- content publishing --

    def _create_container(self, params: dict[str, str]) -> dict[str, Any]:
        media_type = (params.get("media_type") or "").upper()
        carousel_item = params.get("is_carousel_item", "").lower() == "true"
        caption = params.get("caption")
        if caption is not None and (len(caption) > CAPTION_MAX or len(_HASHTAG_RE.findall(caption)) > HASHTAGS_MAX):
            raise _GraphError(
                400, graph_error(f"(#100) The caption may have at most {CAPTION_MAX} characters and 30 hashtags", 100)
            )
        with self._lock:
            container_id = f"1789{next(self._ids):013d}"
            if media_type == "CAROUSEL":
                if carousel_item:
                    raise _GraphError(400, graph_error("(#100) A carousel cannot be a carousel item", 100))
                children = [c.strip() for c in params.get("children", "").split(",") if c.strip()]
                if not CAROUSEL_MIN <= len(children) <= CAROUSEL_MAX:
                    raise _GraphError(
                        400,
                        graph_error(
                            f"(#100) The parameter children must list between {CAROUSEL_MIN} and {CAROUSEL_MAX} "
                            f"carousel item containers (got {len(children)})",
                            100,
                        ),
                    )
                for child in children:
                    found = self.containers.get(child)
                    if found is None or not found.is_carousel_item:
                        raise _GraphError(
                            400, graph_error(f"(#100) {child} is not a carousel item container of this user", 100)
                        )
                container = FakeContainer(container_id, "CAROUSEL", False, caption, children=children)
            elif media_type == "REELS" or (media_type == "VIDEO" and carousel_item):
                video_url = params.get("video_url")
                if not video_url:
                    raise _GraphError(400, graph_error("(#100) The parameter video_url is required", 100))
                self._check_media_url(video_url)
                container = FakeContainer(
                    container_id,
                    media_type,
                    carousel_item,
                    caption,
                    video_url=video_url,
                    cover_url=params.get("cover_url"),
                )
            elif media_type in ("", "IMAGE"):
                image_url = params.get("image_url")
                if not image_url:
                    raise _GraphError(400, graph_error("(#100) The parameter image_url is required", 100))
                self._check_media_url(image_url)
                container = FakeContainer(container_id, "IMAGE", carousel_item, caption, image_url=image_url)
            else:
                raise _GraphError(
                    400, graph_error("(#100) Param media_type must be one of {CAROUSEL, REELS, STORIES, VIDEO}", 100)
                )
            if carousel_item:
                container.statuses = ("FINISHED",)
            elif self._next_statuses:
                statuses, error_text = self._next_statuses.pop(0)
                container.statuses = statuses
                if error_text is not None:
                    container.error_text = error_text
            self.containers[container_id] = container
        return {"id": container_id}

    def _check_media_url(self, url: str) -> None:
        """Meta downloads the media; this fake only looks at the URL (and obeys `refuse_media`)."""
        parts = urlsplit(url)
        refused = self._refuse_media > 0
        if refused:
            self._refuse_media -= 1
        if refused or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _GraphError(
                400,
                graph_error(
                    "Only photo or video can be accepted as media type.",
                    9004,
                    2207052,
                    user_title="Media download has failed.",
                    user_msg=f"The media could not be fetched from this URI: {url}. Please check the URI and try "
                    "again.",
                ),
            )

    def _container_fields(self, container: FakeContainer, specs: list[FieldSpec]) -> dict[str, Any]:
        for spec in specs:
            if spec.name not in CONTAINER_STATUS_FIELDS:
                raise _nonexisting(spec.name, "ShadowIGMediaBuilder")
        status = container.read_status() if any(s.name != "id" for s in specs) else container.status_code
        texts = {
            "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
            "IN_PROGRESS": "In Progress: Media is still being processed.",
            "PUBLISHED": "Published: Media has been published.",
            "EXPIRED": "Expired: The container was not published within 24 hours and has expired.",
            "ERROR": container.error_text,
        }
        out: dict[str, Any] = {}
        for spec in specs:
            if spec.name == "status_code":
                out["status_code"] = status
            elif spec.name == "status":
                out["status"] = texts.get(status, status)
        out["id"] = container.id
        return out

    def _media_publish(self, params: dict[str, str]) -> dict[str, Any]:
        creation_id = params.get("creation_id")
        if not creation_id:
            raise _GraphError(400, graph_error("(#100) The parameter creation_id is required", 100))
        with self._lock:
            hang, self._publish_hang = self._publish_hang, None
        if hang is not None and not hang[1]:
            time.sleep(hang[0])
        answer = self._publish(creation_id)
        if hang is not None and hang[1]:
            time.sleep(hang[0])
        return answer

    def _publish(self, creation_id: str) -> dict[str, Any]:
        with self._lock:
            container = self.containers.get(creation_id)
            if container is None:
                raise _GraphError(400, graph_error(f"The media with id {creation_id} cannot be found", 24, 2207006))
            if container.is_carousel_item:
                raise _GraphError(400, graph_error("(#100) A carousel item cannot be published on its own", 100))
            status = container.status_code
            if status == "PUBLISHED":
                raise _GraphError(400, graph_error("(#100) This container has already been published", 100))
            if status == "EXPIRED":
                raise _GraphError(
                    400,
                    graph_error(
                        "The media you are trying to access has expired. Please try to upload again.", -2, 2207020
                    ),
                )
            if status != "FINISHED":
                raise _GraphError(
                    400,
                    graph_error(
                        "Media ID is not available",
                        9007,
                        2207027,
                        user_title="Media not ready",
                        user_msg="The media is not ready for publishing, please wait for a moment",
                    ),
                )
            if self.quota_usage >= QUOTA_TOTAL:
                raise _GraphError(
                    400,
                    graph_error(
                        "Application request limit reached",
                        9,
                        2207042,
                        user_title="Max posts per day reached",
                        user_msg="You reached maximum number of posts that is allowed to be published by Content "
                        "Publish API.",
                    ),
                )
            kind = {"CAROUSEL": "CAROUSEL_ALBUM", "REELS": "VIDEO"}.get(container.media_type, "IMAGE")
            item = self._own_media_item(container.caption, datetime.now(UTC), kind)
            self.own_media.insert(0, item)
            container.media_id = item["id"]
            self.quota_usage += 1
            self.published.append(PublishCall(creation_id, item["id"]))
            return {"id": item["id"]}

    def _own_media_item(self, caption: str | None, timestamp: datetime, media_type: str) -> dict[str, Any]:
        media_id = f"1791{next(self._ids):013d}"
        item = _media(
            media_id,
            media_type,
            timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            caption,
            shortcode=f"Zv{media_id[-9:]}",
        )
        item["username"] = OWNER_USERNAME
        if media_type == "VIDEO":
            item["media_product_type"] = "REELS"
        return item

    def _own_media_edge(self, params: dict[str, str], specs: list[FieldSpec]) -> dict[str, Any]:
        for spec in specs:
            if spec.name not in IG_MEDIA_PUBLIC_FIELDS:
                raise _nonexisting(spec.name, "IGMedia")
        try:
            limit = max(0, min(int(params.get("limit", DEFAULT_PAGE_SIZE)), self.max_page_size))
        except ValueError:
            raise _GraphError(400, graph_error("(#100) The parameter limit must be a number", 100)) from None
        start = 0
        if params.get("after"):
            decoded = _decode_cursor(params["after"])
            if decoded is None:
                raise _GraphError(400, graph_error("(#100) Invalid after cursor", 100))
            start = decoded
        with self._lock:
            page = self.own_media[start : start + limit]
            total = len(self.own_media)
        edge: dict[str, Any] = {"data": [self._media_object(item, specs) for item in page]}
        if page:
            edge["paging"] = {"cursors": {"before": _encode_cursor(start), "after": _encode_cursor(start + len(page))}}
            if start + len(page) < total:
                edge["paging"]["next"] = f"https://graph.facebook.com/{self.api_version}/{self.owner_ig_user_id}/media"
        return edge

    def _publishing_limit(self, specs: list[FieldSpec]) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        for spec in specs:
            if spec.name == "quota_usage":
                entry["quota_usage"] = self.quota_usage
            elif spec.name == "config":
                entry["config"] = {"quota_total": QUOTA_TOTAL, "quota_duration": QUOTA_DURATION}
            elif spec.name != "id":
                raise _nonexisting(spec.name, "ContentPublishingLimit")
        return {"data": [entry]}

    def _exchange_token(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("grant_type") != "fb_exchange_token":
            raise _GraphError(400, graph_error("(#100) Param grant_type must be fb_exchange_token", 100))
        if params.get("client_id") != APP_ID:
            raise _GraphError(400, graph_error("Error validating application. Invalid application ID.", 101))
        if params.get("client_secret") != APP_SECRET:
            raise _GraphError(400, graph_error("Error validating client secret.", 1))
        token = params.get("fb_exchange_token")
        if not token:
            raise _GraphError(400, graph_error("(#100) The parameter fb_exchange_token is required", 100))
        self._check_token({"access_token": token})
        with self._lock:
            fresh = f"EAAGfakeRefreshed{next(self._ids):06d}{secrets.token_hex(12)}SECRET"
            self.issued_tokens[fresh] = time.time() + REFRESHED_TOKEN_TTL
        return {"access_token": fresh, "token_type": "bearer", "expires_in": REFRESHED_TOKEN_TTL}

    @property
    def media_publish_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/media_publish")]

    def _business_discovery(self, spec: FieldSpec) -> dict[str, Any]:
        username = spec.modifiers.get("username", "")
        if not username:
            raise _GraphError(400, graph_error("(#100) The parameter username is required", 100))
        with self._lock:
            account = self.accounts.get(username.lower())
        if account is None or not account.business:
            # What an unknown username and a personal account both answer (not in Meta's IG error
            # table; as observed by public client code).
            raise _GraphError(400, graph_error("Invalid user id", 110, 2207013))
        values: dict[str, Any] = {
            "username": account.username,
            "name": account.name,
            "biography": account.biography,
            "followers_count": account.followers_count,
            "follows_count": 10,
            "media_count": len(account.media),
        }
        out: dict[str, Any] = {}
        for child in spec.children or [FieldSpec("id")]:
            if child.name not in IG_USER_PUBLIC_FIELDS:
                raise _nonexisting(child.name, "IGUser")
            if child.name == "media":
                out["media"] = self._media_edge(account, child)
            elif child.name != "id":
                out[child.name] = values.get(child.name)
        out["id"] = account.ig_id
        return out

    def _media_edge(self, account: FakeAccount, spec: FieldSpec) -> dict[str, Any]:
        try:
            limit = int(spec.modifiers.get("limit", DEFAULT_PAGE_SIZE))
        except ValueError:
            raise _GraphError(400, graph_error("(#100) The parameter limit must be a number", 100)) from None
        limit = max(0, min(limit, self.max_page_size))
        start = 0
        if "after" in spec.modifiers:
            decoded = _decode_cursor(spec.modifiers["after"])
            if decoded is None:
                raise _GraphError(400, graph_error("(#100) Invalid after cursor", 100))
            start = decoded
        elif "before" in spec.modifiers:
            decoded = _decode_cursor(spec.modifiers["before"])
            if decoded is None:
                raise _GraphError(400, graph_error("(#100) Invalid before cursor", 100))
            start = max(0, decoded - limit)
        wanted = spec.children or [FieldSpec("id")]
        for child in wanted:
            if child.name not in IG_MEDIA_PUBLIC_FIELDS:
                raise _nonexisting(child.name, "IGMedia")
        page = account.media[start : start + limit]
        data = [self._media_object(item, wanted) for item in page]
        edge: dict[str, Any] = {"data": data}
        if data:
            # Like Graph: cursors, but no next/previous links for business discovery's media edge.
            edge["paging"] = {"cursors": {"before": _encode_cursor(start), "after": _encode_cursor(start + len(data))}}
        return edge

    @staticmethod
    def _media_object(item: dict[str, Any], wanted: list[FieldSpec]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in wanted:
            if child.name == "children":
                if item.get("children") is None:
                    continue  # only carousels have children
                sub = child.children or [FieldSpec("id")]
                for grandchild in sub:
                    if grandchild.name not in CHILD_FIELDS:
                        raise _nonexisting(grandchild.name, "IGMedia")
                out["children"] = {
                    "data": [
                        {**{g.name: c[g.name] for g in sub if g.name in c}, "id": c["id"]} for c in item["children"]
                    ]
                }
            elif child.name in item and child.name != "id":
                out[child.name] = deepcopy(item[child.name])
        out["id"] = item["id"]
        return out


def _no_object(node_id: str, method: str) -> _GraphError:
    return _GraphError(
        400,
        graph_error(
            f"Unsupported {method} request. Object with ID '{node_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            100,
            33,
            type_="GraphMethodException",
        ),
    )


def _fields(text: str) -> list[FieldSpec]:
    try:
        return parse_fields(text)
    except FieldSyntaxError as exc:
        raise _GraphError(400, graph_error(f'Syntax error "{exc}"', 2500)) from None


def _body_params(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    """Parameters of a POST body: form-encoded (what Graph clients send) or a JSON object."""
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    if not raw:
        return {}
    if "json" in (handler.headers.get("Content-Type") or ""):
        try:
            document = json.loads(raw)
        except ValueError:
            return {}
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


# The app's hashtag rule (app.stories.previews.HASHTAG_RE), so the fake counts them the same way.
_HASHTAG_RE = re.compile(r"(?<![\w#])#(?=[^\W_])")


def _nonexisting(name: str, node_type: str) -> _GraphError:
    return _GraphError(
        400, graph_error(f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})", 100)
    )


@contextmanager
def serve_instagram_graph() -> Iterator[FakeInstagramGraph]:
    """Run a fake Graph API on a free 127.0.0.1 port for the duration of the block."""
    fake = FakeInstagramGraph().start()
    try:
        yield fake
    finally:
        fake.stop()
