"""What parsing produces: entries, feeds, discovered feed links, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from app.sources.parsing.markup import html_to_text


class NotAFeed(Exception):
    """The bytes are not a feed we can read; `message` is written for a person (and translated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class FeedEntry:
    """One item of a feed, ready to store.

    The first eight fields are the original ones (other source kinds build entries with them);
    the rest have defaults. `content` and `content_html` are the same sanitised HTML: `content`
    is the old name, kept for callers.
    """

    dedup_key: str  # sha256 hex of guid / normalised link / title + date (see urls.dedup_key)
    guid: str | None
    url: str | None  # absolute http(s) link to the article, as the feed gives it
    title: str  # plain text, one line
    summary: str  # plain text
    content: str  # sanitised HTML
    image_url: str | None
    published_at: datetime  # UTC; the fetch time when the feed gives no date
    normalized_url: str | None = None  # for spotting the same article from two sources
    content_html: str = ""
    content_text: str = ""  # plain text, paragraphs separated by a blank line
    author: str | None = None
    video_id: str | None = None  # YouTube video id
    thumbnail_url: str | None = None
    has_date: bool = True  # False when published_at is only the fetch time

    def __post_init__(self) -> None:
        if not self.content_html:
            self.content_html = self.content
        elif not self.content:
            self.content = self.content_html
        if not self.content_text and self.content_html:
            self.content_text = html_to_text(self.content_html)


@dataclass(slots=True)
class ParsedFeed:
    title: str
    entries: list[FeedEntry]
    link: str | None = None  # the site the feed belongs to
    # feedparser's version names ("rss20", "rss10", "atom10", "atom03", "rss091u"...) or "json10"/"json11".
    version: str = ""
    # The XML was not well-formed and was read leniently (items may be missing).
    salvaged: bool = False
    entries_dropped: int = field(default=0)  # repeated entries left out (same dedup key)


FeedKind = Literal["rss", "atom", "json"]


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    url: str
    title: str | None
    kind: FeedKind
