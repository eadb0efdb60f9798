"""The inbox: every item of a client, searchable and filterable, paged by keyset.

Keyset paging (published_at, id) keeps every page as fast as the first at 100k items: the
`ix_source_items_client_published` index serves the order and the cursor, no OFFSET scan.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import func, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.sources.models import ItemStatus, SourceItem
from app.sources.services import SourceItemRepository

PAGE_SIZE = 50


@dataclass
class InboxFilters:
    q: str = ""
    source_id: UUID | None = None
    status: str = ""
    duplicates: str = ""  # "" (show all), "hide", "only"
    date_from: date | None = None
    date_to: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, params: dict[str, str]) -> InboxFilters:
        filters = cls(q=params.get("q", "").strip()[:200])
        if params.get("source"):
            try:
                filters.source_id = UUID(params["source"])
            except ValueError:
                filters.errors["source"] = "source"
        if params.get("status") in {s.value for s in ItemStatus}:
            filters.status = params["status"]
        if params.get("duplicates") in {"hide", "only"}:
            filters.duplicates = params["duplicates"]
        for name in ("date_from", "date_to"):
            if params.get(name):
                try:
                    setattr(filters, name, date.fromisoformat(params[name]))
                except ValueError:
                    filters.errors[name] = name
        return filters

    def query_string(self) -> str:
        from urllib.parse import urlencode

        pairs = {
            "q": self.q,
            "source": str(self.source_id) if self.source_id else "",
            "status": self.status,
            "duplicates": self.duplicates,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


def encode_cursor(item: SourceItem) -> str:
    raw = f"{item.published_at.isoformat()}|{item.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        published, item_id = raw.split("|", 1)
        return datetime.fromisoformat(published), UUID(item_id)
    except (ValueError, UnicodeDecodeError):
        return None  # a mangled cursor means "first page", not an error page


@dataclass
class InboxPage:
    items: list[SourceItem]
    next_cursor: str | None


async def inbox_page(
    session: AsyncSession,
    client_id: UUID,
    filters: InboxFilters,
    *,
    timezone: str,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> InboxPage:
    repo = SourceItemRepository(session, client_id)
    where = []
    if filters.q:
        # Russian and English stemming both: an editor may search either language in one box.
        query = func.websearch_to_tsquery("russian", filters.q).op("||")(
            func.websearch_to_tsquery("english", filters.q)
        )
        where.append(SourceItem.search.op("@@")(query))
    if filters.source_id:
        where.append(SourceItem.source_id == filters.source_id)
    if filters.status:
        where.append(SourceItem.status == filters.status)
    if filters.duplicates == "hide":
        where.append(SourceItem.duplicate_of_id.is_(None))
    elif filters.duplicates == "only":
        where.append(SourceItem.duplicate_of_id.is_not(None))
    zone = ZoneInfo(timezone)
    if filters.date_from:
        where.append(SourceItem.published_at >= datetime.combine(filters.date_from, time.min, zone))
    if filters.date_to:
        where.append(SourceItem.published_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, zone))
    position = decode_cursor(cursor) if cursor else None
    if position:
        where.append(tuple_(SourceItem.published_at, SourceItem.id) < tuple_(*position))
    rows = await repo.list(*where, order_by=[SourceItem.published_at.desc(), SourceItem.id.desc()], limit=page_size + 1)
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    return InboxPage(items=rows, next_cursor=encode_cursor(rows[-1]) if has_more and rows else None)
