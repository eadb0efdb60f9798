"""JSON Feed 1.0 / 1.1: detection, fields, and the ways real generators bend the spec."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime

import pytest

from app.sources.parsing import NotAFeed, ParsedFeed, parse_feed
from tests.sources.corpus import FETCHED_AT, parse, read


def parse_json(document: object | str | bytes, content_type: str | None = None) -> ParsedFeed:
    if isinstance(document, bytes):
        content = document
    else:
        content = (document if isinstance(document, str) else json.dumps(document)).encode("utf-8")
    return parse_feed(content, url="https://example.com/feed.json", content_type=content_type, fetched_at=FETCHED_AT)


def feed(*items: dict, version: str = "https://jsonfeed.org/version/1.1", **extra: object) -> dict:
    return {"version": version, "title": "T", "items": list(items), **extra}


@pytest.mark.parametrize("content_type", [None, "application/feed+json", "application/json", "text/plain", "text/html"])
def test_detected_by_content_whatever_the_header(content_type: str | None):
    assert parse("jsonfeed11.json", content_type=content_type).version == "json11"
    assert parse("jsonfeed10.json", content_type=content_type).version == "json10"


def test_xml_served_as_json_is_still_read_as_xml():
    assert parse("rss20.xml", content_type="application/json").version == "rss20"


def test_a_byte_order_mark_and_leading_space_are_fine():
    content = codecs.BOM_UTF8 + b"\n  " + read("jsonfeed10.json")
    assert parse_json(content).title == "Hill Farm Diary"


def test_feed_json_without_version_is_accepted_when_the_header_says_so():
    document = {"title": "No version", "items": [{"id": "1", "title": "x"}]}
    assert [e.title for e in parse_json(document, "application/feed+json").entries] == ["x"]
    with pytest.raises(NotAFeed):
        parse_json(document, "application/json")


@pytest.mark.parametrize(
    "document",
    [
        '{"status": "ok"}',
        "[1, 2, 3]",
        '{"version": "1.0", "items": []}',  # not a jsonfeed.org version
        '{"version": "https://jsonfeed.org/version/1.1", "items": [',  # damaged
        "{not json at all",
    ],
)
def test_json_that_is_not_a_json_feed(document: str):
    with pytest.raises(NotAFeed) as caught:
        parse_json(document, "application/json")
    assert caught.value.message in (
        "This address returns data that is not a feed.",
        "The feed is damaged and could not be read.",
    )


def test_fields():
    (entry,) = parse_json(
        feed(
            {
                "id": "a1",
                "url": "/posts/a1?utm_campaign=x",
                "title": "Fish &amp; chips",  # JSON Feed titles are plain text; entities still read
                "content_html": '<p>Hello <img src="img/a.png"> <a href="#more" onclick="x()">more</a></p>',
                "summary": "Short.",
                "date_published": "2026-11-21T10:15:30.123456+03:00",
                "authors": [{"url": "https://example.com/nameless"}, {"name": "Second Author"}],
                "tags": ["x"],
            },
            home_page_url="https://example.com/blog/",
        )
    ).entries
    assert entry.guid == "a1"
    assert entry.url == "https://example.com/posts/a1?utm_campaign=x"
    assert entry.normalized_url == "https://example.com/posts/a1"
    assert entry.title == "Fish & chips"
    assert entry.content_html == (
        '<p>Hello <img src="https://example.com/posts/img/a.png"> '
        '<a href="https://example.com/posts/a1?utm_campaign=x#more" rel="noopener noreferrer nofollow">more</a></p>'
    )
    assert entry.content_text == "Hello more"
    assert entry.summary == "Short."
    assert entry.image_url == "https://example.com/posts/img/a.png"
    assert entry.published_at == datetime(2026, 11, 21, 7, 15, 30, 123456, tzinfo=UTC)
    assert entry.author == "Second Author"


def test_content_text_only():
    (entry,) = parse_json(feed({"id": "1", "content_text": "Line one\nline two\n\nPara <b>two</b> & more"})).entries
    assert entry.content_html == "<p>Line one<br>line two</p><p>Para &lt;b&gt;two&lt;/b&gt; &amp; more</p>"
    assert entry.content_text == "Line one\nline two\n\nPara <b>two</b> & more"
    assert entry.title == "Line one"  # no title: the first line stands in
    assert entry.summary == entry.content_text


@pytest.mark.parametrize(
    "date, expected",
    [
        ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00z", datetime(2026, 11, 21, 10, tzinfo=UTC)),
        ("2026-11-21T10:00:00", datetime(2026, 11, 21, 10, tzinfo=UTC)),  # no zone: taken as UTC
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=UTC)),
        ("Sat, 21 Nov 2026 10:00:00 +0100", datetime(2026, 11, 21, 9, tzinfo=UTC)),  # RFC 822 from a sloppy generator
        ("yesterday", FETCHED_AT),
        (1700000000, FETCHED_AT),
    ],
)
def test_dates(date: object, expected: datetime):
    (entry,) = parse_json(feed({"id": "1", "title": "x", "date_published": date})).entries
    assert entry.published_at == expected


def test_odd_values_are_ignored_not_fatal():
    parsed = parse_json(
        feed(
            {"id": "1", "title": None, "url": 42, "content_html": ["not", "a", "string"], "image": {}},
            "not an item",
            {"id": None, "title": "no id", "url": "https://example.com/x"},
            {"id": True, "title": "bool id", "url": "https://example.com/y"},
            author="not an object",
        )
    )
    assert [e.title for e in parsed.entries] == ["(untitled)", "no id", "bool id"]
    untitled, no_id, bool_id = parsed.entries
    assert untitled.guid == "1" and untitled.url is None and untitled.image_url is None
    assert no_id.guid is None and no_id.url == "https://example.com/x"
    assert bool_id.guid is None


def test_items_missing_is_an_empty_feed():
    assert parse_json({"version": "https://jsonfeed.org/version/1", "title": "Empty"}).entries == []
