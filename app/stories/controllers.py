from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from redis.asyncio import Redis
from saq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.events.bus import last_event_id
from app.generation import services as generation
from app.i18n import gettext as _
from app.i18n import ngettext
from app.publishing.services import publishing_channels
from app.sources.models import Source
from app.sources.services import SourceRepository
from app.storage import MediaStorage
from app.stories import previews, queue, scene_edits, services
from app.stories.export import DOCX_MEDIA_TYPE, ExportError, ExportQuery, content_plan, file_name
from app.stories.models import Story, StoryVersion
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, redirect, ticked_ids


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
        "edit_values": services.form_values(version) if version else {},
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
    schedule_channel: str = "",
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
            "previews": previews.for_version(version) if version else [],
            "problem": None,
            "publications": await services.publications_of(db_session, tenant.client.id, story.id),
            "publish_channels": await publishing_channels(db_session, tenant.client.id),
            "events_since": events_since,
            "schedule_error": schedule_error,
            "schedule_value": schedule_value,
            "schedule_channel": schedule_channel,
        },
    )


def queue_summary(action: str, outcome: queue.BulkOutcome) -> str:
    """The flash after a bulk action: '3 approved, 1 could not be approved: <reason>'."""
    done = len(outcome.done)
    if action == "approve":
        parts = [ngettext("%(num)s approved", "%(num)s approved", done)]
        parts += [
            ngettext(
                "%(num)s could not be approved: %(reason)s", "%(num)s could not be approved: %(reason)s", n, reason=r
            )
            for r, n in outcome.refused.items()
        ]
    else:
        parts = [ngettext("%(num)s rejected", "%(num)s rejected", done)]
        parts += [
            ngettext(
                "%(num)s could not be rejected: %(reason)s", "%(num)s could not be rejected: %(reason)s", n, reason=r
            )
            for r, n in outcome.refused.items()
        ]
    return ", ".join(parts)


class StoriesController(Controller):
    path = "/c/{client_slug:str}/stories"
    guards = [requires(Role.EDITOR)]

    # The moderation queue: tabs, search, keyset pages, keyboard and bulk actions ----------------

    @get("/", name="stories")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        after: FromQuery[str | None] = None,
    ) -> Template:
        # The stream position before the state: a change in between is replayed, not lost.
        events_since = await last_event_id(redis, settings, tenant.client.id)
        filters = queue.QueueFilters.from_query(dict(request.query_params))
        page = await queue.queue_page(
            db_session,
            tenant.client.id,
            filters,
            after=after,
            user_id=tenant.user.id,
            timezone=tenant.client.timezone,
        )
        covers = [row.cover for row in page.rows if row.cover]
        sources = await SourceRepository(db_session, tenant.client.id).list(order_by=Source.title)
        return Template(
            "stories/index.html",
            context={
                "page": page,
                "rows": page.rows,
                "filters": filters,
                "first_page": not after,
                "sources": sources,
                "cover_urls": await services.asset_urls(storage, covers),
                "events_since": events_since,
            },
        )

    @get("/{story_id:uuid}/queue-row", name="stories_queue_row")
    async def queue_row(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
    ) -> Template:
        """One queue row as it is now: refetched when someone else changes the story."""
        row = await queue.queue_row(db_session, tenant.client.id, story_id)
        if row is None:
            raise NotFoundException()
        return Template(
            "stories/_partials/queue_row.html",
            context={
                "tenant": tenant,
                "row": row,
                "cover_urls": await services.asset_urls(storage, [row.cover] if row.cover else []),
                "problem": None,
                "focused": False,
            },
        )

    @post("/bulk", name="stories_bulk")
    async def bulk(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
    ) -> Response[Any]:
        """Approve or reject the ticked stories, each under the one-at-a-time rules; one summary."""
        form = await request.form()
        action = str(form.get("action", ""))
        ids = ticked_ids(form, "story_ids")
        back = f"/c/{tenant.client.slug}/stories?{str(form.get('back', ''))}".rstrip("?")
        if not ids or action not in {"approve", "reject"}:
            flash(request, _("Tick some stories first, then pick what to do with them."), "error")
            return redirect(request, back)
        outcome = await queue.bulk_transition(
            db_session, tenant.client.id, ids, action, actor_id=tenant.user.id, reason=str(form.get("reason", ""))
        )
        flash(request, queue_summary(action, outcome), "error" if outcome.refused else "success")
        return redirect(request, back)

    @post("/{story_id:uuid}/queue/{action:str}", name="stories_queue_action")
    async def queue_action(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        action: FromPath[str],
    ) -> Template:
        """One keyboard approve / reject from the queue: answers with the row, updated or with the refusal."""
        if action not in {"approve", "reject"}:
            raise NotFoundException()
        await services.get_story(db_session, tenant.client.id, story_id)  # another client's id: 404
        reason = str((await request.form()).get("reason", ""))
        outcome = await queue.bulk_transition(
            db_session, tenant.client.id, [story_id], action, actor_id=tenant.user.id, reason=reason
        )
        row = await queue.queue_row(db_session, tenant.client.id, story_id)
        if row is None:  # deleted meanwhile
            raise NotFoundException()
        return Template(
            "stories/_partials/queue_row.html",
            status_code=409 if outcome.refused else 200,
            context={
                "tenant": tenant,
                "row": row,
                "cover_urls": await services.asset_urls(storage, [row.cover] if row.cover else []),
                "problem": next(iter(outcome.refused), None),
                "focused": True,
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
                "publish_channels": await publishing_channels(db_session, tenant.client.id),
                "schedule_error": None,
                "schedule_value": "",
                "schedule_channel": "",
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

    # Scenes: own images, order, adding and deleting (app.stories.scene_edits) ------------------

    async def _scenes_answer(
        self,
        db_session: AsyncSession,
        tenant: TenantContext,
        storage: MediaStorage,
        story: Story,
        *,
        problem: tuple[Any, str] | None = None,
        notice: str | None = None,
        focus: tuple[UUID, str] | None = None,
        add_text: str = "",
        status_code: int = 200,
    ) -> Template:
        """The scenes section after an edit: a refusal beside its scene (or the add form), a line
        for screen readers, and where the keyboard focus goes back to after the swap."""
        answer = await scenes_section(db_session, tenant, storage, story, problem=problem)
        answer.context.update(notice=notice, focus=focus, add_text=add_text)
        answer.status_code = status_code
        return answer

    # Twice the image cap: a photo somewhat over it still reaches the service, which names the real
    # limit (the body-size error answers with the site-wide limit). Only the cap is read into memory.
    @post("/{story_id:uuid}/scenes/{scene_id:uuid}/image", request_max_body_size=2 * scene_edits.MAX_IMAGE_BYTES)
    async def scene_image(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        scene_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        upload = (await request.form()).get("image")
        if not isinstance(upload, UploadFile) or not upload.filename:
            problem = (scene_id, _("Choose an image file first."))
            return await self._scenes_answer(db_session, tenant, storage, story, problem=problem, status_code=422)
        data = await upload.read(scene_edits.MAX_IMAGE_BYTES + 1)  # one byte over is enough to refuse
        try:
            asset = await scene_edits.upload_scene_image(
                db_session, storage, story, scene_id, data, actor_id=tenant.user.id
            )
        except scene_edits.SceneEditRefused as exc:
            problem = (scene_id, exc.message)
            return await self._scenes_answer(db_session, tenant, storage, story, problem=problem, status_code=422)
        notice = _("Your image is now in scene %(n)s.", n=asset.scene_position + 1)
        return await self._scenes_answer(db_session, tenant, storage, story, notice=notice)

    @post("/{story_id:uuid}/scenes/{scene_id:uuid}/move/{direction:str}")
    async def move_scene(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        scene_id: FromPath[UUID],
        direction: FromPath[str],
    ) -> Template:
        if direction not in {"up", "down"}:
            raise NotFoundException()
        story = await services.get_story(db_session, tenant.client.id, story_id)
        try:
            moved = await scene_edits.move_scene(db_session, story, scene_id, direction, actor_id=tenant.user.id)
        except scene_edits.SceneEditRefused as exc:
            problem = (scene_id, exc.message)
            return await self._scenes_answer(db_session, tenant, storage, story, problem=problem, status_code=409)
        notice = _("Scene %(n)s is now scene %(to)s.", n=moved.before, to=moved.after)
        # The keyboard stays on the button just pressed (the template picks the other one at an end).
        focus = (moved.scene.id, direction)
        return await self._scenes_answer(db_session, tenant, storage, story, notice=notice, focus=focus)

    @post("/{story_id:uuid}/scenes", name="story_scene_add")
    async def add_scene(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        queue: NamedDependency[Queue],
        story_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        form = await request.form()
        text = str(form.get("text", ""))
        after = ticked_ids(form, "after")  # empty: at the end
        try:
            added = await scene_edits.add_scene(
                db_session, story, text, after=after[0] if after else None, requested_by=tenant.user
            )
        except scene_edits.SceneEditRefused as exc:
            return await self._scenes_answer(
                db_session, tenant, storage, story, problem=("add", exc.message), add_text=text, status_code=422
            )
        number = added.scene.position + 1
        if added.job is None:
            # The scene is kept without a picture: the editor can upload one or try again later.
            problem = (added.scene.id, _("No image is being made: %(reason)s", reason=added.image_refused))
            return await self._scenes_answer(
                db_session, tenant, storage, story, problem=problem, focus=(added.scene.id, "scene")
            )
        # Commit before enqueueing: the worker must find the job row when it starts.
        await db_session.commit()
        await generation.enqueue_step(queue, added.job)
        notice = _("Scene %(n)s added; its image is being made.", n=number)
        return await self._scenes_answer(
            db_session, tenant, storage, story, notice=notice, focus=(added.scene.id, "scene")
        )

    @post("/{story_id:uuid}/scenes/{scene_id:uuid}/delete")
    async def delete_scene(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        story_id: FromPath[UUID],
        scene_id: FromPath[UUID],
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        try:
            number = await scene_edits.delete_scene(db_session, story, scene_id, actor_id=tenant.user.id)
        except scene_edits.SceneEditRefused as exc:
            problem = (scene_id, exc.message)
            return await self._scenes_answer(db_session, tenant, storage, story, problem=problem, status_code=409)
        notice = _("Scene %(n)s deleted; the scenes after it moved up.", n=number)
        return await self._scenes_answer(db_session, tenant, storage, story, notice=notice)

    # The content plan: a .docx of stories by date range or selection ---------------------------

    @get("/export", name="stories_export")
    async def export_plan(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
    ) -> Response[Any]:
        """?from=YYYY-MM-DD&to=YYYY-MM-DD or ?ids=…&ids=…, and variants=headliners|all."""
        params = request.query_params
        try:
            query = ExportQuery.parse(
                params.getall("ids", []),
                params.get("from"),
                params.get("to"),
                params.get("variants"),
                selected=params.get("scope") == "selected",
            )
            plan = await content_plan(
                db_session,
                storage,
                tenant.client,
                story_ids=query.story_ids,
                date_from=query.date_from,
                date_to=query.date_to,
                variants=query.variants,
            )
        except ExportError as exc:
            flash(request, exc.message, "error")
            return redirect(request, f"/c/{tenant.client.slug}/stories")
        return Response(
            content=plan.data,
            media_type=DOCX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{file_name(tenant.client, plan)}"'},
        )


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
