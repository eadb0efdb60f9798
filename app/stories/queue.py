"""The moderation queue: a client's stories by status tab, searchable, paged by keyset.

Keyset paging on (created_at, id) keeps the hundredth page as fast as the first at 100k stories:
no OFFSET scan, the cursor is a position in the index order. Counts per status come from one
GROUP BY. Every page costs the same fixed number of queries, whatever its size.

Indexes this wants (not yet in a migration; see the moderation issue's queue notes):

    CREATE INDEX ix_stories_client_status_created ON stories (client_id, status, created_at DESC, id DESC);
    CREATE INDEX ix_stories_client_created ON stories (client_id, created_at DESC, id DESC);
    CREATE INDEX ix_story_versions_search ON story_versions
        USING gin (to_tsvector('simple', title || ' ' || lead || ' ' || body));

The search expression below must stay character for character the indexed one. Under row-level
security PostgreSQL uses that index only if to_tsvector(regconfig, text), textcat and ts_match_vq
are LEAKPROOF (they are not by default); see the report of the moderation issue's queue part.
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
from sqlalchemy import ColumnElement, func, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from app.i18n import gettext as _
from app.sources.models import Source, SourceItem
from app.stories import services
from app.stories.models import Story, StoryVersion

PAGE_SIZE = 50
# Stories being made by the pipeline are not in the queue (the inbox shows their job).
HIDDEN = "generating"
# The tabs, by status value: "in_review" is shown before the workflow makes any such story.
TABS = ("draft", "in_review", "approved", "scheduled", "published", "rejected")
# No stemming: a word of either language matches as written (case-insensitive), in one index.
SIMPLE = literal_column("'simple'::regconfig")


def search_vector() -> ColumnElement[Any]:
    """title + lead + body of the joined version, as the GIN index in the module docstring has it."""
    # Constants as SQL literals, not bound parameters: the planner matches an expression index only
    # against the same constants. No COALESCE (the columns are NOT NULL): row-level security lets
    # an index serve a condition only if all of it is leakproof, and COALESCE never counts as such.
    space = literal_column("' '")
    text = StoryVersion.title.op("||")(space).op("||")(StoryVersion.lead).op("||")(space).op("||")(StoryVersion.body)
    return func.to_tsvector(SIMPLE, text)


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


def encode_cursor(story: Story) -> str:
    raw = f"{story.created_at.isoformat()}|{story.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, story_id = raw.split("|", 1)
        return datetime.fromisoformat(created), UUID(story_id)
    except (ValueError, UnicodeDecodeError):
        return None  # a mangled cursor means "first page", not an error page


@dataclass
class QueuePage:
    stories: list[Story]
    next_cursor: str | None
    counts: dict[str, int]  # by status value, plus "" for All
    source_titles: dict[UUID, str]  # story id -> its source's title

    @property
    def tabs(self) -> list[tuple[str, int]]:
        """The fixed tabs, then any other status that has stories (a new workflow state), then All."""
        extra = sorted(s for s in self.counts if s and s not in TABS)
        return [(s, self.counts.get(s, 0)) for s in (*TABS, *extra)] + [("", self.counts.get("", 0))]


def _narrowing(filters: QueueFilters, *, user_id: UUID | None, timezone: str) -> list[Any]:
    """Every filter but the status tab: the counts of the tabs respect them too."""
    where: list[Any] = [Story.status != HIDDEN]
    if filters.q:
        where.append(search_vector().op("@@")(func.plainto_tsquery(SIMPLE, filters.q)))
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
    """One page of the queue: 3 queries for the rows (+ covers' assets and scenes), 1 for counts, 1 for sources."""
    narrowing = _narrowing(filters, user_id=user_id, timezone=timezone)

    # The explicit join serves search and the eager load at once (no second join of versions). An
    # inner one when searching: the search condition (non-strict, it coalesces) would otherwise stay
    # above an outer join, be computed for every story, and never reach the GIN index.
    def with_version(stmt: Any) -> Any:
        on = StoryVersion.id == Story.current_version_id
        return stmt.join(StoryVersion, on) if filters.q else stmt.outerjoin(StoryVersion, on)

    base = with_version(select(Story)).where(Story.client_id == client_id, *narrowing)
    counts_stmt = select(Story.status, func.count()).select_from(Story)
    if filters.q:  # only search needs the version's text
        counts_stmt = with_version(counts_stmt)
    counts_stmt = counts_stmt.where(Story.client_id == client_id, *narrowing).group_by(Story.status)
    counts = {status: total for status, total in (await session.execute(counts_stmt)).all()}
    counts[""] = sum(counts.values())

    stmt = base.options(contains_eager(Story.current_version))
    if filters.status:
        stmt = stmt.where(Story.status == filters.status)
    position = decode_cursor(after) if after else None
    if position:
        stmt = stmt.where(tuple_(Story.created_at, Story.id) < tuple_(*position))
    stmt = stmt.order_by(Story.created_at.desc(), Story.id.desc()).limit(limit + 1)
    # StoryVersion.assets and .scenes load by selectin: two more queries for the covers, any page size.
    stories = list((await session.execute(stmt)).unique().scalars())
    has_more = len(stories) > limit
    stories = stories[:limit]

    titles = await source_titles(session, client_id, stories)
    return QueuePage(
        stories=stories,
        next_cursor=encode_cursor(stories[-1]) if has_more and stories else None,
        counts=counts,
        source_titles=titles,
    )


async def source_titles(session: AsyncSession, client_id: UUID, stories: list[Story]) -> dict[UUID, str]:
    """Story id -> the title of the source its item came from, in one query."""
    item_ids = {s.source_item_id for s in stories if s.source_item_id}
    if not item_ids:
        return {}
    rows = await session.execute(
        select(SourceItem.id, Source.title)
        .join(Source, Source.id == SourceItem.source_id)
        .where(SourceItem.client_id == client_id, SourceItem.id.in_(item_ids))
    )
    by_item = {item_id: title for item_id, title in rows.all()}
    return {s.id: by_item[s.source_item_id] for s in stories if s.source_item_id in by_item}


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
