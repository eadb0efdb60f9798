from __future__ import annotations

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class User(Base):
    """A person who signs in. Global (not tenant data): one account, memberships in many clients."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_agency_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The UI language the person chose; None means "follow the browser".
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True, default=None)

    @property
    def display_name(self) -> str:
        return self.name or self.email
