from __future__ import annotations

import enum
from uuid import UUID

from advanced_alchemy.types import GUID
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TenantMixin


class StoryStatus(enum.StrEnum):
    # Being made by the generation pipeline: not in the queue until every step has completed, so
    # a failed generation leaves nothing half-made in sight.
    GENERATING = "generating"
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    REJECTED = "rejected"


class Story(TenantMixin, Base):
    __tablename__ = "stories"
    __table_args__ = (
        # The moderation queue's keyset pages: per status tab, and the "All" tab.
        Index("ix_stories_client_status_created", "client_id", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_stories_client_created", "client_id", text("created_at DESC"), text("id DESC")),
    )

    status: Mapped[str] = mapped_column(String(24), default=StoryStatus.DRAFT, index=True)
    source_item_id: Mapped[UUID | None] = mapped_column(ForeignKey("source_items.id", ondelete="SET NULL"))
    current_version_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("story_versions.id", use_alter=True, name="fk_stories_current_version", ondelete="SET NULL")
    )
    published_version_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("story_versions.id", use_alter=True, name="fk_stories_published_version", ondelete="SET NULL")
    )
    created_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    current_version: Mapped[StoryVersion | None] = relationship(
        foreign_keys=[current_version_id], lazy="joined", post_update=True
    )
    published_version: Mapped[StoryVersion | None] = relationship(
        foreign_keys=[published_version_id], lazy="raise", post_update=True
    )


class StoryVersion(TenantMixin, Base):
    """One version of a story's content. A published version is frozen and never edited."""

    __tablename__ = "story_versions"
    __table_args__ = (
        UniqueConstraint("story_id", "number", name="uq_story_versions_story_number"),
        # The client first (btree_gin, see the migration): other clients' matches are never read.
        Index("ix_story_versions_search", "client_id", "search", postgresql_using="gin"),
    )

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300))
    lead: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    captions: Mapped[dict] = mapped_column(JSONB, default=dict)
    hashtags: Mapped[list] = mapped_column(JSONB, default=list)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    # The style preset (and its revision) the version was generated with.
    preset_id: Mapped[UUID | None] = mapped_column(ForeignKey("style_presets.id", ondelete="SET NULL"))
    preset_revision: Mapped[int] = mapped_column(Integer, default=0)
    # The queue's search, kept by PostgreSQL. "simple": no stemming, so a word of either language
    # matches as written. Only the first 100k characters of the body: a book-length upload would
    # otherwise approach tsvector's 1 MB limit and refuse the insert. Stored (not an expression
    # index) so that under row-level security only `@@` has to be LEAKPROOF (see app.db.bootstrap).
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed("to_tsvector('simple', title || ' ' || lead || ' ' || left(body, 100000))", persisted=True),
        deferred=True,
    )

    assets: Mapped[list[Asset]] = relationship(
        lazy="selectin", order_by="Asset.scene_position", foreign_keys="Asset.story_version_id"
    )
    scenes: Mapped[list[Scene]] = relationship(
        lazy="selectin", order_by="Scene.position", foreign_keys="Scene.story_version_id"
    )

    @property
    def cover(self) -> Asset | None:
        """The first scene's headliner, else the first current image."""
        for scene in self.scenes:
            headliner = scene.headliner(self.assets)
            if headliner is not None:
                return headliner
        return next((a for a in self.assets if a.kind == "image" and not a.stale), None)


class Scene(TenantMixin, Base):
    """One scene of a version: its text, its image prompt and (through assets) its variants."""

    __tablename__ = "scenes"
    __table_args__ = (UniqueConstraint("story_version_id", "position", name="uq_scenes_version_position"),)

    story_version_id: Mapped[UUID] = mapped_column(ForeignKey("story_versions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    image_prompt: Mapped[str] = mapped_column(Text, default="")
    # Bumped when the text changes: assets made for an older revision are stale (that scene only).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    headliner_asset_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("assets.id", use_alter=True, name="fk_scenes_headliner_asset", ondelete="SET NULL")
    )

    def variants(self, assets: list[Asset]) -> list[Asset]:
        """This scene's current images, oldest variant first."""
        return sorted(
            (a for a in assets if a.scene_id == self.id and a.kind == "image" and not a.stale),
            key=lambda a: a.variant,
        )

    def headliner(self, assets: list[Asset]) -> Asset | None:
        current = self.variants(assets)
        chosen = next((a for a in current if a.id == self.headliner_asset_id), None)
        return chosen or (current[0] if current else None)


class Asset(TenantMixin, Base):
    """A stored media object. Its idempotency key makes re-running a job never duplicate it."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("client_id", "idempotency_key", name="uq_assets_client_key"),)

    story_version_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("story_versions.id", ondelete="CASCADE"), index=True
    )
    scene_position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="image")
    storage_key: Mapped[str] = mapped_column(String(512))
    mime: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(64), default="local")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text, default="")
    scene_id: Mapped[UUID | None] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"), index=True)
    variant: Mapped[int] = mapped_column(Integer, default=0)
    format: Mapped[str] = mapped_column(String(16), default="")  # "1080x1350"
    model: Mapped[str] = mapped_column(String(200), default="")
    seed: Mapped[int] = mapped_column(Integer, default=0)
    favourite: Mapped[bool] = mapped_column(Boolean, default=False)
    preset_revision: Mapped[int] = mapped_column(Integer, default=0)
    scene_revision: Mapped[int] = mapped_column(Integer, default=0)
    # Made for an older scene text or preset revision: kept (favourites, history) but not current.
    stale: Mapped[bool] = mapped_column(Boolean, default=False)


# The queue's tab counts, kept by triggers on `stories` (see the migration that made this table).
# Counting a client's stories per status on every page scans all of them (60 ms at 100k); instead
# every insert, status change or delete appends (client, status, ±n) here, with no lock on a shared
# counter row, and `compact_story_status_counts()` (a cron job) folds the rows into one per status.
story_status_counts = Table(
    "story_status_counts",
    Base.metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("client_id", GUID, ForeignKey("clients.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(24), nullable=False),
    Column("delta", Integer, nullable=False),
    info={"tenant": True},
)
