"""The AI provider registry the agency admin manages: providers (with an encrypted key) and models.

Agency-wide, not tenant data: every client uses the same registry; which model a client uses is
chosen by its defaults (clients.*_model_id) and its style presets' overrides.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base


class ProviderKind(enum.StrEnum):
    LOCAL = "local"  # the built-in offline providers: no base URL, no key
    OPENAI_COMPATIBLE = "openai_compatible"  # OpenAI, OpenRouter, vLLM, Ollama...
    STABILITY = "stability"
    VIDEO_API = "video_api"  # submit → poll → download (Runway / Kie.ai style)


class Capability(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"


# What each kind can do, for the admin form (a model's capability must be one of these).
KIND_CAPABILITIES: dict[ProviderKind, tuple[Capability, ...]] = {
    ProviderKind.LOCAL: (Capability.TEXT, Capability.IMAGE, Capability.VIDEO),
    ProviderKind.OPENAI_COMPATIBLE: (Capability.TEXT, Capability.IMAGE),
    ProviderKind.STABILITY: (Capability.IMAGE,),
    ProviderKind.VIDEO_API: (Capability.VIDEO,),
}


class AiProvider(Base):
    __tablename__ = "ai_providers"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str | None] = mapped_column(String(2048))
    # Fernet token (app.secrets.SecretBox); never shown back in full, never logged.
    api_key: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_check_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_check_message: Mapped[str | None] = mapped_column(Text)

    models: Mapped[list[AiModel]] = relationship(
        back_populates="provider",
        lazy="selectin",
        order_by="AiModel.capability, AiModel.model",
        # A provider's models go with it (the database cascades; the ORM must not null the key first).
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class AiModel(Base):
    __tablename__ = "ai_models"
    __table_args__ = (UniqueConstraint("provider_id", "model", "capability", name="uq_ai_models_provider_model"),)

    provider_id: Mapped[UUID] = mapped_column(ForeignKey("ai_providers.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))  # the provider's own model id, e.g. "gpt-4o-mini"
    label: Mapped[str] = mapped_column(String(200))
    capability: Mapped[str] = mapped_column(String(16))
    cost_credits: Mapped[int] = mapped_column(Integer, default=1)  # per text / per image / per video
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    provider: Mapped[AiProvider] = relationship(back_populates="models", lazy="joined")
