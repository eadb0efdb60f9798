"""The moderation queue: a client's stories by status tab, searchable, paged by keyset.

Keyset paging on (created_at, id) keeps the hundredth page as fast as the first at 100k stories:
no OFFSET scan, the cursor is a position in the index order (ix_stories_client_status_created,
ix_stories_client_created). A page reads only what its rows show: the title (never a body, which
can be a book), the cover asset and the source's title. The tab counts come from
`story_status_counts`, kept by triggers; a narrowed view (search, dates, source, mine) counts its
matches up to COUNT_CAP instead, so a common word never makes the page count 100k rows.

Search uses the stored `story_versions.search` through a GIN index on (client_id, search). Under
row-level security PostgreSQL uses it only if `@@` (ts_match_vq) is LEAKPROOF; app.db.bootstrap
marks it so.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.i18n import gettext as _
from app.sources.models import Source, SourceItem
from app.stories import services
from app.stories.models import Asset, Scene, Story, StoryVersion, story_status_counts

PAGE_SIZE = 50
# Stories being made by the pipeline are not in the queue (the inbox shows their job).
HIDDEN = "generating"
# The tabs, by status value: "in_review" is shown before the workflow makes any such story.
TABS = ("draft", "in_review", "approved", "scheduled", "published", "rejected")
# No stemming: a word of either language matches as written (case-insensitive), as the column has it.
SIMPLE = literal_column("'simple'::regconfig")
# A narrowed view counts its matches up to this many; beyond it the page says "1000+".
COUNT_CAP = 1_000


@dataclass
class QueueFilters:
    status: str = ""  # "" is the All tab
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    source_id: UUID | None = None
    mine: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, params: dict[str, str]) -> QueueFilters:
        filters = cls(q=params.get("q", "").strip()[:200], mine=params.get("mine") == "1")
        status = params.get("status", "")
        # Any known-looking value passes (the workflow adds statuses); "generating" never does.
        if status and status != HIDDEN and status.replace("_", "").isalpha() and len(status) <= 32:
            filters.status = status
        if params.get("source"):
            try:
                filters.source_id = UUID(params["source"])
            except ValueError:
                filters.errors["source"] = "source"
        for name in ("date_from", "date_to"):
            if params.get(name):
                try:
                    setattr(filters, name, date.fromisoformat(params[name]))
                except ValueError:
                    filters.errors[name] = name
        return filters

    def query_string(self, *, status: str | None = None) -> str:
        """These filters as a query string; `status` swaps the tab and keeps the rest."""
        pairs = {
            "status": self.status if status is None else status,
            "q": self.q,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "source": str(self.source_id) if self.source_id else "",
            "mine": "1" if self.mine else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    @property
    def narrowed(self) -> bool:
        """Anything beyond the tab: the empty state then offers to clear the filters."""
        return bool(self.q or self.date_from or self.date_to or self.source_id or self.mine)


def encode_cursor(row: QueueRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, story_id = raw.split("|", 1)
        return datetime.fromisoformat(created), UUID(story_id)
    except (ValueError, UnicodeDecodeError):
        return None  # a mangled cursor means "first page", not an error page


@dataclass(frozen=True)
class CoverImage:
    """The one asset a queue row shows; enough for `services.asset_urls`."""

    id: UUID
    storage_key: str


@dataclass(frozen=True)
class QueueRow:
    """What one line of the queue shows, read in one query with the page."""

    id: UUID
    status: str
    created_at: datetime
    title: str | None  # None: the story has no version yet
    cover: CoverImage | None
    source_title: str


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    counts: dict[str, int]  # by status value, plus "" for All
    # A narrowed view counts up to COUNT_CAP matches: then the tabs show no per-status figures.
    counts_capped: bool = False

    @property
    def tabs(self) -> list[tuple[str, int | None]]:
        """The fixed tabs, then any other status that has stories (a new workflow state), then All."""
        extra = sorted(s for s in self.counts if s and s not in TABS)
        per_status = [(s, None if self.counts_capped else self.counts.get(s, 0)) for s in (*TABS, *extra)]
        return [*per_status, ("", self.counts.get("", 0))]


def _narrowing(filters: QueueFilters, *, user_id: UUID | None, timezone: str) -> list[Any]:
    """Every filter but the status tab and the search: the counts of the tabs respect them too."""
    where: list[Any] = [Story.status != HIDDEN]
    zone = ZoneInfo(timezone)
    if filters.date_from:
        where.append(Story.created_at >= datetime.combine(filters.date_from, time.min, zone))
    if filters.date_to:
        where.append(Story.created_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, zone))
    if filters.source_id:
        where.append(Story.source_item_id.in_(select(SourceItem.id).where(SourceItem.source_id == filters.source_id)))
    if filters.mine:
        where.append(Story.created_by_id == user_id)
    return where


async def _rows(session: AsyncSession, page: Any) -> list[QueueRow]:
    """The page's stories (a subquery of ids in order) with title, cover and source title."""
    # The cover, as StoryVersion.cover picks it: the first scene (by position) with a current image,
    # its headliner if that is current, else its first variant; else the first current image.
    scene = aliased(Scene)
    cover = (
        select(Asset.id.label("cover_id"), Asset.storage_key.label("cover_key"))
        .outerjoin(scene, scene.id == Asset.scene_id)
        .where(Asset.story_version_id == Story.current_version_id, Asset.kind == "image", Asset.stale.is_(False))
        .order_by(
            scene.position.asc().nulls_last(),
            func.coalesce(Asset.id == scene.headliner_asset_id, False).desc(),
            Asset.variant,
            Asset.scene_position,
        )
        .limit(1)
        .lateral("cover")
    )
    stmt = (
        select(
            Story.id,
            Story.status,
            Story.created_at,
            StoryVersion.title,
            cover.c.cover_id,
            cover.c.cover_key,
            Source.title,
        )
        .select_from(page)
        .join(Story, Story.id == page.c.id)
        .outerjoin(StoryVersion, StoryVersion.id == Story.current_version_id)
        .outerjoin(cover, literal_column("true"))
        .outerjoin(SourceItem, SourceItem.id == Story.source_item_id)
        .outerjoin(Source, Source.id == SourceItem.source_id)
        .order_by(Story.created_at.desc(), Story.id.desc())
    )
    return [
        QueueRow(
            id=story_id,
            status=status,
            created_at=created_at,
            title=title,
            cover=CoverImage(cover_id, cover_key) if cover_id else None,
            source_title=source_title or "",
        )
        for story_id, status, created_at, title, cover_id, cover_key, source_title in await session.execute(stmt)
    ]


async def status_counts(session: AsyncSession, client_id: UUID) -> dict[str, int]:
    """Stories per status from the trigger-kept table: a few rows, whatever the client's size."""
    delta = story_status_counts.c.delta
    rows = await session.execute(
        select(story_status_counts.c.status, func.sum(delta))
        .where(story_status_counts.c.client_id == client_id, story_status_counts.c.status != HIDDEN)
        .group_by(story_status_counts.c.status)
        .having(func.sum(delta) != 0)
    )
    return {status: int(total) for status, total in rows.all()}


async def compact_status_counts(session: AsyncSession) -> int:
    """Fold the appended count rows into one per (client, status); returns how many rows went."""
    return int((await session.execute(select(func.compact_story_status_counts()))).scalar_one())


def _search_matches(client_id: UUID, q: str) -> Any:
    """The client's versions whose text matches, at most COUNT_CAP + 1 of them (GIN index)."""
    query = func.plainto_tsquery(SIMPLE, q)
    return (
        select(StoryVersion.id.label("version_id"), StoryVersion.story_id)
        .where(StoryVersion.client_id == client_id, StoryVersion.search.op("@@")(query))
        .limit(COUNT_CAP + 1)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )


async def queue_page(
    session: AsyncSession,
    client_id: UUID,
    filters: QueueFilters,
    *,
    after: str | None = None,
    limit: int = PAGE_SIZE,
    user_id: UUID | None = None,
    timezone: str = "UTC",
) -> QueuePage:
    """One page of the queue: the counts, and the rows with what they show (one more query to size a search)."""
    narrowing = _narrowing(filters, user_id=user_id, timezone=timezone)
    others = bool(filters.date_from or filters.date_to or filters.source_id or filters.mine)

    # A search is planned by how many versions match, which PostgreSQL's estimates get wrong either
    # way: a few matches (up to COUNT_CAP) drive the query from the GIN index to the stories by
    # primary key; many are dense enough that walking the stories in page order finds a page at once.
    matches = _search_matches(client_id, filters.q) if filters.q else None
    few_matches = False
    if matches is not None:
        found = (await session.execute(select(func.count()).select_from(matches))).scalar_one()
        few_matches = found <= COUNT_CAP

    def scoped(stmt: Any) -> Any:
        if matches is not None and few_matches:
            on = (Story.id == matches.c.story_id) & (Story.current_version_id == matches.c.version_id)
            stmt = stmt.join(matches, on)
        elif matches is not None:
            # COALESCE hides the condition from the GIN index: the planner must walk the stories in
            # page order (it would otherwise fetch and sort every match of a common word).
            query = func.plainto_tsquery(SIMPLE, filters.q)
            stmt = stmt.join(StoryVersion, StoryVersion.id == Story.current_version_id)
            stmt = stmt.where(func.coalesce(StoryVersion.search.op("@@")(query), False))
        return stmt.where(Story.client_id == client_id, *narrowing)

    capped = False
    if not filters.narrowed:
        counts = await status_counts(session, client_id)
    elif matches is not None and not few_matches and not others:
        counts, capped = {}, True  # more than COUNT_CAP match: "1000+", no per-tab figures
    else:
        limited = scoped(select(Story.status).select_from(Story))
        if not few_matches:
            limited = limited.limit(COUNT_CAP + 1)
        limited = limited.subquery()
        counts_stmt = select(limited.c.status, func.count()).group_by(limited.c.status)
        counts = {status: total for status, total in (await session.execute(counts_stmt)).all()}
        capped = sum(counts.values()) > COUNT_CAP
    counts[""] = COUNT_CAP if capped else sum(counts.values())

    ids = scoped(select(Story.id, Story.created_at).select_from(Story))
    if filters.status:
        ids = ids.where(Story.status == filters.status)
    position = decode_cursor(after) if after else None
    if position:
        ids = ids.where(tuple_(Story.created_at, Story.id) < tuple_(*position))
    ids = ids.order_by(Story.created_at.desc(), Story.id.desc()).limit(limit + 1)
    rows = await _rows(session, ids.subquery("page"))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return QueuePage(
        rows=rows,
        next_cursor=encode_cursor(rows[-1]) if has_more and rows else None,
        counts=counts,
        counts_capped=capped,
    )


async def queue_row(session: AsyncSession, client_id: UUID, story_id: UUID) -> QueueRow | None:
    """One row, as the page shows it (the answer to a keyboard approve / reject)."""
    only = select(Story.id, Story.created_at).where(Story.client_id == client_id, Story.id == story_id)
    rows = await _rows(session, only.subquery("page"))
    return rows[0] if rows else None


@dataclass
class BulkOutcome:
    done: list[UUID] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # reason -> how many stories


async def bulk_transition(
    session: AsyncSession,
    client_id: UUID,
    story_ids: list[UUID],
    action: str,
    *,
    actor_id: UUID | None,
    reason: str = "",
) -> BulkOutcome:
    """Approve or reject each story under the same rules as one at a time (a rejection needs its
    reason, recorded in the audit log for each story); a refusal skips that story only."""

    async def change(story: Story) -> None:
        if action == "approve":
            await services.approve(session, story, actor_id)
        else:
            await services.reject(session, story, actor_id, reason)

    outcome = BulkOutcome()
    # Sorted ids: two editors bulk-moving overlapping selections lock rows in the same order.
    for story_id in sorted(set(story_ids)):
        try:
            story = await services.get_story(session, client_id, story_id, for_update=True)
            await change(story)
        except services.WorkflowError as exc:
            outcome.refused[exc.message] = outcome.refused.get(exc.message, 0) + 1
            continue
        except NotFoundError:
            reason = _("The story no longer exists.")
            outcome.refused[reason] = outcome.refused.get(reason, 0) + 1
            continue
        outcome.done.append(story_id)
    await session.flush()
    return outcome
