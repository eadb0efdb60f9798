"""The owner's Channels page: the client's connected accounts (the Reader, Instagram, Telegram)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels import services, telegram_channel
from app.channels.telegram import TelegramBotClient
from app.config import Settings
from app.i18n import gettext as _
from app.i18n import ngettext
from app.publishing.models import ChannelKind
from app.secrets import SecretBox
from app.sources.instagram import InstagramDiscoveryClient
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, redirect


class ChannelsController(Controller):
    path = "/c/{client_slug:str}/channels"
    guards = [requires(Role.OWNER)]

    async def _page(
        self,
        db_session: AsyncSession,
        tenant: TenantContext,
        settings: Settings,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        channels = await services.list_channels(db_session, tenant.client.id)
        instagram = next((c for c in channels if c.kind == ChannelKind.INSTAGRAM), None)
        connection = services.describe_instagram(instagram, SecretBox.from_settings(settings)) if instagram else None
        if form is None:
            # Reconnecting usually means a new token for the same account: offer the stored id.
            form = {"ig_user_id": connection.ig_user_id or ""} if connection else {}
        box = SecretBox.from_settings(settings)
        telegram = [telegram_channel.describe_telegram(c, box) for c in channels if c.kind == ChannelKind.TELEGRAM]
        return Template(
            "channels/index.html",
            context={
                "channels": channels,
                "instagram": connection,
                "telegram": telegram,
                "form": form,
                "errors": errors or {},
            },
            status_code=status_code,
        )

    @get("/", name="channels")
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Template:
        return await self._page(db_session, tenant, settings)

    @post("/instagram")
    async def connect_instagram(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Check the account id and token with Instagram; save them encrypted only when they work."""
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        async with InstagramDiscoveryClient(base_url=settings.instagram_graph_base_url) as graph:
            try:
                channel = await services.connect_instagram(
                    db_session,
                    tenant.client.id,
                    SecretBox.from_settings(settings),
                    graph,
                    ig_user_id=form.get("ig_user_id", ""),
                    access_token=form.get("access_token", ""),
                )
            except services.ChannelFormError as exc:
                # The typed id comes back; the token never does (it is not echoed into the page).
                kept = {"ig_user_id": form.get("ig_user_id", "")}
                return await self._page(db_session, tenant, settings, form=kept, errors=exc.errors, status_code=422)
        flash(request, _("Instagram connected: %(name)s.", name=channel.name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/channels")

    @post("/instagram/remove")
    async def remove_instagram(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        try:
            waiting = await services.disconnect_instagram(db_session, tenant.client.id)
        except services.ChannelFormError as exc:
            return await self._page(db_session, tenant, settings, errors=exc.errors, status_code=422)
        if waiting:
            message = ngettext(
                "Instagram removed. %(num)s Instagram source will not be collected until Instagram is connected again.",
                "Instagram removed. %(num)s Instagram sources will not be collected until Instagram is connected "
                "again.",
                waiting,
            )
        else:
            message = _("Instagram removed.")
        flash(request, message, "success")
        return redirect(request, f"/c/{tenant.client.slug}/channels")

    @post("/telegram")
    async def connect_telegram(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Check the bot token and the chat with Telegram; save them encrypted only when they work."""
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        box = SecretBox.from_settings(settings)
        if box is None:
            errors = {"telegram_form": _("No encryption key is configured: set CREDENTIALS_KEYS or SECRET_KEY.")}
            return await self._page(db_session, tenant, settings, errors=errors, status_code=422)
        async with TelegramBotClient(form.get("token", ""), base_url=settings.telegram_api_base_url) as bot:
            try:
                channel = await telegram_channel.connect_telegram(
                    db_session, tenant.client.id, box, bot, token=form.get("token", ""), chat=form.get("chat", "")
                )
            except services.ChannelFormError as exc:
                # The chat comes back; the token never does (it is not echoed into the page).
                errors = {f"telegram_{key}": message for key, message in exc.errors.items()}
                kept = {"telegram_chat": form.get("chat", "")}
                return await self._page(db_session, tenant, settings, form=kept, errors=errors, status_code=422)
        flash(request, _("Telegram connected: %(name)s.", name=channel.name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/channels")

    @post("/telegram/{channel_id:uuid}/remove")
    async def remove_telegram(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
        channel_id: FromPath[UUID],
    ) -> Response[Any]:
        try:
            channel = await telegram_channel.remove_telegram(db_session, tenant.client.id, channel_id)
        except services.ChannelFormError as exc:
            errors = {f"telegram_{key}": message for key, message in exc.errors.items()}
            return await self._page(db_session, tenant, settings, errors=errors, status_code=422)
        flash(request, _("Telegram channel removed: %(name)s.", name=channel.name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/channels")
