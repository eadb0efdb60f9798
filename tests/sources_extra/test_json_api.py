"""News JSON API sources: mapping, extraction, validation, suggestion, and fetching over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.net.fetcher import FetchError, SafeFetcher
from app.sources.json_api import (
    FieldMapping,
    JsonApiError,
    JsonApiRequest,
    extract_items,
    fetch_json,
    parse_date,
    parse_json,
    resolve_path,
    suggest_mapping,
    validate_mapping,
)

FETCHED_AT = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)

NEWSAPI: dict[str, Any] = {
    "status": "ok",
    "totalResults": 3,
    "articles": [
        {
            "source": {"id": "bbc-news", "name": "BBC News"},
            "author": "BBC News",
            "title": "Harbour in Porto opens &amp; ships arrive",
            "description": "The <b>new harbour</b> can take ships of up to 300 metres.",
            "url": "https://www.bbc.co.uk/news/articles/c0harbour",
            "urlToImage": "https://ichef.bbci.co.uk/news/1024/harbour.jpg",
            "publishedAt": "2025-05-19T08:30:00Z",
            "content": "Northwind Traders opened the harbour on Monday.\r\nThe mayor spoke… [+2345 chars]",
        },
        {
            "source": {"id": None, "name": "Example Daily"},
            "author": None,
            "title": "Rail link to open in spring",
            "description": None,
            "url": "https://daily.example/rail-link",
            "urlToImage": None,
            "publishedAt": "2025-05-18T21:00:00+03:00",
            "content": None,
        },
        {
            "source": {"id": None, "name": "[Removed]"},
            "author": None,
            "title": None,
            "description": None,
            "url": None,
            "urlToImage": None,
            "publishedAt": "1970-01-01T00:00:00Z",
            "content": None,
        },
    ],
}
NEWSAPI_MAPPING = FieldMapping(
    items_path="articles",
    title="title",
    url="url",
    summary="description",
    content="content",
    image="urlToImage",
    date="publishedAt",
)

GUARDIAN: dict[str, Any] = {
    "response": {
        "status": "ok",
        "userTier": "developer",
        "total": 2,
        "startIndex": 1,
        "pageSize": 10,
        "currentPage": 1,
        "pages": 1,
        "orderBy": "newest",
        "results": [
            {
                "id": "world/2025/may/19/porto-harbour-opens",
                "type": "article",
                "sectionId": "world",
                "sectionName": "World news",
                "webPublicationDate": "2025-05-19T10:15:42Z",
                "webTitle": "Porto's new harbour opens to shipping",
                "webUrl": "https://www.theguardian.com/world/2025/may/19/porto-harbour-opens",
                "apiUrl": "https://content.guardianapis.com/world/2025/may/19/porto-harbour-opens",
                "fields": {
                    "trailText": "A decade in the making, the port is the largest in the region",
                    "bodyText": "The harbour opened on Monday. " * 400,
                    "thumbnail": "https://media.guim.co.uk/abc/500.jpg",
                },
                "isHosted": False,
                "pillarId": "pillar/news",
                "pillarName": "News",
            },
            {
                "id": "business/2025/may/18/northwind-profits",
                "type": "article",
                "sectionId": "business",
                "sectionName": "Business",
                "webPublicationDate": "2025-05-18T07:00:00Z",
                "webTitle": "Northwind profits rise",
                "webUrl": "https://www.theguardian.com/business/2025/may/18/northwind-profits",
                "apiUrl": "https://content.guardianapis.com/business/2025/may/18/northwind-profits",
                "fields": {"trailText": "Shares up 4%", "bodyText": "Profits rose.\n\nShares rose too."},
                "isHosted": False,
                "pillarId": "pillar/news",
                "pillarName": "News",
            },
        ],
    }
}
GUARDIAN_MAPPING = FieldMapping(
    items_path="response.results",
    title="webTitle",
    url="webUrl",
    summary="fields.trailText",
    content="fields.bodyText",
    image="fields.thumbnail",
    date="webPublicationDate",
    guid="id",
)

# A plain list at the root, unix timestamps (seconds, milliseconds, numeric text), nested media.
PLAIN_LIST: list[Any] = [
    {
        "id": 101,
        "headline": "Seconds",
        "permalink": "/news/101",
        "time": 1716200000,
        "media": [{"url": "https://cdn.example/101.jpg", "type": "image"}],
        "author": {"name": "Anna"},
    },
    {"id": 102, "headline": "Milliseconds", "permalink": "/news/102", "time": 1716200000123, "media": []},
    {"id": 103, "headline": "Numeric text", "permalink": "/news/103", "time": "1716200000"},
    {
        "id": 104,
        "headline": "RFC 2822",
        "permalink": "https://news.example/104",
        "time": "Mon, 20 May 2024 10:13:20 +0000",
    },
    {"id": 105, "headline": "No date", "permalink": "https://news.example/105"},
    "not an object",
    {"id": 106, "permalink": "javascript:alert(1)"},  # no title and no usable link: skipped
]
PLAIN_MAPPING = FieldMapping(
    items_path="", title="headline", url="permalink", image="media.0.url", date="time", guid="id"
)


# --- paths and dates ------------------------------------------------------------------------------


def test_resolve_path() -> None:
    assert resolve_path(NEWSAPI, "articles.0.source.name") == "BBC News"
    assert resolve_path(NEWSAPI, "articles[1].url") == "https://daily.example/rail-link"
    assert resolve_path(NEWSAPI, "$.status") == "ok"
    assert resolve_path(NEWSAPI, "articles.-1.source.name") == "[Removed]"
    assert resolve_path(NEWSAPI, "") is NEWSAPI
    assert resolve_path(NEWSAPI, "articles.9.url") is None
    assert resolve_path(NEWSAPI, "status.x") is None
    assert resolve_path(NEWSAPI, "articles..url") is None
    assert resolve_path(NEWSAPI, "articles[*].url") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-19T08:30:00Z", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        ("2025-05-19T11:30:00+03:00", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        ("2025-05-19 08:30:00", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        ("2025-05-19T08:30:00.123456Z", datetime(2025, 5, 19, 8, 30, 0, 123456, tzinfo=UTC)),
        ("2025-05-19", datetime(2025, 5, 19, tzinfo=UTC)),
        ("Mon, 19 May 2025 11:30:00 +0300", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        ("Mon, 19 May 2025 08:30:00 GMT", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        (1747643400, datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        (1747643400.5, datetime(2025, 5, 19, 8, 30, 0, 500000, tzinfo=UTC)),
        (1747643400000, datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        ("1747643400000", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        (" 1747643400 ", datetime(2025, 5, 19, 8, 30, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        ({"date": "2025-05-19"}, None),
        (10**30, None),
    ],
)
def test_parse_date(value: Any, expected: datetime | None) -> None:
    assert parse_date(value) == expected


# --- extraction -----------------------------------------------------------------------------------


def test_newsapi_document() -> None:
    items = extract_items(NEWSAPI, NEWSAPI_MAPPING, fetched_at=FETCHED_AT)
    assert len(items) == 2 and items.skipped == 1  # "[Removed]" has neither title nor url
    first, second = items
    assert first.title == "Harbour in Porto opens & ships arrive"
    assert first.url == "https://www.bbc.co.uk/news/articles/c0harbour"
    assert first.summary == "The new harbour can take ships of up to 300 metres."
    assert first.content_text == "Northwind Traders opened the harbour on Monday.\nThe mayor spoke…"
    assert first.content_html == "<p>Northwind Traders opened the harbour on Monday.<br>The mayor spoke…</p>"
    assert first.image_url == "https://ichef.bbci.co.uk/news/1024/harbour.jpg"
    assert first.published_at == datetime(2025, 5, 19, 8, 30, tzinfo=UTC)
    assert first.guid is None
    assert second.published_at == datetime(2025, 5, 18, 18, 0, tzinfo=UTC)
    assert second.summary == "" and second.content_html == "" and second.image_url is None
    assert validate_mapping(NEWSAPI, NEWSAPI_MAPPING) == []


def test_guardian_document() -> None:
    items = extract_items(GUARDIAN, GUARDIAN_MAPPING, fetched_at=FETCHED_AT)
    assert [i.title for i in items] == ["Porto's new harbour opens to shipping", "Northwind profits rise"]
    assert items[0].guid == "world/2025/may/19/porto-harbour-opens"
    assert items[0].image_url == "https://media.guim.co.uk/abc/500.jpg"
    assert len(items[0].content_text) > 11_000  # long bodies stay whole
    assert items[1].content_text == "Profits rose.\n\nShares rose too."
    assert items[1].content_html == "<p>Profits rose.</p><p>Shares rose too.</p>"
    assert items[1].summary == "Shares up 4%"
    assert validate_mapping(GUARDIAN, GUARDIAN_MAPPING) == []


def test_plain_list_unix_times_and_relative_links() -> None:
    items = extract_items(PLAIN_LIST, PLAIN_MAPPING, fetched_at=FETCHED_AT, base_url="https://news.example/api/v1")
    assert items.skipped == 2  # the string and the entry with neither title nor usable link
    by_title = {i.title: i for i in items}
    expected = datetime(2024, 5, 20, 10, 13, 20, tzinfo=UTC)
    assert by_title["Seconds"].published_at == expected
    assert by_title["Milliseconds"].published_at == expected.replace(microsecond=123000)
    assert by_title["Numeric text"].published_at == expected
    assert by_title["RFC 2822"].published_at == expected
    assert by_title["No date"].published_at == FETCHED_AT
    assert by_title["Seconds"].url == "https://news.example/news/101"
    assert by_title["Seconds"].image_url == "https://cdn.example/101.jpg"
    assert by_title["Milliseconds"].image_url is None
    assert by_title["Seconds"].guid == "101"


def test_html_content_is_sanitised_and_kept_as_text() -> None:
    document = {
        "items": [
            {
                "title": "<b>Bold</b> title",
                "link": "https://x.example/1",
                "body": '<p>First <a href="https://x.example" onclick="steal()">link</a>.</p>'
                '<script>alert(1)</script><p>Second&nbsp;para<br>next line</p><img src="javascript:alert(2)">',
            },
            {"title": "", "link": "https://x.example/2", "body": "<p>A link-only item gets a title from its text.</p>"},
        ]
    }
    mapping = FieldMapping(items_path="items", title="title", url="link", content="body")
    first, second = extract_items(document, mapping, fetched_at=FETCHED_AT)
    assert first.title == "Bold title"
    assert "<script" not in first.content_html and "onclick" not in first.content_html
    assert "javascript:" not in first.content_html
    assert 'rel="noopener noreferrer nofollow"' in first.content_html
    assert first.content_text == "First link.\n\nSecond para\nnext line"
    assert second.title == "A link-only item gets a title from its text."


def test_extract_with_a_wrong_items_path_raises_plainly() -> None:
    with pytest.raises(JsonApiError) as caught:
        extract_items(
            NEWSAPI, FieldMapping(items_path="data.articles", title="title", url="url"), fetched_at=FETCHED_AT
        )
    assert caught.value.message.startswith("Items path 'data.articles' does not lead to a list")


# --- validation -----------------------------------------------------------------------------------


def test_validate_wrong_items_path() -> None:
    problems = validate_mapping(GUARDIAN, FieldMapping(items_path="response", title="webTitle", url="webUrl"))
    assert problems == [
        "items path 'response' does not lead to a list (found an object with keys: status, userTier, total, "
        "startIndex, pageSize, currentPage, pages, orderBy, results)"
    ]
    problems = validate_mapping(NEWSAPI, FieldMapping(items_path="data.articles", title="title", url="url"))
    assert problems == [
        "items path 'data.articles' does not lead to a list ('data' is not in the top level, which is an object "
        "with keys: status, totalResults, articles)"
    ]
    problems = validate_mapping(GUARDIAN, FieldMapping(items_path="response.items", title="webTitle", url="webUrl"))
    assert problems[0].startswith("items path 'response.items' does not lead to a list ('items' is not in 'response'")
    assert validate_mapping(NEWSAPI, FieldMapping(items_path="", title="title", url="url")) == [
        "the top level of the response is not a list (found an object with keys: status, totalResults, articles): "
        "set the items path"
    ]
    assert (
        "not a valid path" in validate_mapping(NEWSAPI, FieldMapping(items_path="articles[*]", title="t", url="u"))[0]
    )


def test_validate_fields_pointing_at_the_wrong_place() -> None:
    # The Guardian's names on a NewsAPI document, plus a few other mistakes.
    mapping = FieldMapping(
        items_path="articles",
        title="webTitle",
        url="source",
        image="urlToImage.0",
        date="description",
        summary="fields..trailText",
    )
    problems = validate_mapping(NEWSAPI, mapping)
    assert "no item has a value at 'webTitle'" in problems
    assert "the values at 'source' are objects, not text (try 'source.name')" in problems
    assert "no item has a value at 'urlToImage.0'" in problems
    assert any(p.startswith("the values at 'description' are not dates Zavod understands") for p in problems)
    assert any(p.startswith("the summary path 'fields..trailText' is not a valid path") for p in problems)

    problems = validate_mapping(NEWSAPI, FieldMapping(items_path="articles", title="title", url="author"))
    assert problems == ["the values at 'author' are not web addresses (for example 'BBC News')"]


def test_validate_empty_list_and_non_objects() -> None:
    assert validate_mapping({"articles": []}, NEWSAPI_MAPPING) == [
        "the list at 'articles' is empty, so the fields cannot be checked yet"
    ]
    assert validate_mapping({"articles": ["a", "b"]}, NEWSAPI_MAPPING) == [
        "the entries of the list at 'articles' are not objects (the first is text)"
    ]


# --- suggestion -----------------------------------------------------------------------------------


def test_suggest_newsapi() -> None:
    assert suggest_mapping(NEWSAPI) == NEWSAPI_MAPPING


def test_suggest_guardian() -> None:
    assert suggest_mapping(GUARDIAN) == GUARDIAN_MAPPING


def test_suggest_plain_list() -> None:
    assert suggest_mapping(PLAIN_LIST) == FieldMapping(
        items_path="",
        title="headline",
        url="permalink",  # relative links are fine once one entry has an absolute one
        image="media.0.url",
        date="time",
        guid="id",
    )


def test_suggest_nested_objects_and_largest_list() -> None:
    document = {
        "meta": {"tags": [{"name": "a"}, {"name": "b"}]},
        "data": {
            "posts": [
                {
                    "ID": "p1",
                    "title": {"rendered": "WordPress style"},
                    "link": "https://wp.example/p1",
                    "date_gmt": "2025-05-19T08:30:00",
                    "excerpt": {"rendered": "<p>Short</p>"},
                    "enclosure": {"url": "https://wp.example/p1.jpg", "type": "image/jpeg"},
                }
                for _ in range(3)
            ]
        },
    }
    mapping = suggest_mapping(document)
    assert mapping is not None
    assert mapping.items_path == "data.posts"
    assert mapping.title == "title.rendered"
    assert mapping.summary == "excerpt.rendered"
    assert mapping.image == "enclosure.url"
    assert mapping.guid == "ID"
    assert validate_mapping(document, mapping) == []


def test_suggest_nothing() -> None:
    assert suggest_mapping({"status": "ok"}) is None
    assert suggest_mapping([1, 2, 3]) is None
    assert suggest_mapping([{"count": 1}, {"count": 2}]) is None


def test_mapping_round_trip_through_settings() -> None:
    stored = json.loads(json.dumps(GUARDIAN_MAPPING.to_dict()))
    assert FieldMapping.from_dict(stored) == GUARDIAN_MAPPING
    form = {"items_path": " articles ", "title": "title", "url": "url", "image": "", "unknown": "x"}
    assert FieldMapping.from_dict(form) == FieldMapping(items_path="articles", title="title", url="url")


# --- parsing bodies -------------------------------------------------------------------------------


def test_parse_json_messages() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": 1}', "application/json") == {"a": 1}
    assert parse_json(b")]}',\n[1]", "application/json") == [1]
    assert parse_json(b'{"a": "\xd0\xaf"}', None) == {"a": "Я"}
    assert parse_json('{"a": "Я"}'.encode("cp1251"), "application/json; charset=windows-1251") == {"a": "Я"}
    assert parse_json(b'{"a": 1}', "text/html") == {"a": 1}  # mislabelled JSON is still JSON
    with pytest.raises(JsonApiError) as caught:
        parse_json(b"<!doctype html><html></html>", "text/html; charset=utf-8")
    assert caught.value.message == "The address did not return JSON (it returned text/html)."
    with pytest.raises(JsonApiError) as caught:
        parse_json(b'{\n  "a": 1,\n  "b": \n}', "application/json")
    assert caught.value.message == "The response is not valid JSON: expecting value at line 4, column 1."
    with pytest.raises(JsonApiError, match="empty response"):
        parse_json(b"  ", "application/json")
    with pytest.raises(JsonApiError, match="nested too deeply"):
        parse_json(b"[" * 100_000 + b"]" * 100_000, "application/json")


# --- fetching over HTTP ---------------------------------------------------------------------------


class _ApiHandler(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        routes: dict[str, tuple[int, str, bytes]] = {
            "/v2/everything": (200, "application/json; charset=utf-8", json.dumps(NEWSAPI).encode()),
            "/page": (200, "text/html; charset=utf-8", b"<!doctype html><title>Login</title>"),
            "/broken": (200, "application/json", b'{"articles": [\n  {"title": "x",}\n]}'),
            "/missing": (404, "application/json", b'{"status": "error"}'),
        }
        status, content_type, body = routes.get(self.path.split("?")[0], (404, "text/plain", b"no"))
        if self.path.startswith("/v2/everything") and self.headers.get("X-Api-Key") != "secret-key-123":
            status, body = 401, b'{"status": "error", "code": "apiKeyMissing"}'
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def api_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _fetcher() -> SafeFetcher:
    return SafeFetcher(allow_private=True, max_bytes=1024 * 1024, connect_timeout=2, read_timeout=2)


async def test_fetch_json_sends_the_header(api_server: str) -> None:
    _ApiHandler.seen.clear()
    async with _fetcher() as fetcher:
        request = JsonApiRequest(
            f"{api_server}/v2/everything?q=porto", header_name="X-Api-Key", header_value="secret-key-123"
        )
        document = await fetch_json(fetcher, request)
    assert document == NEWSAPI
    assert _ApiHandler.seen[-1]["x-api-key"] == "secret-key-123"
    assert _ApiHandler.seen[-1]["accept"] == "application/json"
    assert "secret-key-123" not in repr(request)
    assert len(extract_items(document, NEWSAPI_MAPPING, fetched_at=FETCHED_AT)) == 2


async def test_fetch_json_errors(api_server: str) -> None:
    async with _fetcher() as fetcher:
        with pytest.raises(FetchError) as fetch_error:  # a wrong key: the server's 401 passes through
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/v2/everything", "X-Api-Key", "wrong"))
        assert fetch_error.value.status_code == 401
        with pytest.raises(FetchError) as fetch_error:
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/missing"))
        assert fetch_error.value.message == "The server answered 404 Not Found."
        with pytest.raises(JsonApiError) as caught:
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/page"))
        assert caught.value.message == "The address did not return JSON (it returned text/html)."
        with pytest.raises(JsonApiError) as caught:
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/broken"))
        assert "line 2, column 17" in caught.value.message
        with pytest.raises(JsonApiError, match="not valid"):
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/v2/everything", "Bad Header", "x"))
        with pytest.raises(JsonApiError, match="one line"):
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/v2/everything", "X-Api-Key", "a\r\nHost: evil"))
        with pytest.raises(JsonApiError, match="only Latin"):
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/v2/everything", "X-Api-Key", "ключ"))
        with pytest.raises(JsonApiError, match="set by Zavod"):
            await fetch_json(fetcher, JsonApiRequest(f"{api_server}/v2/everything", "Host", "evil.example"))


async def test_fetch_json_keeps_the_ssrf_guard() -> None:
    async with SafeFetcher(allow_private=False, max_bytes=1024, connect_timeout=2, read_timeout=2) as fetcher:
        with pytest.raises(FetchError, match="private network"):
            await fetch_json(fetcher, JsonApiRequest("http://127.0.0.1:9/api", "X-Api-Key", "k"))
