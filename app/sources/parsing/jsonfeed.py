"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/), read with the json module."""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from app.i18n import gettext as _
from app.sources.parsing.entries import FEED_TITLE_MAX, Draft, as_utc, build_entries
from app.sources.parsing.markup import first_image, html_to_text, plain_text, plain_to_html, sanitize_html, shorten
from app.sources.parsing.model import NotAFeed, ParsedFeed
from app.sources.parsing.urls import absolute_url
from app.sources.parsing.youtube import youtube_video_id

JSON_FEED_MARK = "jsonfeed.org/version"


def _string(value: Any) -> str | None:
    """A non-empty string field; anything else (null, numbers, objects) counts as missing."""
    return (value.strip() or None) if isinstance(value, str) else None


def _identifier(value: Any) -> str | None:
    """The item id: a string by the spec, a number in the wild."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _string(value)


def _date(value: Any) -> datetime | None:
    """RFC 3339 as the spec says; RFC 822 as some generators write anyway."""
    text = _string(value)
    if not text:
        return None
    try:
        return as_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text))
    except ValueError:
        pass
    try:
        return as_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None


def _author(holder: dict[str, Any]) -> str | None:
    """The first author's name: `authors` (1.1) or `author` (1.0)."""
    authors = holder.get("authors")
    candidates = authors if isinstance(authors, list) else [holder.get("author")]
    for author in candidates:
        if isinstance(author, dict) and (name := _string(author.get("name"))):
            return name
    return None


def _image(item: dict[str, Any], base: str, content_html: str) -> str | None:
    """image > banner_image > an image attachment > the first <img> in the content."""
    for key in ("image", "banner_image"):
        if url := absolute_url(_string(item.get(key)), base):
            return url
    attachments = item.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        if isinstance(attachment, dict) and (_string(attachment.get("mime_type")) or "").startswith("image/"):
            if url := absolute_url(_string(attachment.get("url")), base):
                return url
    return first_image(content_html)


def is_json_feed(data: Any) -> bool:
    return isinstance(data, dict) and JSON_FEED_MARK in str(data.get("version", ""))


def _draft(item: dict[str, Any], feed_link: str, feed_author: str | None) -> Draft:
    link = absolute_url(_string(item.get("url")), feed_link) or absolute_url(
        _string(item.get("external_url")), feed_link
    )
    base = link or feed_link
    if html := _string(item.get("content_html")):
        content_html = sanitize_html(html, base)
    else:
        content_html = plain_to_html(_string(item.get("content_text")) or "")
    summary = _string(item.get("summary")) or ""
    return Draft(
        guid=_identifier(item.get("id")),
        link=link,
        title=plain_text(_string(item.get("title")) or "", is_html=False),  # JSON Feed titles are plain text
        summary=html_to_text(plain_to_html(summary)) if summary else "",
        content_html=content_html,
        published=_date(item.get("date_published")) or _date(item.get("date_modified")),
        image_url=_image(item, base, content_html),
        author=_author(item) or feed_author,
        video_id=youtube_video_id(link),
    )


def parse_json_feed(text: str, *, url: str, fetched_at: datetime, content_type: str | None = None) -> ParsedFeed:
    try:
        data = json.loads(text)
    except ValueError as exc:
        if JSON_FEED_MARK in text:
            raise NotAFeed(_("The feed is damaged and could not be read.")) from exc
        raise NotAFeed(_("This address returns data that is not a feed.")) from exc
    # Lenient with a server that says feed+json but forgot "version", if the shape is right.
    loose = "feed+json" in (content_type or "") and isinstance(data, dict) and isinstance(data.get("items"), list)
    if not (is_json_feed(data) or loose):
        raise NotAFeed(_("This address returns data that is not a feed."))
    feed_link = absolute_url(_string(data.get("home_page_url")), url) or url
    items = data.get("items")
    feed_author = _author(data)
    drafts = [
        _draft(item, feed_link, feed_author)
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]
    entries, dropped = build_entries(drafts, fetched_at)
    version = str(data.get("version", ""))
    return ParsedFeed(
        title=shorten(plain_text(_string(data.get("title")) or "", is_html=False), FEED_TITLE_MAX),
        entries=entries,
        link=feed_link,
        version="json11" if version.rstrip("/").endswith("1.1") else "json10",
        entries_dropped=dropped,
    )
