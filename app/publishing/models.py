from __future__ import annotations

import enum
from datetime import datetime, time
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, TenantMixin


class ChannelKind(enum.StrEnum):
    READER = "reader"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"


class PublicationStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    NEEDS_ATTENTION = "needs_attention"
    CANCELED = "canceled"


class Channel(TenantMixin, Base):
    __tablename__ = "channels"
    __table_args__ = (
        # One Instagram connection per client: Instagram sources read through it, so two would
        # leave it unclear whose token is used. A double-clicked "Connect" cannot make a second.
        Index(
            "uq_channels_one_instagram_per_client",
            "client_id",
            unique=True,
            postgresql_where=text("kind = 'instagram'"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Encrypted at rest by the channel service; the built-in Reader needs none.
    credentials: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class ChannelSlot(TenantMixin, Base):
    """A weekly publishing slot of a channel: every `weekday` at `local_time` on the clocks of the
    client's time zone (app.publishing.slots turns it into instants, daylight-saving changes included).

    The time is a wall-clock TIME with no zone on purpose: the zone is the client's, read when the
    occurrences are computed, so a slot keeps its local time when the clocks change.
    """

    __tablename__ = "channel_slots"
    __table_args__ = (
        UniqueConstraint("channel_id", "weekday", "local_time", name="uq_channel_slots_channel_weekday_time"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
    )

    channel_id: Mapped[UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 = Monday … 6 = Sunday, as date.weekday()
    local_time: Mapped[time] = mapped_column(Time(timezone=False))


class Publication(TenantMixin, Base):
    __tablename__ = "publications"
    __table_args__ = (
        # One live publication of a version per channel: a double click or a retry cannot
        # schedule the same post twice.
        Index(
            "uq_publications_live_version_channel",
            "story_version_id",
            "channel_id",
            unique=True,
            postgresql_where=text("status <> 'canceled'"),
        ),
        Index("ix_publications_due", "status", "scheduled_at"),
    )

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    story_version_id: Mapped[UUID] = mapped_column(ForeignKey("story_versions.id", ondelete="CASCADE"))
    channel_id: Mapped[UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    scheduled_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default=PublicationStatus.SCHEDULED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200))
    external_url: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    channel: Mapped[Channel] = relationship(lazy="joined")
