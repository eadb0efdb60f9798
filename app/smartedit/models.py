"""Smart Edit's settings: which text model rewrites and with what system prompt.

Agency-wide, like the provider registry it points into (not tenant data, so no row-level
security): the agency admin sets them once for every client.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class SmartEditSettings(Base):
    __tablename__ = "smart_edit_settings"
    # One row at most: `singleton` is always true and unique.
    __table_args__ = (CheckConstraint("singleton", name="one_row"),)

    singleton: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true(), unique=True)
    # None: each story uses its own text model (preset override, client default, else the built-in rules).
    text_model_id: Mapped[UUID | None] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"))
    # Empty: the built-in default (app.smartedit.services.DEFAULT_SYSTEM_PROMPT).
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
