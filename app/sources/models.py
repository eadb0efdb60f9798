from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Computed, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TenantMixin


class SourceKind(enum.StrEnum):
    FEED = "feed"
    YOUTUBE = "youtube"
    JSON_API = "json_api"
    INSTAGRAM = "instagram"
    UPLOAD = "upload"


MIN_INTERVAL_MINUTES = 5
DEFAULT_INTERVAL_MINUTES = 15


class ItemStatus(enum.StrEnum):
    NEW = "new"
    GENERATING = "generating"
    DRAFTED = "drafted"
    IGNORED = "ignored"


class Source(TenantMixin, Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("client_id", "url", name="uq_sources_client_url"),)

    kind: Mapped[str] = mapped_column(String(16), default=SourceKind.FEED)
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(300), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the source stopped (410 Gone, 404 for a day...), shown to the owner.
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_INTERVAL_MINUTES)
    # Kind-specific settings (field mapping, encrypted header value, username), filters and switches.
    settings: Mapped[dict] = mapped_column(JSONB, default=dict)
    include_keywords: Mapped[list] = mapped_column(JSONB, default=list)
    exclude_keywords: Mapped[list] = mapped_column(JSONB, default=list)
    auto_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    # First 404 of the current run of 404s: the same 404 for a day disables the source.
    not_found_since: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    next_fetch_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    last_fetched_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    items_found_last: Mapped[int] = mapped_column(Integer, default=0)
    items_new_last: Mapped[int] = mapped_column(Integer, default=0)


class SourceItem(TenantMixin, Base):
    __tablename__ = "source_items"
    __table_args__ = (
        UniqueConstraint("source_id", "dedup_key", name="uq_source_items_source_dedup"),
        # The inbox's keyset order, per client.
        Index("ix_source_items_client_published", "client_id", text("published_at DESC"), text("id DESC")),
        Index("ix_source_items_client_normalized_url", "client_id", "normalized_url"),
        Index("ix_source_items_search", "search", postgresql_using="gin"),
    )

    source_id: Mapped[UUID] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    # guid when the feed gives one, else the link: the same entry lands once per source.
    dedup_key: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str | None] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(1000), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    # Sanitised HTML (safe to render) and the same as plain text.
    content: Mapped[str] = mapped_column(Text, default="")
    content_text: Mapped[str] = mapped_column(Text, default="")
    # Scheme/host case and tracking parameters removed: the same article from two sources matches.
    normalized_url: Mapped[str | None] = mapped_column(String(2048))
    duplicate_of_id: Mapped[UUID | None] = mapped_column(ForeignKey("source_items.id", ondelete="SET NULL"))
    # Kind-specific extras: video id, thumbnail, author...
    extra: Mapped[dict] = mapped_column(JSONB, default=dict)
    # Full-text search in Russian and English (the inbox's search box); kept by PostgreSQL itself.
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('russian', coalesce(title, '') || ' ' || coalesce(summary, '')) || "
            "to_tsvector('english', coalesce(title, '') || ' ' || coalesce(summary, ''))",
            persisted=True,
        ),
        deferred=True,
    )
    image_url: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.NEW)

    source: Mapped[Source] = relationship(lazy="joined")
