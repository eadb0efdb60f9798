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

Later publishing tests can extend `FakeInstagramGraph.handle_get` / add POST handlers here.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
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
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = is_transient
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
        if len(segments) != 2 or segments[0] != self.api_version:
            raise _GraphError(400, graph_error("Unknown path components: " + path, 2500))
        node_id = segments[1]
        token = params.get("access_token")
        if not token:
            raise _GraphError(400, graph_error("An access token is required to request this resource.", 104))
        if token == self.expired_token:
            raise _GraphError(
                400,
                graph_error(
                    "Error validating access token: Session has expired on Friday, 14-Mar-25 10:00:00 PDT. "
                    "The current time is Saturday, 15-Mar-25 09:00:00 PDT.",
                    190,
                    463,
                ),
            )
        if token != self.valid_token:
            raise _GraphError(400, graph_error("Invalid OAuth access token - Cannot parse access token", 190))
        if node_id != self.owner_ig_user_id:
            raise _GraphError(
                400,
                graph_error(
                    f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be loaded due to "
                    "missing permissions, or does not support this operation.",
                    100,
                    33,
                    type_="GraphMethodException",
                ),
            )
        try:
            specs = parse_fields(params.get("fields") or "id")
        except FieldSyntaxError as exc:
            raise _GraphError(400, graph_error(f'Syntax error "{exc}"', 2500)) from None

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
