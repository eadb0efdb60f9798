"""From what a format parser read (a Draft) to FeedEntry: titles, fallbacks, limits, dedup keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.i18n import gettext as _
from app.sources.parsing.markup import html_to_text, shorten
from app.sources.parsing.model import FeedEntry
from app.sources.parsing.urls import dedup_key, key_from, normalise_url

TITLE_MAX = 500  # longer "titles" are body text in the wrong element
FEED_TITLE_MAX = 300  # sources.title
URL_MAX = 2048  # the url/guid/image columns; a longer URL is dropped rather than stored cut
AUTHOR_MAX = 200
SUMMARY_FROM_CONTENT_MAX = 600


@dataclass(slots=True)
class Draft:
    """One entry as read from the document, before the shared finishing steps."""

    guid: str | None
    link: str | None  # absolute
    title: str  # plain text (may be empty)
    summary: str  # plain text (may be empty)
    content_html: str  # sanitised, links absolute
    published: datetime | None  # UTC, None when the feed gives no date
    image_url: str | None = None
    thumbnail_url: str | None = None
    author: str | None = None
    video_id: str | None = None
    content_text: str | None = None  # when the parser has it already (else made from content_html)


def _fit(url: str | None) -> str | None:
    return url if url and len(url) <= URL_MAX else None


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build_entries(drafts: list[Draft], fetched_at: datetime) -> tuple[list[FeedEntry], int]:
    """FeedEntry for each draft, one per dedup key (the first wins); returns the entries and how
    many repeats were left out.

    A guid that the same document gives to entries with *different* links is not an identifier
    (some CMSs put the site URL in every <guid>): those entries are keyed by their links instead.
    """
    normalized = [normalise_url(draft.link) if draft.link else None for draft in drafts]
    links_per_guid: dict[str, set[str | None]] = {}
    for draft, link in zip(drafts, normalized, strict=True):
        if draft.guid:
            links_per_guid.setdefault(draft.guid, set()).add(link)
    shared_guids = {guid for guid, links in links_per_guid.items() if len(links) > 1}

    fetched_at = as_utc(fetched_at)
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for draft, normalized_url in zip(drafts, normalized, strict=True):
        content_text = draft.content_text if draft.content_text is not None else html_to_text(draft.content_html)
        summary = draft.summary or shorten(content_text, SUMMARY_FROM_CONTENT_MAX)
        title = shorten(draft.title, TITLE_MAX)
        if not title:  # microblogs and some podcasts: the text's first line stands in
            first_line = (summary or content_text).split("\n", 1)[0]
            title = shorten(first_line, 120)
        # guid, else normalised link, else title + the feed's own date (see urls.dedup_key)
        if draft.guid and draft.guid not in shared_guids:
            key = key_from(draft.guid)
        elif normalized_url:
            key = key_from(normalized_url)
        else:
            key = dedup_key(None, None, title, draft.published)
        if key in seen:
            continue
        seen.add(key)
        author = shorten(draft.author, AUTHOR_MAX) if draft.author else None
        entries.append(
            FeedEntry(
                dedup_key=key,
                guid=draft.guid[:URL_MAX] if draft.guid else None,
                url=_fit(draft.link),
                title=title or _("(untitled)"),
                summary=summary,
                content=draft.content_html,
                image_url=_fit(draft.image_url),
                published_at=draft.published or fetched_at,
                normalized_url=_fit(normalized_url),
                content_html=draft.content_html,
                content_text=content_text,
                author=author,
                video_id=draft.video_id,
                thumbnail_url=_fit(draft.thumbnail_url),
                has_date=draft.published is not None,
            )
        )
    return entries, len(drafts) - len(entries)
