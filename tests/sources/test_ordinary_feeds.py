"""The quick lxml reader (parsing.ordinary) against feedparser: same result, or it steps aside.

For every XML document we have — the corpus, the test server's feeds, the benchmark's feed and
variations written here — either `read_ordinary_feed` declines (None) or its ParsedFeed equals the
one feedparser's path gives. And it must not decline the ordinary feeds it exists for.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.sources.parsing.encoding import decode_document
from app.sources.parsing.ordinary import read_ordinary_feed
from app.sources.parsing.syndication import prepare_xml, read_with_feedparser
from tests.sources.corpus import CONTENT_TYPES, CORPUS, FETCHED_AT, fetch_url

FIXTURE_FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from feed_server import render_feed  # noqa: E402

ITEM = """<item><title>{title}</title><link>https://news.example/{n}</link>{extra}
<description><![CDATA[<p>Body {n} <a href="/rel/{n}">rel</a></p>]]></description></item>"""


def _rss(items: str, channel_extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>Variations</title><link>https://news.example/</link>{channel_extra}{items}</channel></rss>"
    ).encode()


VARIATIONS: dict[str, bytes] = {
    "html-title": _rss(ITEM.format(title="Bread &amp;amp; &lt;b&gt;butter&lt;/b&gt;", n=1, extra="")),
    "entity-title": _rss(ITEM.format(title="AT&amp;amp;T &amp;copy; 2026", n=1, extra="")),
    "plain-lt-title": _rss(ITEM.format(title="3 &lt; 4 and x &gt; y", n=1, extra="")),
    "mojibake-title": _rss(ITEM.format(title="CafÃ© opens", n=1, extra="")),
    "cp1252-controls": _rss(ITEM.format(title="Quote \u0093this\u0094", n=1, extra="")),
    "permalink-guid-no-link": _rss(
        "<item><title>Only a guid</title><guid>https://news.example/guid-only</guid></item>"
    ),
    "non-permalink-guid-no-link": _rss(
        '<item><title>Guid, not a link</title><guid isPermaLink="false">abc-1</guid></item>'
    ),
    "guid-before-link": _rss(
        "<item><guid>https://news.example/g</guid><title>Order</title><link>https://news.example/l</link></item>"
    ),
    "content-and-description": _rss(
        "<item><title>Both</title><link>https://news.example/both</link><description>Short</description>"
        "<content:encoded><![CDATA[<p>Full text</p>]]></content:encoded></item>"
    ),
    "content-only": _rss(
        "<item><title>Only content</title><link>https://news.example/c</link>"
        "<content:encoded><![CDATA[<p>Full <img src='/i.png'> text</p>]]></content:encoded></item>"
    ),
    "content-before-description": _rss(
        "<item><title>Order</title><content:encoded>&lt;p&gt;A&lt;/p&gt;</content:encoded>"
        "<description>B</description></item>"
    ),
    "dates": _rss(
        ITEM.format(title="Dated", n=3, extra="<pubDate>Sat, 21 Nov 2026 10:00:00 +0300</pubDate>")
        + ITEM.format(title="DC dated", n=4, extra="<dc:date>2026-11-20T08:00:00Z</dc:date>")
        + ITEM.format(title="Bad date", n=5, extra="<pubDate>yesterday-ish</pubDate>")
        + ITEM.format(
            title="Two dates",
            n=6,
            extra="<pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate><dc:date>2026-11-20T08:00:00Z</dc:date>",
        )
    ),
    "authors": _rss(
        ITEM.format(title="A1", n=7, extra="<author>desk@news.example (The Desk)</author>")
        + ITEM.format(title="A2", n=8, extra="<dc:creator>Anna Petrova</dc:creator>")
        + ITEM.format(title="A3", n=9, extra="<author>only@news.example</author>")
    ),
    "media": _rss(
        ITEM.format(
            title="M",
            n=10,
            extra='<media:content url="https://cdn.example/v.mp4" medium="video"/>'
            '<media:content url="https://cdn.example/p.jpg" type="image/jpeg"/>'
            '<media:thumbnail url="https://cdn.example/t.jpg"/>'
            '<enclosure url="https://cdn.example/a.mp3" type="audio/mpeg" length="1"/>',
        )
    ),
    "unknown-element": _rss(ITEM.format(title="U", n=11, extra="<media:title>Other title</media:title>")),
    "markup-in-title": _rss("<item><title>Big <b>news</b></title><link>https://news.example/b</link></item>"),
    "tracking-link": _rss(
        "<item><title>T</title><link>https://news.example/t?utm_source=rss&amp;amp;id=4&amp;x=1</link></item>"
    ),
    "self-link-channel": _rss(
        ITEM.format(title="S", n=12, extra=""), '<atom:link href="https://news.example/feed" rel="self"/>'
    ),
    "russian": _rss(ITEM.format(title="Паром снова ходит «по расписанию»", n=13, extra="")),
    "empty-channel": _rss(""),
    "html-entity-in-xml": _rss(ITEM.format(title="Caf&eacute;", n=14, extra="")),
}

ATOM_VARIATIONS: dict[str, bytes] = {
    "atom-html": b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
<title type="html">A &amp;amp; B</title><link href="https://a.example/"/>
<entry><title type="html">&lt;em&gt;Hi&lt;/em&gt;</title><id>tag:a.example,2026:1</id>
<link href="https://a.example/1"/><updated>2026-11-21T10:00:00Z</updated><summary>Plain &lt;summary&gt;</summary>
<content type="html">&lt;p&gt;Body &lt;a href="/x"&gt;x&lt;/a&gt;&lt;/p&gt;</content>
<author><name>Ann</name><email>ann@a.example</email></author></entry>
<entry><title>No link</title><id>https://a.example/by-id</id><published>2026-11-20T10:00:00+02:00</published></entry>
<entry><title>Tag id, no link</title><id>tag:a.example,2026:3</id></entry>
<entry><title>Enclosure</title><id>tag:a.example,2026:4</id><link rel="alternate" href="https://a.example/4"/>
<link rel="enclosure" href="https://a.example/4.jpg" type="image/jpeg"/></entry></feed>""",
    "atom-xhtml": b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>X</title>
<entry><title>T</title><id>tag:x,1</id><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div></content></entry></feed>""",
}


def _documents() -> list[tuple[str, bytes, str | None]]:
    documents = [
        (path.name, path.read_bytes(), CONTENT_TYPES.get(path.name))
        for path in sorted(CORPUS.iterdir())
        if path.suffix == ".xml"
    ]
    documents += [(path.name, path.read_bytes(), None) for path in sorted(FIXTURE_FEEDS.glob("*.xml"))]
    documents.append(("bench-feed", render_feed(7, 50), "application/rss+xml"))
    documents += [(name, body, None) for name, body in {**VARIATIONS, **ATOM_VARIATIONS}.items()]
    return documents


DOCUMENTS = _documents()


@pytest.mark.parametrize(("name", "body", "content_type"), DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_the_quick_reader_agrees_with_feedparser_or_steps_aside(name: str, body: bytes, content_type: str | None):
    text = prepare_xml(decode_document(body, content_type))
    url = fetch_url(name)
    quick = read_ordinary_feed(text, url=url, fetched_at=FETCHED_AT)
    if quick is None:
        return
    assert quick == read_with_feedparser(text, url=url, fetched_at=FETCHED_AT)


ORDINARY = [
    "rss20.xml",
    "northwind.xml",
    "videos.xml",
    "youtube-channel.xml",
    "bench-feed",
    "russian",
    "dates",
    "authors",
    "media",
    "content-and-description",
    "atom-html",
    "cp1251-prolog.xml",
    "koi8-r.xml",
]


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_feeds_take_the_quick_path(name: str):
    body, content_type = next((d[1], d[2]) for d in DOCUMENTS if d[0] == name)
    text = prepare_xml(decode_document(body, content_type))
    assert read_ordinary_feed(text, url=fetch_url(name), fetched_at=FETCHED_AT) is not None
