from __future__ import annotations

import enum
from uuid import UUID

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TenantMixin


class StoryStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    REJECTED = "rejected"


class Story(TenantMixin, Base):
    __tablename__ = "stories"

    status: Mapped[str] = mapped_column(String(16), default=StoryStatus.DRAFT, index=True)
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
    __table_args__ = (UniqueConstraint("story_id", "number", name="uq_story_versions_story_number"),)

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(300))
    lead: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    captions: Mapped[dict] = mapped_column(JSONB, default=dict)
    hashtags: Mapped[list] = mapped_column(JSONB, default=list)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)

    assets: Mapped[list[Asset]] = relationship(
        lazy="selectin", order_by="Asset.scene_position", foreign_keys="Asset.story_version_id"
    )

    @property
    def cover(self) -> Asset | None:
        return next((a for a in self.assets if a.kind == "image"), None)


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
