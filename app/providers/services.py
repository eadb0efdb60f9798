"""Which model does a client's generation use, what does it cost, and the provider object to call.

Resolution per capability: the style preset's override, else the client's default, else the
built-in local model (seeded by the migration as the provider "Built-in (offline)").
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai.base import ImageProvider, ProviderError, TextProvider, get_image_provider, get_text_provider
from app.i18n import gettext as _
from app.providers.models import AiModel, AiProvider, Capability, ProviderKind
from app.secrets import SecretBox

LOCAL_PROVIDER_NAME = "Built-in (offline)"


@dataclass(frozen=True)
class ModelChoice:
    """A resolved model: enough to plan (cost, label) and, in the worker, to build the provider."""

    model_id: UUID | None
    capability: str
    provider_kind: str
    model: str
    label: str
    cost_credits: int


async def _local_model(session: AsyncSession, capability: str) -> AiModel | None:
    return (
        await session.execute(
            select(AiModel)
            .join(AiProvider)
            .where(AiProvider.kind == ProviderKind.LOCAL, AiModel.capability == capability)
            .order_by(AiModel.created_at)
            .limit(1)
        )
    ).scalar_one_or_none()


def _choice(model: AiModel) -> ModelChoice:
    return ModelChoice(
        model_id=model.id,
        capability=model.capability,
        provider_kind=model.provider.kind,
        model=model.model,
        label=f"{model.provider.name} · {model.label}",
        cost_credits=model.cost_credits,
    )


async def resolve_model(session: AsyncSession, capability: Capability, *candidates: UUID | None) -> ModelChoice:
    """The first usable model among `candidates` (preset override, client default...), else local."""
    for model_id in candidates:
        if model_id is None:
            continue
        model = await session.get(AiModel, model_id)
        if model is not None and model.enabled and model.provider.enabled and model.capability == capability:
            return _choice(model)
    local = await _local_model(session, capability)
    if local is not None:
        return _choice(local)
    # A database without the seeded row (should not happen after migrations): still offline-capable.
    return ModelChoice(None, capability, ProviderKind.LOCAL, f"local-{capability}", _("Built-in"), 0)


async def text_provider_for(session: AsyncSession, choice: ModelChoice, box: SecretBox | None) -> TextProvider:
    if choice.provider_kind == ProviderKind.LOCAL:
        return get_text_provider("local")
    return await _http_provider(session, choice, box)


async def image_provider_for(session: AsyncSession, choice: ModelChoice, box: SecretBox | None) -> ImageProvider:
    if choice.provider_kind == ProviderKind.LOCAL:
        return get_image_provider("local")
    return await _http_provider(session, choice, box)


async def _http_provider(session: AsyncSession, choice: ModelChoice, box: SecretBox | None):  # noqa: ANN202
    """The HTTP adapter for the chosen model, with the provider's decrypted key (in memory only)."""
    from app.ai.http import openai_compatible, stability, video_api

    model = await session.get(AiModel, choice.model_id) if choice.model_id else None
    provider = model.provider if model else None
    if provider is None or not provider.base_url:
        raise ProviderError(
            _("The provider of %(model)s has no address; the agency admin must set one.", model=choice.label)
        )
    api_key = ""
    if provider.api_key:
        if box is None:
            raise ProviderError(_("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."))
        api_key = box.decrypt(provider.api_key)
    factories = {
        (ProviderKind.OPENAI_COMPATIBLE, Capability.TEXT): openai_compatible.openai_text_provider,
        (ProviderKind.OPENAI_COMPATIBLE, Capability.IMAGE): openai_compatible.openai_image_provider,
        (ProviderKind.STABILITY, Capability.IMAGE): stability.stability_image_provider,
        (ProviderKind.VIDEO_API, Capability.VIDEO): video_api.runway_video_provider,
    }
    factory = factories.get((ProviderKind(provider.kind), Capability(choice.capability)))
    if factory is None:
        raise ProviderError(
            _("%(provider)s cannot make %(what)s.", provider=provider.name, what=choice.capability), retryable=False
        )
    return factory(provider.base_url, api_key, choice.model)
