"""Finding the feeds of a web site: <link rel="alternate"> in its page, then well-known paths."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from app.sources.parsing.encoding import decode_document, decode_head
from app.sources.parsing.model import DiscoveredFeed, FeedKind
from app.sources.parsing.syndication import document_start
from app.sources.parsing.urls import absolute_url, normalise_url

# Where sites (WordPress, Blogger, Hugo, Jekyll, Ghost...) usually put their feed, in order of likelihood.
COMMON_FEED_PATHS = [
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
FEED_TYPES: dict[str, FeedKind] = {
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/atom+xml": "atom",
    "application/x.atom+xml": "atom",
    "application/feed+json": "json",
    "application/json": "json",
}
_JSON_MARK = b"jsonfeed.org/version"
# The root element of the document, after any prolog, processing instructions, comments and doctype.
_XML_ROOT = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*<(?:[\w.-]+:)?([\w.-]+)", re.S)
_FEED_ROOTS = frozenset({"rss", "feed", "RDF"})


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href") or None
        elif tag == "link":
            self.links.append({name: value or "" for name, value in attrs})

    handle_startendtag = handle_starttag


def _feed_scheme_to_http(href: str) -> str:
    """feed://host/x and feed:https://host/x, an old convention, as plain http(s) URLs."""
    if href[:5].lower() == "feed:":
        rest = href[5:]
        return rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    return href


def discover_feeds(html: bytes | str, base_url: str) -> list[DiscoveredFeed]:
    """The feeds a page links to with <link rel="alternate" type="...">, absolute, de-duplicated,
    in page order."""
    text = decode_document(html, html=True) if isinstance(html, bytes) else html
    collector = _LinkCollector()
    collector.feed(text)
    collector.close()
    base = urljoin(base_url, collector.base) if collector.base else base_url
    found: list[DiscoveredFeed] = []
    seen: set[str] = set()
    for attrs in collector.links:
        rels = attrs.get("rel", "").lower().split()
        kind = FEED_TYPES.get(attrs.get("type", "").strip().lower())
        if "alternate" not in rels or kind is None:
            continue
        url = absolute_url(_feed_scheme_to_http(attrs.get("href", "").strip()), base)
        # WordPress links its REST API as application/json "alternate": that is not a feed.
        if not url or (kind == "json" and ("/wp-json/" in url or "oembed" in url)):
            continue
        key = normalise_url(url)
        if key in seen:
            continue
        seen.add(key)
        title = " ".join(attrs.get("title", "").split()) or None
        found.append(DiscoveredFeed(url=url, title=title, kind=kind))
    return found


def common_feed_urls(page_url: str) -> list[str]:
    """Well-known feed addresses to try when a page links to none: under the page's own folder
    first (a blog at example.com/blog/), then at the site's root."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}"
    folder = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
    prefixes = [folder.rstrip("/"), ""] if folder not in ("", "/") else [""]
    urls = [f"{root}{prefix}{path}" for prefix in prefixes for path in COMMON_FEED_PATHS]
    return list(dict.fromkeys(urls))


def looks_like_feed(content: bytes, content_type: str | None = None) -> bool:
    """Whether fetched bytes are a feed (RSS, RDF, Atom or JSON Feed), judged by their content: servers
    label feeds text/html and web pages text/xml often enough that the Content-Type cannot decide."""
    head = decode_head(content)
    if head.lstrip().startswith("{"):
        # The "version" member may come after the items, so look through the whole body.
        return _JSON_MARK in content or "feed+json" in (content_type or "").lower()
    match = _XML_ROOT.match(head, document_start(head))  # past any junk a server printed first
    return bool(match and match.group(1) in _FEED_ROOTS)
