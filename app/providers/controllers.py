"""The agency admin's AI provider registry: providers, their models, client defaults, key rotation.

Agency-wide pages under /admin/providers, guarded as a whole for agency admins. API keys are
write-only: stored encrypted (app.secrets.SecretBox), shown as "••••abcd", never sent back.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.i18n import gettext as _
from app.i18n import ngettext
from app.providers import services
from app.providers.models import KIND_CAPABILITIES, AiModel, AiProvider, Capability, ProviderKind
from app.secrets import SecretBox, SecretError
from app.tenancy.guards import requires_agency_admin
from app.tenancy.models import Client
from app.web.responses import flash, form_page, is_htmx, redirect

PAGE = "/admin/providers"


def secret_box(settings: Settings) -> SecretBox | None:
    """The credentials box for these settings; None when no key is configured at all."""
    try:
        return SecretBox.from_settings(settings)
    except SecretError:
        return None


def _form(raw: Any) -> dict[str, str]:  # noqa: ANN401 - Litestar's FormMultiDict
    return {key: str(value) for key, value in dict(raw).items()}


class ProvidersController(Controller):
    path = PAGE
    guards = [requires_agency_admin]

    # -- helpers --

    async def _provider(self, session: AsyncSession, provider_id: UUID) -> AiProvider:
        provider = await session.get(AiProvider, provider_id)
        if provider is None:
            raise NotFoundException()
        return provider

    async def _model(self, session: AsyncSession, model_id: UUID) -> AiModel:
        model = await session.get(AiModel, model_id)
        if model is None:
            raise NotFoundException()
        return model

    def _provider_form(
        self,
        provider: AiProvider | None,
        box: SecretBox | None,
        form: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        key_mask, key_problem = services.key_hint(provider, box) if provider else ("", None)
        return form_page(
            "providers/provider_form.html",
            {
                "provider": provider,
                "builtin": provider is not None and services.is_builtin(provider),
                "form": form,
                "errors": errors,
                "kinds": [(k.value, services.kind_label(k)) for k in ProviderKind if k != ProviderKind.LOCAL],
                "key_mask": key_mask,
                "key_problem": key_problem,
            },
            status_code=status_code,
        )

    def _model_form(
        self,
        provider: AiProvider,
        model: AiModel | None,
        form: dict[str, str],
        errors: dict[str, str],
        status_code: int = 200,
    ) -> Template:
        return form_page(
            "providers/model_form.html",
            {
                "provider": provider,
                "model": model,
                "builtin": services.is_builtin(provider),
                "form": form,
                "errors": errors,
                "capabilities": [c.value for c in KIND_CAPABILITIES.get(ProviderKind(provider.kind), ())],
                "capability_label": services.capability_label,
            },
            status_code=status_code,
        )

    # -- the registry page --

    @get("/", name="providers")
    async def index(self, db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]) -> Template:
        box = secret_box(settings)
        rows = []
        for provider in await services.list_providers(db_session):
            key_mask, key_problem = services.key_hint(provider, box)
            rows.append(
                {
                    "provider": provider,
                    "builtin": services.is_builtin(provider),
                    "kind_label": services.kind_label(provider.kind),
                    "key_mask": key_mask,
                    "key_problem": key_problem,
                }
            )
        clients = list((await db_session.execute(select(Client).order_by(Client.name))).scalars())
        options = await services.model_options(db_session)
        return Template(
            "providers/index.html",
            context={
                "rows": rows,
                "clients": clients,
                # "Built-in" (None) stands for the local models; the selects offer the others.
                "options": {cap: [m for m in ms if not services.is_builtin(m.provider)] for cap, ms in options.items()},
                "builtin_labels": {
                    cap: next((m.label for m in ms if services.is_builtin(m.provider)), "")
                    for cap, ms in options.items()
                },
                "capabilities": [c.value for c in Capability],
                "capability_label": services.capability_label,
                "columns": {c.value: col for c, col in services.CLIENT_DEFAULT_COLUMNS.items()},
                "models_by_id": {m.id: m for models in options.values() for m in models},
                "box": box,
            },
        )

    # -- providers --

    @get("/new", name="provider_new")
    async def new_provider(self, settings: NamedDependency[Settings]) -> Template:
        return self._provider_form(
            None, secret_box(settings), {"kind": ProviderKind.OPENAI_COMPATIBLE.value, "enabled": "on"}, {}
        )

    @post("/")
    async def create_provider(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        form = _form(await request.form())
        box = secret_box(settings)
        try:
            provider = await services.save_provider(db_session, box, None, form)
        except services.FormErrors as exc:
            form.pop("api_key", None)  # never echo a key back into the page
            return self._provider_form(None, box, form, exc.errors, status_code=422)
        message = _("Provider %(name)s added. Add its models, then test the connection.", name=provider.name)
        flash(request, message, "success")
        return redirect(request, f"{PAGE}#provider-{provider.id}")

    @get("/{provider_id:uuid}/edit", name="provider_edit")
    async def edit_provider(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        provider_id: FromPath[UUID],
    ) -> Template:
        provider = await self._provider(db_session, provider_id)
        form = {
            "name": provider.name,
            "kind": provider.kind,
            "base_url": provider.base_url or "",
            "enabled": "on" if provider.enabled else "",
        }
        return self._provider_form(provider, secret_box(settings), form, {})

    @post("/{provider_id:uuid}")
    async def update_provider(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        provider_id: FromPath[UUID],
    ) -> Response[Any]:
        provider = await self._provider(db_session, provider_id)
        form = _form(await request.form())
        box = secret_box(settings)
        try:
            await services.save_provider(db_session, box, provider, form)
        except services.FormErrors as exc:
            form.pop("api_key", None)
            return self._provider_form(provider, box, form, exc.errors, status_code=422)
        flash(request, _("Provider %(name)s saved.", name=provider.name), "success")
        return redirect(request, f"{PAGE}#provider-{provider.id}")

    @post("/{provider_id:uuid}/delete")
    async def delete_provider(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        provider_id: FromPath[UUID],
    ) -> Response[Any]:
        provider = await self._provider(db_session, provider_id)
        if services.is_builtin(provider):
            flash(request, _("The built-in provider cannot be deleted: it is every client's fallback."), "error")
            return redirect(request, PAGE)
        users = await services.models_in_use(request.app.state.session_maker, [m.id for m in provider.models])
        if users:
            flash(
                request,
                _(
                    "%(name)s is still in use by %(users)s. Choose other models there first.",
                    name=provider.name,
                    users=", ".join(users),
                ),
                "error",
            )
            return redirect(request, f"{PAGE}#provider-{provider.id}")
        name = provider.name
        # The database cascades to the models (ON DELETE CASCADE); the ORM would try to orphan them.
        await db_session.execute(delete(AiProvider).where(AiProvider.id == provider.id))
        flash(request, _("Provider %(name)s deleted.", name=name), "success")
        return redirect(request, PAGE)

    @post("/{provider_id:uuid}/check")
    async def check(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        provider_id: FromPath[UUID],
    ) -> Response[Any]:
        provider = await self._provider(db_session, provider_id)
        result = await services.check_provider(db_session, provider, secret_box(settings))
        if is_htmx(request):
            return Template("providers/_check.html", context={"provider": provider})
        flash(request, result.message, "success" if result.ok else "error")
        return redirect(request, f"{PAGE}#provider-{provider.id}")

    # -- models --

    @get("/{provider_id:uuid}/models/new", name="model_new")
    async def new_model(self, db_session: NamedDependency[AsyncSession], provider_id: FromPath[UUID]) -> Template:
        provider = await self._provider(db_session, provider_id)
        capabilities = KIND_CAPABILITIES.get(ProviderKind(provider.kind), ())
        form = {"capability": capabilities[0].value if capabilities else "", "cost_credits": "1", "enabled": "on"}
        return self._model_form(provider, None, form, {})

    @post("/{provider_id:uuid}/models")
    async def create_model(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        provider_id: FromPath[UUID],
    ) -> Response[Any]:
        provider = await self._provider(db_session, provider_id)
        form = _form(await request.form())
        try:
            model = await services.save_model(db_session, provider, None, form)
        except services.FormErrors as exc:
            return self._model_form(provider, None, form, exc.errors, status_code=422)
        flash(
            request, _("Model %(label)s added to %(provider)s.", label=model.label, provider=provider.name), "success"
        )
        return redirect(request, f"{PAGE}#provider-{provider.id}")

    @get("/models/{model_id:uuid}/edit", name="model_edit")
    async def edit_model(self, db_session: NamedDependency[AsyncSession], model_id: FromPath[UUID]) -> Template:
        model = await self._model(db_session, model_id)
        form = {
            "model": model.model,
            "label": model.label,
            "capability": model.capability,
            "cost_credits": str(model.cost_credits),
            "enabled": "on" if model.enabled else "",
        }
        return self._model_form(model.provider, model, form, {})

    @post("/models/{model_id:uuid}")
    async def update_model(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        model_id: FromPath[UUID],
    ) -> Response[Any]:
        model = await self._model(db_session, model_id)
        form = _form(await request.form())
        try:
            await services.save_model(db_session, model.provider, model, form)
        except services.FormErrors as exc:
            return self._model_form(model.provider, model, form, exc.errors, status_code=422)
        flash(request, _("Model %(label)s saved.", label=model.label), "success")
        return redirect(request, f"{PAGE}#provider-{model.provider_id}")

    @post("/models/{model_id:uuid}/delete")
    async def delete_model(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        model_id: FromPath[UUID],
    ) -> Response[Any]:
        model = await self._model(db_session, model_id)
        anchor = f"{PAGE}#provider-{model.provider_id}"
        if services.is_builtin(model.provider):
            flash(request, _("The built-in models cannot be deleted; you can change their cost."), "error")
            return redirect(request, anchor)
        users = await services.models_in_use(request.app.state.session_maker, [model.id])
        if users:
            flash(
                request,
                _(
                    "%(label)s is still in use by %(users)s. Choose another model there first.",
                    label=model.label,
                    users=", ".join(users),
                ),
                "error",
            )
            return redirect(request, anchor)
        label = model.label
        await db_session.delete(model)
        flash(request, _("Model %(label)s deleted.", label=label), "success")
        return redirect(request, anchor)

    # -- client defaults and key rotation --

    @post("/client-defaults")
    async def client_defaults(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        form = _form(await request.form())
        refused: list[str] = []
        clients = (await db_session.execute(select(Client).order_by(Client.name))).scalars()
        for client in clients:
            choices = {
                capability: form[f"{client.id}.{capability.value}"]
                for capability in Capability
                if f"{client.id}.{capability.value}" in form
            }
            if choices:
                refused += [
                    f"{client.name} ({services.capability_label(capability)})"
                    for capability in await services.set_client_defaults(db_session, client, choices)
                ]
        if refused:
            flash(
                request,
                _("These choices were not saved (the model is disabled or gone): %(which)s.", which=", ".join(refused)),
                "error",
            )
        else:
            flash(request, _("Client defaults saved."), "success")
        return redirect(request, f"{PAGE}#client-defaults")

    @post("/rotate-keys")
    async def rotate_keys(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        box = secret_box(settings)
        if box is None:
            flash(request, _("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY."), "error")
            return redirect(request, f"{PAGE}#key-rotation")
        result = await services.rotate_keys(db_session, box)
        flash(
            request,
            ngettext(
                "%(num)s provider key re-encrypted with the newest key.",
                "%(num)s provider keys re-encrypted with the newest key.",
                result.rotated,
            )
            + " "
            + ngettext(
                "%(num)s channel's credentials too.",
                "%(num)s channels' credentials too.",
                result.channels_rotated,
            ),
            "success",
        )
        if result.channels_failed:
            flash(
                request,
                _(
                    "No configured key could read the credentials of: %(names)s. Reconnect those channels.",
                    names=", ".join(result.channels_failed),
                ),
                "error",
            )
        if result.failed:
            flash(
                request,
                _(
                    "No configured key could read the key of: %(names)s. Enter those keys again.",
                    names=", ".join(result.failed),
                ),
                "error",
            )
        return redirect(request, f"{PAGE}#key-rotation")
