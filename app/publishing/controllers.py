from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.events.bus import last_event_id
from app.i18n import gettext as _
from app.publishing import services
from app.storage import MediaStorage
from app.stories import services as stories
from app.stories.controllers import story_page
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, redirect


class ScheduleController(Controller):
    path = "/c/{client_slug:str}/stories/{story_id:uuid}/publications"
    guards = [requires(Role.EDITOR)]

    @post("/")
    async def schedule(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        queue: NamedDependency[Queue],
        storage: NamedDependency[MediaStorage],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        form = await request.form()
        when = str(form.get("scheduled_at", ""))
        try:
            channel_id = UUID(str(form.get("channel_id"))) if form.get("channel_id") else None
        except ValueError:
            channel_id = None
        story = await stories.get_story(db_session, tenant.client.id, story_id, for_update=True)
        try:
            publication = await services.schedule_story(db_session, tenant.client, story, when, channel_id=channel_id)
        except services.ScheduleError as exc:
            # The story page again, with the message beside the field and the typed value kept.
            events_since = await last_event_id(redis, settings, tenant.client.id)
            return await story_page(
                db_session,
                tenant,
                storage,
                story,
                events_since=events_since,
                schedule_error=exc.message,
                schedule_value=when,
                schedule_channel=str(channel_id or ""),
                status_code=422,
            )
        await db_session.commit()
        await services.enqueue_publication(queue, publication)
        flash(request, _("Scheduled on %(channel)s.", channel=publication.channel.name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/stories/{story.id}")

    @post("/{publication_id:uuid}/cancel")
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
        publication_id: FromPath[UUID],
    ) -> Response[Any]:
        story = await stories.get_story(db_session, tenant.client.id, story_id, for_update=True)
        try:
            await services.cancel_publication(db_session, tenant.client.id, story, publication_id)
            flash(request, _("Publication canceled."), "success")
        except services.ScheduleError as exc:
            flash(request, exc.message, "error")
        return redirect(request, f"/c/{tenant.client.slug}/stories/{story.id}")
