"""The audit log: who did what to which story, when. Written by the services that make the change,
in the same transaction, so the log and the data cannot disagree."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db.base import Base, TenantMixin


class AuditEvent(TenantMixin, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_client_created", "client_id", text("created_at DESC"), text("id DESC")),
        Index("ix_audit_events_story", "story_id", text("created_at DESC")),
    )

    story_id: Mapped[UUID | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    actor_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # e.g. "submitted", "approved", "rejected", "changes_requested", "edited", "new_version"
    action: Mapped[str] = mapped_column(String(40))
    # What a person needs to understand the event: the reason, the note, the fields changed...
    details: Mapped[dict] = mapped_column(JSONB, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")
