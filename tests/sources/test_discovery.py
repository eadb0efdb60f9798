"""Autodiscovery: feed links in a page, well-known paths, and telling a feed from other bytes."""

from __future__ import annotations

import pytest

from app.sources.parsing import COMMON_FEED_PATHS, DiscoveredFeed, common_feed_urls, discover_feeds, looks_like_feed
from tests.sources.corpus import CONTENT_TYPES, CORPUS, read


def test_links_in_a_page_are_found_resolved_deduplicated_in_order():
    feeds = discover_feeds(read("page-with-links.html"), "https://chronicle.riverside.example/about/us")
    assert feeds == [
        DiscoveredFeed("https://chronicle.riverside.example/feed/", "Riverside Chronicle » Feed", "rss"),
        DiscoveredFeed(
            "https://chronicle.riverside.example/comments/feed/", "Riverside Chronicle » Comments Feed", "rss"
        ),
        # relative to <base href>, not to the page's own address
        DiscoveredFeed("https://chronicle.riverside.example/news/atom.xml", "Atom", "atom"),
        DiscoveredFeed("https://chronicle.riverside.example/feed.json", "JSON Feed", "json"),
        # rel and type in any case, rel with several tokens, title whitespace collapsed
        DiscoveredFeed("https://chronicle.riverside.example/tag/transport/feed/", "Transport news", "rss"),
    ]
    # left out: the duplicate (differs only by host case and :443), the WordPress REST API
    # "alternate", oEmbed, a language alternate and a javascript: href


def test_a_page_without_feed_links():
    assert discover_feeds(read("page-without-links.html"), "https://bakery.example/") == []


def test_a_legacy_encoded_page_keeps_its_titles():
    feeds = discover_feeds(read("page-with-links-cp1251.html"), "https://vesti.priroch.example/")
    assert feeds == [DiscoveredFeed("https://vesti.priroch.example/rss/", "Лента новостей «Вести Приречья»", "rss")]


def test_text_input_and_odd_hrefs():
    html = """<html><head>
      <link rel=alternate type=application/atom+xml href=feed://example.com/atom>
      <link rel="alternate" type="application/rss+xml" href="feed:https://example.com/rss">
      <link rel="alternate" type="application/rdf+xml" href="/index.rdf" title="">
      <link rel="alternate" type="application/rss+xml">
      <link rel="stylesheet" type="application/rss+xml" href="/not-alternate">
    </head></html>"""
    assert discover_feeds(html, "https://example.com/") == [
        DiscoveredFeed("http://example.com/atom", None, "atom"),
        DiscoveredFeed("https://example.com/rss", None, "rss"),
        DiscoveredFeed("https://example.com/index.rdf", None, "rss"),
    ]


def test_broken_html_does_not_stop_discovery():
    html = (
        '<html><head><link rel="alternate" type="application/rss+xml" href="/rss">'
        '<div <<< unclosed <script>var a = "</head>";'
    )
    assert [f.url for f in discover_feeds(html, "https://example.com/x")] == ["https://example.com/rss"]


def test_common_feed_paths():
    assert COMMON_FEED_PATHS == [
        "/feed",
        "/rss",
        "/feed.xml",
        "/rss.xml",
        "/atom.xml",
        "/index.xml",
        "/feeds/posts/default",
        "/?feed=rss2",
        "/feed.json",
    ]
    assert common_feed_urls("https://example.com") == [f"https://example.com{path}" for path in COMMON_FEED_PATHS]
    assert common_feed_urls("https://example.com/") == common_feed_urls("https://example.com/any-page")
    blog = common_feed_urls("https://example.com/blog/post-1?x=1")
    assert blog[0] == "https://example.com/blog/feed" and blog[7] == "https://example.com/blog/?feed=rss2"
    assert blog[9:] == common_feed_urls("https://example.com")
    assert len(blog) == len(set(blog))


FEEDS = sorted(
    path.name
    for path in CORPUS.iterdir()
    if path.suffix in (".xml", ".json") and path.name not in {"empty.xml", "not-a-jsonfeed.json"}
)


@pytest.mark.parametrize("name", FEEDS)
def test_corpus_feeds_look_like_feeds(name: str):
    # broken and salvaged feeds too: they are feeds, even if parsing them fails
    assert looks_like_feed(read(name), CONTENT_TYPES.get(name))


@pytest.mark.parametrize(
    "name",
    [
        "page-with-links.html",
        "page-without-links.html",
        "page-with-links-cp1251.html",
        "broken.bin",
        "empty.xml",
        "not-a-jsonfeed.json",
    ],
)
def test_other_files_do_not(name: str):
    assert not looks_like_feed(read(name), "text/html")


@pytest.mark.parametrize(
    "content, content_type, expected",
    [
        (b'<!-- generated --><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel/></rss>', None, True),
        (
            b'<?xml version="1.0"?><?xml-stylesheet href="s.xsl"?><feed xmlns="http://www.w3.org/2005/Atom"/>',
            "text/html",
            True,
        ),
        (b'<?xml version="1.0"?><html><body>not a feed</body></html>', "application/rss+xml", False),
        (
            b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
            "application/xml",
            False,
        ),
        (b"<!DOCTYPE html><html><head><title>rss</title></head></html>", None, False),
        (b'{"items": [], "title": "x"}', "application/feed+json", True),  # the header vouches for it
        (b'{"items": [], "title": "x"}', "application/json", False),
        (b'  {"items": [], "version": "https://jsonfeed.org/version/1.1"}', None, True),
        ("\ufeff<rss version='2.0'/>".encode("utf-16-le"), None, True),
        (b"", None, False),
    ],
)
def test_looks_like_feed(content: bytes, content_type: str | None, expected: bool):
    assert looks_like_feed(content, content_type) is expected
