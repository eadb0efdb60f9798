"""RSS 0.9x / 1.0 (RDF) / 2.0 and Atom 0.3 / 1.0, read by feedparser from text we decoded ourselves."""

from __future__ import annotations

import calendar
import html
import re
from datetime import UTC, datetime
from typing import Any

import feedparser

from app.i18n import gettext as _
from app.sources.parsing.entries import FEED_TITLE_MAX, Draft, build_entries
from app.sources.parsing.markup import first_image, html_to_text, plain_text, plain_to_html, sanitize_html, shorten
from app.sources.parsing.model import NotAFeed, ParsedFeed
from app.sources.parsing.ordinary import read_ordinary_feed
from app.sources.parsing.urls import absolute_url
from app.sources.parsing.youtube import youtube_video_id

_PROLOG_ENCODING = re.compile(r"""^(<\?xml[^>]*?\sencoding\s*=\s*)(["'])[^"']*\2""")
# Characters XML 1.0 forbids; one of them makes the strict parser give up on the whole document.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FEED_START = re.compile(r"<\?xml|<rss[\s>]|<feed[\s>]|<(?:\w+:)?RDF[\s>]")
_FEED_ROOT = re.compile(r"<(?:\w+:)?(?:rss|feed|RDF)[\s>]")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_EMAIL = re.compile(r"[^@\s()<>]+@[^@\s()<>]+")
_AUTHOR_WITH_EMAIL = re.compile(r"^(.+?)\s*\((.+)\)$|^(.*?)\s*<(.+)>$")
# HTML escaped one time too many: "&lt;p&gt;text&lt;/p&gt;" where "<p>text</p>" was meant. A closing
# block tag, a <br> or an <img> is required, so that a text merely *mentioning* "&lt;b&gt;" stays text.
_ESCAPED_TAG = re.compile(r"&lt;(?:/(?:p|div|li|ul|ol|h[1-6]|blockquote|a|span|strong|em)&gt;|(?:br|img)\b)", re.I)


def document_start(text: str) -> int:
    """Where the XML document starts: after leading whitespace, and after any text a broken server
    printed first ("<b>Warning</b>: ..." from PHP), which would hide the feed from the parser."""
    start = len(text) - len(text.lstrip())
    if text.startswith(("<?xml", "<!", "<rss", "<feed", "<rdf:", "<RDF"), start):
        return start
    found = _FEED_START.search(text, start, start + 4096)
    return found.start() if found else start


def prepare_xml(text: str) -> str:
    """The document as feedparser should see it: starting at its prolog or root (some servers print
    warnings before it), declaring UTF-8 (we decoded it already) and without forbidden characters."""
    text = text[document_start(text) :]
    text = _PROLOG_ENCODING.sub(r'\1"utf-8"', text, count=1)
    if _XML_ILLEGAL.search(text):
        text = _XML_ILLEGAL.sub("", text)
    return text


# feedparser's dict answers .get() through a key map with fallbacks (and deprecation warnings);
# plain dict.get reads the stored keys directly and faster. ("enclosures" is computed: use .get.)
_raw = dict.get


def _date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = _raw(entry, key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _author(raw: str | None) -> str | None:
    """The name in "Name", "email (Name)", "Name (email)" or "Name <email>"; None for a bare email.
    (feedparser's own split cuts long top-level domains, so the raw string is read here.)"""
    text = plain_text(raw or "")
    match = _AUTHOR_WITH_EMAIL.match(text)
    if match:
        first, second = match.group(1) or match.group(3), match.group(2) or match.group(4)
        text = second if _EMAIL.fullmatch(first) else first
    return None if not text or _EMAIL.fullmatch(text) else text


def _is_image(medium: str | None, mime: str | None, url: str) -> bool:
    if medium or mime:
        return medium == "image" or (mime or "").startswith("image/")
    return url.lower().split("?", 1)[0].endswith(_IMAGE_EXTENSIONS)


def _media_image(entry: Any, base: str) -> str | None:
    """media:content (images only) > media:thumbnail > image enclosure > itunes:image."""
    for media in _raw(entry, "media_content") or []:
        url = absolute_url(media.get("url"), base)
        if url and _is_image(media.get("medium"), media.get("type"), url):
            return url
    for thumbnail in _raw(entry, "media_thumbnail") or []:
        if url := absolute_url(thumbnail.get("url"), base):
            return url
    for enclosure in entry.get("enclosures") or []:  # an audio or video enclosure is not a picture
        url = absolute_url(enclosure.get("href"), base)
        if url and _is_image(None, enclosure.get("type"), url):
            return url
    image = _raw(entry, "image")  # itunes:image of a podcast episode
    return absolute_url(image.get("href"), base) if isinstance(image, dict) else None


def _content_base(detail: Any, url: str, has_xml_base: bool, fallback: str) -> str:
    """xml:base in scope when the document has one; else the entry link / feed link / fetch URL."""
    base = detail.get("base") if detail else None
    # With xml:base present we hand feedparser the fetch URL as the document's base, so a base
    # equal to it means "no xml:base around this element".
    return base if has_xml_base and base and base != url else fallback


def _html_of(detail: Any, base: str, *, plain: bool = False) -> str:
    if not detail or not detail.get("value"):
        return ""
    value = detail["value"]
    if plain or detail.get("type") not in _HTML_TYPES:
        return plain_to_html(value)
    if "<" not in value and _ESCAPED_TAG.search(value):
        value = html.unescape(value)  # sanitised below like any other HTML
    return sanitize_html(value, base)


def text_of(detail: Any) -> str:
    if not detail:
        return ""
    return plain_text(detail.get("value", ""), is_html=detail.get("type") in _HTML_TYPES)


def draft_from_entry(entry: Any, *, url: str, feed_link: str, has_xml_base: bool) -> Draft:
    # Without xml:base feedparser leaves relative links alone; RSS has no base of its own, so they
    # are read against the site's link (the feed's <link>), which beats the feed file's address.
    link = absolute_url(_raw(entry, "link"), feed_link)
    contents = _raw(entry, "content") or []
    content = next((c for c in contents if c.get("type") in _HTML_TYPES), contents[0] if contents else None)
    summary = _raw(entry, "summary_detail")
    if content and summary and summary.get("value") == content.get("value"):
        summary = None  # feedparser copies a lone <content> into summary
    video_id = _raw(entry, "yt_videoid") or youtube_video_id(link)
    # YouTube's media:description is plain text with newlines, although feedparser labels it HTML.
    plain_summary = bool(_raw(entry, "yt_videoid"))
    base_fallback = link or feed_link
    content_html = _html_of(content, _content_base(content, url, has_xml_base, base_fallback))
    summary_html = _html_of(summary, _content_base(summary, url, has_xml_base, base_fallback), plain=plain_summary)
    summary_text = html_to_text(summary_html)
    body = content_html or summary_html
    thumbnails = _raw(entry, "media_thumbnail") or []
    guid = (_raw(entry, "id") or "").strip() or None
    return Draft(
        guid=guid,
        link=link,
        title=text_of(_raw(entry, "title_detail")),
        summary=summary_text,
        content_html=body,
        published=_date(entry),
        image_url=_media_image(entry, base_fallback) or first_image(body),
        thumbnail_url=absolute_url(thumbnails[0].get("url"), base_fallback) if thumbnails else None,
        author=_author(_raw(entry, "author")),
        video_id=video_id,
        content_text=None if content_html else summary_text,
    )


def parse_xml_feed(text: str, *, url: str, fetched_at: datetime) -> ParsedFeed:
    text = prepare_xml(text)
    ordinary = read_ordinary_feed(text, url=url, fetched_at=fetched_at)
    if ordinary is not None:
        return ordinary
    return read_with_feedparser(text, url=url, fetched_at=fetched_at)


def read_with_feedparser(text: str, *, url: str, fetched_at: datetime) -> ParsedFeed:
    """Any RSS or Atom document feedparser can make sense of (`text` as prepare_xml leaves it)."""
    has_xml_base = "xml:base" in text
    headers = {"content-type": "application/xml; charset=utf-8"}
    if has_xml_base:
        # Needed for a relative xml:base to resolve at all, and costly (feedparser re-joins the base
        # at every element), so only when the document uses xml:base.
        headers["content-location"] = url
    parsed = feedparser.parse(
        text.encode("utf-8"), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )
    if not parsed.entries and (not parsed.get("version") or (parsed.get("bozo") and not parsed.feed.get("title"))):
        # Nothing read: not a feed, or one broken before it said anything. (A feed with a title and
        # no items is fine: it is just empty today.)
        raise NotAFeed(_not_a_feed_message(text))
    feed = parsed.feed
    feed_link = absolute_url(feed.get("link"), url) or url
    drafts = [
        draft_from_entry(entry, url=url, feed_link=feed_link, has_xml_base=has_xml_base) for entry in parsed.entries
    ]
    entries, dropped = build_entries(drafts, fetched_at)
    return ParsedFeed(
        title=shorten(text_of(feed.get("title_detail")), FEED_TITLE_MAX),
        entries=entries,
        link=feed_link,
        version=parsed.get("version") or "",
        salvaged=bool(parsed.get("bozo")),
        entries_dropped=dropped,
    )


def _not_a_feed_message(text: str) -> str:
    if _FEED_ROOT.search(text, 0, 4096):
        return _("The feed is damaged and could not be read.")
    return _("This address does not lead to an RSS or Atom feed (it looks like a web page or other file).")
