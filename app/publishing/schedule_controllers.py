"""Schedules (the owner's weekly slots and pausing), the calendar, and queueing a story into the
next free slot from its page. The services are in app.publishing.schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.events.bus import last_event_id
from app.i18n import gettext as _
from app.i18n import ngettext
from app.publishing import schedules
from app.publishing.services import ScheduleError, enqueue_publication
from app.stories import services as stories
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, is_htmx, redirect


class ScheduleSettingsController(Controller):
    """/c/{slug}/schedule: per channel its weekly slots, the next occurrences, pause and resume."""

    path = "/c/{client_slug:str}/schedule"
    guards = [requires(Role.OWNER)]

    async def _page(
        self,
        db_session: AsyncSession,
        tenant: TenantContext,
        *,
        failed: tuple[UUID, schedules.SlotsFormError] | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "publishing/schedule.html",
            context={
                "schedules": await schedules.schedule_page(db_session, tenant.client, failed=failed),
                "weekday_names": schedules.weekday_names(),
                "channel_label": schedules.channel_label,
            },
            status_code=status_code,
        )

    @get("/", name="schedule")
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
    ) -> Template:
        return await self._page(db_session, tenant)

    @post("/{channel_id:uuid}/slots")
    async def save_slots(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        channel_id: FromPath[UUID],
    ) -> Response[Any]:
        form = {key: str(value) for key, value in (await request.form()).items() if isinstance(value, str)}
        channel = await schedules.get_channel(db_session, tenant.client.id, channel_id, for_update=True)
        try:
            slots = await schedules.set_channel_slots(db_session, tenant.client.id, channel, form)
        except schedules.SlotsFormError as exc:
            return await self._page(db_session, tenant, failed=(channel.id, exc), status_code=422)
        flash(
            request,
            ngettext(
                "%(channel)s: %(num)s weekly slot saved.",
                "%(channel)s: %(num)s weekly slots saved.",
                len(slots),
                channel=schedules.channel_label(channel),
            ),
            "success",
        )
        return redirect(request, f"/c/{tenant.client.slug}/schedule#channel-{channel.id}")

    @post("/{channel_id:uuid}/pause")
    async def pause(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        channel_id: FromPath[UUID],
    ) -> Response[Any]:
        channel = await schedules.get_channel(db_session, tenant.client.id, channel_id, for_update=True)
        await schedules.pause_channel(db_session, tenant.client.id, channel)
        flash(
            request,
            _(
                "%(channel)s is paused: nothing is published on it until you resume it.",
                channel=schedules.channel_label(channel),
            ),
            "success",
        )
        return redirect(request, f"/c/{tenant.client.slug}/schedule#channel-{channel.id}")

    @post("/{channel_id:uuid}/resume")
    async def resume(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        queue: NamedDependency[Queue],
        channel_id: FromPath[UUID],
    ) -> Response[Any]:
        channel = await schedules.get_channel(db_session, tenant.client.id, channel_id, for_update=True)
        resumed = await schedules.resume_channel(db_session, tenant.client, channel)
        await db_session.commit()
        for publication in resumed.moved:
            await enqueue_publication(queue, publication)
        name = schedules.channel_label(channel)
        if resumed.moved:
            message = ngettext(
                "%(channel)s resumed. %(num)s post that came due while it was paused moved to its next free slot.",
                "%(channel)s resumed. %(num)s posts that came due while it was paused moved to its next free slots.",
                len(resumed.moved),
                channel=name,
            )
        elif resumed.due_now:
            message = ngettext(
                "%(channel)s resumed. %(num)s post that came due while it was paused goes out now.",
                "%(channel)s resumed. %(num)s posts that came due while it was paused go out now.",
                resumed.due_now,
                channel=name,
            )
        else:
            message = _("%(channel)s resumed.", channel=name)
        flash(request, message, "success")
        return redirect(request, f"/c/{tenant.client.slug}/schedule#channel-{channel.id}")


class CalendarController(Controller):
    """/c/{slug}/calendar: scheduled and published posts per channel, by week or by month."""

    path = "/c/{client_slug:str}/calendar"
    guards = [requires(Role.EDITOR)]

    @get("/", name="calendar")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
    ) -> Template:
        # The stream position before the state: a change in between is replayed, not lost.
        events_since = await last_event_id(redis, settings, tenant.client.id)
        now = datetime.now(UTC)
        today = now.astimezone(schedules.zone_of(tenant.client)).date()
        view = schedules.CalendarView.from_query(dict(request.query_params), today)
        context = {
            "tenant": tenant,
            "calendar": await schedules.calendar(db_session, tenant.client, view, now=now),
            "channel_label": schedules.channel_label,
            "events_since": events_since,
        }
        # The live refresh (hx-get on an SSE event) takes the calendar's body alone.
        if is_htmx(request):
            return Template("publishing/_partials/calendar_body.html", context=context)
        return Template("publishing/calendar.html", context=context)


class StoryQueueController(Controller):
    """The story panel's "Queue in the next free slot": one button per channel."""

    path = "/c/{client_slug:str}/stories/{story_id:uuid}/next-slot"
    guards = [requires(Role.EDITOR)]

    @get("/", name="story_next_slot")
    async def choices(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Template:
        story = await stories.get_story(db_session, tenant.client.id, story_id)
        return Template(
            "publishing/_partials/next_slot.html",
            context={
                "tenant": tenant,
                "story": story,
                "choices": await schedules.queue_choices(db_session, tenant.client, story),
                "channel_label": schedules.channel_label,
            },
        )

    @post("/{channel_id:uuid}")
    async def queue(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        queue: NamedDependency[Queue],
        story_id: FromPath[UUID],
        channel_id: FromPath[UUID],
    ) -> Response[Any]:
        story = await stories.get_story(db_session, tenant.client.id, story_id, for_update=True)
        channel = await schedules.get_channel(db_session, tenant.client.id, channel_id)
        story_url = f"/c/{tenant.client.slug}/stories/{story.id}"
        try:
            publication = await schedules.queue_story(db_session, tenant.client, story, channel)
        except ScheduleError as exc:
            flash(request, exc.message, "error")
            return redirect(request, story_url)
        await db_session.commit()
        await enqueue_publication(queue, publication)
        flash(
            request,
            _(
                "Queued on %(channel)s for %(when)s.",
                channel=schedules.channel_label(channel),
                when=schedules.local_label(publication.scheduled_at, schedules.zone_of(tenant.client)),
            ),
            "success",
        )
        return redirect(request, story_url)
