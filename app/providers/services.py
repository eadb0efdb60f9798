"""Which model does a client's generation use, what does it cost, and the provider object to call.

Resolution per capability: the style preset's override, else the client's default, else the
built-in local model (seeded by the migration as the provider "Built-in (offline)").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.base import ImageProvider, ProviderError, TextProvider, get_image_provider, get_text_provider
from app.i18n import gettext as _
from app.providers.models import KIND_CAPABILITIES, AiModel, AiProvider, Capability, ProviderKind
from app.secrets import SecretBox

if TYPE_CHECKING:
    from app.ai.http.common import ConnectionCheck

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


# --- the registry the agency admin manages (app.providers.controllers) -----------------------------

CHECK_TIMEOUTS_S = {"connect": 5.0, "read": 15.0, "write": 15.0, "total": 20.0}
MAX_COST_CREDITS = 100_000


class FormErrors(Exception):
    """Field name → message, shown beside the fields."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def is_builtin(provider: AiProvider) -> bool:
    """The seeded offline provider: no address, no key, cannot be deleted."""
    return provider.kind == ProviderKind.LOCAL


def allowed_capabilities(kind: str) -> tuple[Capability, ...]:
    try:
        return KIND_CAPABILITIES[ProviderKind(kind)]
    except ValueError:
        return ()


async def list_providers(session: AsyncSession) -> list[AiProvider]:
    """Every provider with its models: the built-in one first, then by name."""
    rows = await session.execute(select(AiProvider).order_by((AiProvider.kind != ProviderKind.LOCAL), AiProvider.name))
    return list(rows.scalars())


def key_hint(provider: AiProvider, box: SecretBox | None) -> tuple[str, str | None]:
    """(what the page shows of the stored key, a problem with it): "••••abcd", never the key."""
    from app.secrets import SecretError, mask

    if not provider.api_key:
        return "", None
    if box is None:
        return "••••", _("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY.")
    try:
        return mask(box.decrypt(provider.api_key)), None
    except SecretError as exc:
        return "••••", exc.message


def _valid_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


async def save_provider(
    session: AsyncSession, box: SecretBox | None, provider: AiProvider | None, form: dict[str, str]
) -> AiProvider:
    """Create (provider None) or update a provider from the admin's form; FormErrors when invalid.

    The key is write-only: an empty field keeps the stored key, "remove_key" clears it, and a new
    one is stored encrypted with the newest key.
    """
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    kind = form.get("kind", "").strip()
    base_url = form.get("base_url", "").strip()
    api_key = form.get("api_key", "").strip()
    remove_key = bool(form.get("remove_key"))
    if provider is not None and is_builtin(provider):
        kind, base_url, api_key, remove_key = ProviderKind.LOCAL.value, "", "", False
    if not name:
        errors["name"] = _("Give the provider a name.")
    elif len(name) > 100:
        errors["name"] = _("Keep the name under 100 characters.")
    else:
        clash = (
            await session.execute(select(AiProvider.id).where(func.lower(AiProvider.name) == name.lower()))
        ).scalar_one_or_none()
        if clash is not None and (provider is None or clash != provider.id):
            errors["name"] = _("Another provider already has this name.")
    if provider is None or not is_builtin(provider):
        if kind not in {k.value for k in ProviderKind if k != ProviderKind.LOCAL}:
            errors["kind"] = _("Pick the kind of API this provider speaks.")
        elif provider is not None:
            allowed = allowed_capabilities(kind)
            stranded = [m for m in provider.models if m.capability not in allowed]
            if stranded:
                errors["kind"] = _(
                    "This kind cannot serve the model %(model)s (%(capability)s): delete or change it first.",
                    model=stranded[0].label,
                    capability=capability_label(stranded[0].capability),
                )
        if not base_url:
            errors["base_url"] = _("Enter the API's base URL, e.g. https://api.openai.com/v1.")
        elif len(base_url) > 2048 or not _valid_url(base_url):
            errors["base_url"] = _("The base URL must start with http:// or https:// and name a host.")
    if api_key and box is None:
        errors["api_key"] = _("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY.")
    elif len(api_key) > 4000:
        errors["api_key"] = _("This is too long for an API key.")
    if errors:
        raise FormErrors(errors)
    if provider is None:
        provider = AiProvider(name=name, kind=kind, enabled=True)
        session.add(provider)
    provider.name = name
    provider.kind = kind
    provider.base_url = base_url or None
    provider.enabled = bool(form.get("enabled"))
    if api_key and box is not None:
        provider.api_key = box.encrypt(api_key)
    elif remove_key:
        provider.api_key = None
    await session.flush()
    return provider


async def save_model(
    session: AsyncSession, provider: AiProvider, model: AiModel | None, form: dict[str, str]
) -> AiModel:
    """Create (model None) or update a model of `provider`; FormErrors when invalid.

    The built-in provider's models keep their id, label and capability: only the cost changes.
    """
    errors: dict[str, str] = {}
    builtin = is_builtin(provider)
    if builtin and model is None:
        raise FormErrors({"form": _("The built-in provider's models are fixed; only their cost can change.")})
    if builtin and model is not None:
        model_id, label, capability, enabled = model.model, model.label, model.capability, model.enabled
    else:
        model_id = form.get("model", "").strip()
        label = form.get("label", "").strip() or model_id
        capability = form.get("capability", "").strip()
        enabled = bool(form.get("enabled"))
        if not model_id:
            errors["model"] = _("Enter the provider's own model id, e.g. gpt-4o-mini.")
        elif len(model_id) > 200:
            errors["model"] = _("Keep the model id under 200 characters.")
        if len(label) > 200:
            errors["label"] = _("Keep the label under 200 characters.")
        allowed = allowed_capabilities(provider.kind)
        if capability not in allowed:
            errors["capability"] = _(
                "%(kind)s providers can make only: %(allowed)s.",
                kind=kind_label(provider.kind),
                allowed=", ".join(capability_label(c) for c in allowed),
            )
    raw_cost = form.get("cost_credits", "").strip()
    try:
        cost = int(raw_cost)
    except ValueError:
        cost = -1
    if cost < 0 or cost > MAX_COST_CREDITS:
        errors["cost_credits"] = _(
            "Enter a whole number of credits from 0 to %(most)s.", most=f"{MAX_COST_CREDITS:,}".replace(",", " ")
        )
    if "model" not in errors and "capability" not in errors:
        clash = (
            await session.execute(
                select(AiModel.id).where(
                    AiModel.provider_id == provider.id, AiModel.model == model_id, AiModel.capability == capability
                )
            )
        ).scalar_one_or_none()
        if clash is not None and (model is None or clash != model.id):
            errors["model"] = _(
                "%(provider)s already has the model %(model)s for %(capability)s.",
                provider=provider.name,
                model=model_id,
                capability=capability_label(capability),
            )
    if errors:
        raise FormErrors(errors)
    if model is None:
        model = AiModel(provider_id=provider.id, model=model_id, label=label, capability=capability)
        session.add(model)
    model.model, model.label, model.capability = model_id, label, capability
    model.cost_credits = cost
    model.enabled = enabled
    await session.flush()
    return model


def capability_label(capability: str) -> str:
    """The capability (text / image / video) in the reader's language."""
    labels = {Capability.TEXT: _("text"), Capability.IMAGE: _("image"), Capability.VIDEO: _("video")}
    try:
        return labels[Capability(capability)]
    except ValueError:
        return capability


def kind_label(kind: str) -> str:
    labels = {
        ProviderKind.LOCAL: _("Built-in (offline)"),
        ProviderKind.OPENAI_COMPATIBLE: _("OpenAI-compatible"),
        ProviderKind.STABILITY: _("Stability AI"),
        ProviderKind.VIDEO_API: _("Video API (Runway style)"),
    }
    try:
        return labels[ProviderKind(kind)]
    except ValueError:
        return kind


async def models_in_use(session_maker: async_sessionmaker[AsyncSession], model_ids: list[UUID]) -> list[str]:
    """Who uses any of these models: "Alpha (client default)", "Alpha · preset House style".

    Style presets are tenant rows under row-level security, so this reads in a system-scoped
    session of its own (agency admins only call it).
    """
    from app.db.session import scoped_session
    from app.generation.models import StylePreset
    from app.tenancy.models import Client

    if not model_ids:
        return []
    users: list[str] = []
    async with scoped_session(session_maker, system=True) as session:
        clients = await session.execute(
            select(Client.name)
            .where(
                Client.text_model_id.in_(model_ids)
                | Client.image_model_id.in_(model_ids)
                | Client.video_model_id.in_(model_ids)
            )
            .order_by(Client.name)
        )
        users += [_("%(client)s (client default)", client=name) for name in clients.scalars()]
        presets = await session.execute(
            select(Client.name, StylePreset.name)
            .join(Client, Client.id == StylePreset.client_id)
            .where(
                StylePreset.text_model_id.in_(model_ids)
                | StylePreset.image_model_id.in_(model_ids)
                | StylePreset.video_model_id.in_(model_ids)
            )
            .order_by(Client.name, StylePreset.name)
        )
        users += [_("%(client)s · preset %(preset)s", client=client, preset=preset) for client, preset in presets]
    return users


async def check_provider(session: AsyncSession, provider: AiProvider, box: SecretBox | None) -> ConnectionCheck:
    """Call the provider's cheapest endpoint with its key and store the outcome on the row.

    The adapter classifies timeouts, refusals and HTTP errors into a plain message and scrubs the
    key from anything it quotes; the message is scrubbed once more here before it is stored.
    """
    from app.ai.http.common import ConnectionCheck, Timeouts, scrub
    from app.secrets import SecretError

    api_key = ""
    if is_builtin(provider):
        check = ConnectionCheck(ok=True, message=_("Works offline: the built-in providers need no connection."))
    elif not provider.base_url:
        check = ConnectionCheck(ok=False, message=_("Set the provider's base URL first."))
    else:
        try:
            api_key = box.decrypt(provider.api_key) if provider.api_key and box is not None else ""
            if provider.api_key and box is None:
                raise SecretError(_("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."))
        except SecretError as exc:
            check = ConnectionCheck(ok=False, message=exc.message)
        else:
            # End the request's read transaction first: no database connection is held through a
            # network call of up to 20 s (the outcome is written in a new one below).
            await session.commit()
            check = await _check_http(provider, api_key, Timeouts(**CHECK_TIMEOUTS_S))
    check = ConnectionCheck(ok=check.ok, message=scrub(check.message, api_key)[:1000], models=check.models)
    provider.last_checked_at = datetime.now(UTC)
    provider.last_check_ok = check.ok
    provider.last_check_message = check.message
    await session.flush()
    return check


async def _check_http(provider: AiProvider, api_key: str, timeouts: Any) -> ConnectionCheck:  # noqa: ANN401
    from app.ai.http import openai_compatible, stability, video_api
    from app.ai.http.common import ConnectionCheck

    kind = ProviderKind(provider.kind)
    enabled = [m for m in provider.models if m.enabled] or list(provider.models)
    capability = Capability(enabled[0].capability) if enabled else KIND_CAPABILITIES[kind][0]
    model = enabled[0].model if enabled else ""
    options: dict[str, Any] = {"label": provider.name, "timeouts": timeouts}
    if kind == ProviderKind.OPENAI_COMPATIBLE:
        factory = (
            openai_compatible.openai_image_provider
            if capability == Capability.IMAGE
            else openai_compatible.openai_text_provider
        )
        adapter: Any = factory(provider.base_url or "", api_key, model, **options)
    elif kind == ProviderKind.STABILITY:
        adapter = stability.stability_image_provider(provider.base_url or "", api_key, model or "core", **options)
    elif kind == ProviderKind.VIDEO_API:
        adapter = video_api.runway_video_provider(provider.base_url or "", api_key, model or "gen4_turbo", **options)
    else:
        return ConnectionCheck(ok=False, message=_("Unknown provider kind: %(kind)s.", kind=provider.kind))
    try:
        async with adapter:
            return await adapter.check_connection()
    except ProviderError as exc:  # check_connection answers errors itself; this is the safety net
        return ConnectionCheck(ok=False, message=str(exc))


@dataclass(frozen=True)
class Rotation:
    rotated: int
    failed: tuple[str, ...]  # names of providers whose key no configured key could read
    channels_rotated: int = 0
    channels_failed: tuple[str, ...] = ()  # "client: channel" whose credentials none could read


async def rotate_keys(session: AsyncSession, box: SecretBox) -> Rotation:
    """Re-encrypt every stored secret with the newest configured key (SecretBox.rotate): the
    providers' keys and every client's channel credentials (same keys), so the old key can go."""
    from app.db.session import within_all_clients
    from app.publishing.models import Channel
    from app.secrets import SecretError
    from app.tenancy.models import Client

    rotated, failed = 0, []
    for provider in await list_providers(session):
        if not provider.api_key:
            continue
        try:
            provider.api_key = box.rotate(provider.api_key)
        except SecretError:
            failed.append(provider.name)
            continue
        rotated += 1
    channels_rotated, channels_failed = 0, []
    async with within_all_clients(session):
        rows = await session.execute(
            select(Channel, Client.name)
            .join(Client, Client.id == Channel.client_id)
            .where(Channel.credentials.is_not(None))
        )
        for channel, client_name in rows.all():
            try:
                channel.credentials = box.rotate(channel.credentials)
            except SecretError:
                channels_failed.append(f"{client_name}: {channel.name}")
                continue
            channels_rotated += 1
        await session.flush()
    return Rotation(rotated, tuple(failed), channels_rotated, tuple(channels_failed))


async def model_options(session: AsyncSession) -> dict[str, list[AiModel]]:
    """Per capability, the models a client default or a style preset may pick (enabled, with an
    enabled provider), built-in first. Choosing none means the built-in model."""
    rows = await session.execute(
        select(AiModel)
        .join(AiProvider)
        .where(AiModel.enabled.is_(True), AiProvider.enabled.is_(True))
        .order_by(AiProvider.kind != ProviderKind.LOCAL, AiProvider.name, AiModel.label)
    )
    options: dict[str, list[AiModel]] = {c.value: [] for c in Capability}
    for model in rows.scalars():
        options.setdefault(model.capability, []).append(model)
    return options


CLIENT_DEFAULT_COLUMNS = {
    Capability.TEXT: "text_model_id",
    Capability.IMAGE: "image_model_id",
    Capability.VIDEO: "video_model_id",
}


async def set_client_defaults(session: AsyncSession, client: Any, choices: dict[Capability, str]) -> list[str]:  # noqa: ANN401
    """Set a client's default model per capability from form values ("" = built-in).

    A value must be an enabled model of that capability; the current value is always accepted
    unchanged (a model disabled later stays chosen, and resolve_model falls back meanwhile).
    Returns the capabilities refused.
    """
    options = await model_options(session)
    refused: list[str] = []
    for capability, raw in choices.items():
        column = CLIENT_DEFAULT_COLUMNS[capability]
        current = getattr(client, column)
        if not raw:
            setattr(client, column, None)
            continue
        if current is not None and raw == str(current):
            continue
        match = next((m for m in options.get(capability.value, []) if str(m.id) == raw), None)
        if match is None:
            refused.append(capability.value)
            continue
        # The built-in model is what None means; store None so the client follows the seeded row.
        setattr(client, column, None if is_builtin(match.provider) else match.id)
    await session.flush()
    return refused
