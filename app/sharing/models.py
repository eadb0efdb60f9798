from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TenantMixin


class ShareLink(TenantMixin, Base):
    """A read-only review link of one story. Only the token's hash is stored; revoking deletes the row."""

    __tablename__ = "share_links"

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    # Who the link is for ("Anna at the client"), so editors can tell links and their comments apart.
    label: Mapped[str] = mapped_column(String(80), default="")
    created_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Comment(TenantMixin, Base):
    """A comment on a story: from a guest through a share link (kept when the link is revoked)."""

    __tablename__ = "comments"

    story_id: Mapped[UUID] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    share_link_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("share_links.id", ondelete="SET NULL"), index=True, nullable=True
    )
    user_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
