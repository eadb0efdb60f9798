from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.events.bus import last_event_id
from app.i18n import gettext as _
from app.storage import MediaStorage
from app.stories import services
from app.stories.models import Story, StoryStatus
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, redirect


async def story_page(
    db_session: AsyncSession,
    tenant: TenantContext,
    storage: MediaStorage,
    story: Story,
    *,
    events_since: str,
    schedule_error: str | None = None,
    schedule_value: str = "",
    status_code: int = 200,
) -> Template:
    version = story.current_version
    return Template(
        "stories/detail.html",
        status_code=status_code,
        context={
            "story": story,
            "version": version,
            "asset_urls": await services.asset_urls(storage, version.assets if version else []),
            "publications": await services.publications_of(db_session, tenant.client.id, story.id),
            "events_since": events_since,
            "schedule_error": schedule_error,
            "schedule_value": schedule_value,
        },
    )


async def _transition(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    tenant: TenantContext,
    story_id: UUID,
    change: Callable[[Story], Awaitable[None]],
    done: str,
) -> Response[Any]:
    """One workflow step on a locked story; a refused step is told, not raised."""
    story = await services.get_story(db_session, tenant.client.id, story_id, for_update=True)
    try:
        await change(story)
        flash(request, done, "success")
    except services.WorkflowError as exc:
        flash(request, exc.message, "error")
    return redirect(request, f"/c/{tenant.client.slug}/stories/{story.id}")


class StoriesController(Controller):
    path = "/c/{client_slug:str}/stories"
    guards = [requires(Role.EDITOR)]

    @get("/", name="stories")
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        status: FromQuery[str | None] = None,
    ) -> Template:
        stories = await services.list_stories(db_session, tenant.client.id, status)
        assets = [s.current_version.cover for s in stories if s.current_version and s.current_version.cover]
        return Template(
            "stories/index.html",
            context={
                "stories": stories,
                "status_filter": status or "",
                "statuses": list(StoryStatus),
                "cover_urls": await services.asset_urls(storage, assets),
            },
        )

    @get("/{story_id:uuid}", name="story")
    async def detail(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        story_id: FromPath[UUID],
    ) -> Template:
        # Read the stream position before the state: an event in between is then replayed, not lost.
        events_since = await last_event_id(redis, settings, tenant.client.id)
        story = await services.get_story(db_session, tenant.client.id, story_id)
        return await story_page(db_session, tenant, storage, story, events_since=events_since)

    @get("/{story_id:uuid}/panel", name="story_panel")
    async def panel(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Template:
        """The status + moderation + publications panel alone, refetched when a publication changes."""
        story = await services.get_story(db_session, tenant.client.id, story_id)
        return Template(
            "stories/_partials/panel.html",
            context={
                "tenant": tenant,
                "story": story,
                "publications": await services.publications_of(db_session, tenant.client.id, story.id),
                "schedule_error": None,
                "schedule_value": "",
            },
        )

    @post("/{story_id:uuid}/approve")
    async def approve(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        return await _transition(
            request, db_session, tenant, story_id, services.approve, _("Approved. Now pick when it goes out.")
        )

    @post("/{story_id:uuid}/reject")
    async def reject(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        return await _transition(request, db_session, tenant, story_id, services.reject, _("Rejected."))
