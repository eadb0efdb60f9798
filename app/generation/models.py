from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TenantMixin


class JobStatus(enum.StrEnum):
    """The one status vocabulary of every long action (see ARCHITECTURE.md, "Jobs")."""

    RECEIVED = "RECEIVED"
    VALIDATING = "VALIDATING"
    MODERATING = "MODERATING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    UPLOADING = "UPLOADING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class JobKind(enum.StrEnum):
    GENERATE_STORY = "generate_story"
    FETCH_SOURCE = "fetch_source"


class Job(TenantMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("client_id", "idempotency_key", name="uq_jobs_client_key"),)

    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.RECEIVED, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    source_item_id: Mapped[UUID | None] = mapped_column(ForeignKey("source_items.id", ondelete="SET NULL"))
    source_id: Mapped[UUID | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    story_id: Mapped[UUID | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    requested_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
