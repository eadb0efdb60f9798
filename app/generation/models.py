from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
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
    GENERATE_STORY = "generate_story"  # the pipeline as a whole: what the inbox shows
    FETCH_SOURCE = "fetch_source"
    # The pipeline's steps, each a job of its own (retried alone, charged alone):
    IMPORT = "import"
    NORMALIZE = "normalize"
    SEGMENT = "segment"
    PROMPTS = "prompts"
    IMAGE = "image"  # one per scene (and per variant)
    VIDEO = "video"


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
    # Pipeline steps point at their pipeline job; the pipeline job has none.
    pipeline_id: Mapped[UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    story_version_id: Mapped[UUID | None] = mapped_column(ForeignKey("story_versions.id", ondelete="CASCADE"))
    scene_id: Mapped[UUID | None] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    # Credits this step costs (the model's price when the step was planned), charged on COMPLETED.
    cost_credits: Mapped[int] = mapped_column(Integer, default=0)
    model_id: Mapped[UUID | None] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"))
    # Where the step left its output in the storage layer (import / normalize), for the next step.
    output_key: Mapped[str | None] = mapped_column(String(512))
    # The pipeline's style preset (None: the client's default, or the built-in look).
    preset_id: Mapped[UUID | None] = mapped_column(ForeignKey("style_presets.id", ondelete="SET NULL"))
    # Step parameters, e.g. {"variant": 2} for a regenerated image.
    params: Mapped[dict] = mapped_column(JSONB, default=dict)


class StylePreset(TenantMixin, Base):
    """How a client's stories look and read. Every edit bumps `revision`: assets record the
    revision they were made with, so a new revision invalidates exactly the assets of the old one."""

    __tablename__ = "style_presets"
    __table_args__ = (
        UniqueConstraint("client_id", "name", name="uq_style_presets_client_name"),
        Index("uq_style_presets_one_default", "client_id", unique=True, postgresql_where=text("is_default")),
    )

    name: Mapped[str] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))  # None: the client's language
    tone: Mapped[str] = mapped_column(String(32), default="neutral")
    length: Mapped[str] = mapped_column(String(16), default="medium")  # short / medium / long
    scene_count: Mapped[int] = mapped_column(Integer, default=3)
    image_style: Mapped[str] = mapped_column(String(200), default="")
    aspect: Mapped[str] = mapped_column(String(16), default="portrait")  # square / portrait / vertical
    hashtags: Mapped[list] = mapped_column(JSONB, default=list)  # always added, e.g. ["#Northwind"]
    brand_color: Mapped[str | None] = mapped_column(String(7))  # None: the client's colours
    accent_color: Mapped[str | None] = mapped_column(String(7))
    with_video: Mapped[bool] = mapped_column(Boolean, default=False)
    # An uploaded music track for the videos (stored through the storage layer), and its file name.
    audio_key: Mapped[str | None] = mapped_column(String(512))
    audio_name: Mapped[str | None] = mapped_column(String(200))
    max_variants_per_scene: Mapped[int] = mapped_column(Integer, default=6)
    text_model_id: Mapped[UUID | None] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"))
    image_model_id: Mapped[UUID | None] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"))
    video_model_id: Mapped[UUID | None] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"))


class CreditCharge(TenantMixin, Base):
    """One charge on a client's monthly credits: made when a job COMPLETES, at most once per job."""

    __tablename__ = "credit_ledger"
    __table_args__ = (UniqueConstraint("job_id", name="uq_credit_ledger_job"),)

    job_id: Mapped[UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    story_id: Mapped[UUID | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    amount: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
