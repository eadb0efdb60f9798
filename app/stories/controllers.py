from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.events.bus import last_event_id
from app.generation import services as generation
from app.storage import MediaStorage
from app.stories import services
from app.stories.models import Story, StoryStatus, StoryVersion
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role


async def story_workflow_context(
    db_session: AsyncSession, tenant: TenantContext, story: Story, version: StoryVersion | None
) -> dict[str, Any]:
    """The edit form, the versions and the audit log of the story page."""
    from app.audit import services as audit

    versions = list(
        (
            await db_session.execute(
                select(StoryVersion.number, StoryVersion.frozen, StoryVersion.created_at)
                .where(StoryVersion.client_id == tenant.client.id, StoryVersion.story_id == story.id)
                .order_by(StoryVersion.number.desc())
            )
        ).all()
    )
    return {
        "edit_stamp": services.version_stamp(version) if version else "",
        "edit_values": services._form_values(version) if version else {},
        "edit_conflict": None,
        "edit_error": None,
        "versions": versions,
        "audit_log": await audit.story_log(db_session, tenant.client.id, story.id),
        "describe_event": audit.describe,
        "status_words": services.status_words,
    }


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
            **(await story_workflow_context(db_session, tenant, story, version)),
            **(await services.scenes_context(db_session, storage, version) if version else {}),
            "problem": None,
            "publications": await services.publications_of(db_session, tenant.client.id, story.id),
            "events_since": events_since,
            "schedule_error": schedule_error,
            "schedule_value": schedule_value,
        },
    )


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

    # Scenes: variants, headliner, favourites, text ----------------------------------------------

    @get("/{story_id:uuid}/scenes", name="story_scenes")
    async def scenes(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
    ) -> Template:
        """The scenes section alone, refetched when one of the story's scene jobs moves (SSE)."""
        story = await services.get_story(db_session, tenant.client.id, story_id)
        return await scenes_section(db_session, tenant, storage, story)

    @post("/{story_id:uuid}/scenes/{scene_id:uuid}/regenerate")
    async def regenerate(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        queue: NamedDependency[Queue],
        story_id: FromPath[UUID],
        scene_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        try:
            job = await generation.regenerate_scene(db_session, tenant.client.id, scene_id, requested_by=tenant.user)
        except generation.GenerationRefused as exc:
            return await scenes_section(db_session, tenant, storage, story, problem=(scene_id, exc.message))
        # Commit before enqueueing: the worker must find the job row when it starts.
        await db_session.commit()
        await generation.enqueue_step(queue, job)
        return await scenes_section(db_session, tenant, storage, story)

    @post("/{story_id:uuid}/assets/{asset_id:uuid}/headliner")
    async def headliner(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        asset_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        problem = None
        try:
            await generation.choose_headliner(db_session, tenant.client.id, asset_id)
        except generation.GenerationRefused as exc:
            problem = (None, exc.message)
        return await scenes_section(db_session, tenant, storage, story, problem=problem)

    @post("/{story_id:uuid}/assets/{asset_id:uuid}/favourite")
    async def favourite(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        asset_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        await generation.toggle_favourite(db_session, tenant.client.id, asset_id)
        return await scenes_section(db_session, tenant, storage, story)

    @post("/{story_id:uuid}/scenes/{scene_id:uuid}/text")
    async def scene_text(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        scene_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        form = await request.form()
        try:
            await generation.edit_scene_text(db_session, tenant.client.id, scene_id, str(form.get("text", "")))
        except generation.GenerationRefused as exc:
            return await scenes_section(db_session, tenant, storage, story, problem=(scene_id, exc.message))
        return await scenes_section(db_session, tenant, storage, story)


async def scenes_section(
    db_session: AsyncSession,
    tenant: TenantContext,
    storage: MediaStorage,
    story: Story,
    *,
    problem: tuple[UUID | None, str] | None = None,
) -> Template:
    await db_session.flush()
    version = await services.fresh_version(db_session, tenant.client.id, story)
    return Template(
        "stories/_partials/scenes.html",
        context={
            "tenant": tenant,
            **await services.scenes_context(db_session, storage, version),
            "story": story,
            "problem": problem,
        },
    )
