"""Story workflow: submit for review, approve, request changes, reject (with words), edit with a
conflict check, versions and their differences, and the client's audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import services as audit
from app.config import Settings
from app.events.bus import last_event_id
from app.i18n import gettext as _
from app.storage import MediaStorage
from app.stories import services
from app.stories.controllers import story_page
from app.stories.models import StoryVersion
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role
from app.web.responses import flash, redirect


class StoryWorkflowController(Controller):
    path = "/c/{client_slug:str}/stories"
    guards = [requires(Role.EDITOR)]

    async def _step(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        tenant: TenantContext,
        story_id: UUID,
        step: str,
        done: str,
    ) -> Response[Any]:
        """One workflow step on the locked story; a refused step is told on the page, not raised."""
        story = await services.get_story(db_session, tenant.client.id, story_id, for_update=True)
        words = str((await request.form()).get("reason", ""))
        actor = tenant.user.id
        try:
            if step == "submit":
                await services.submit_for_review(db_session, story, actor)
            elif step == "approve":
                await services.approve(db_session, story, actor)
            elif step == "request_changes":
                await services.request_changes(db_session, story, actor, words)
            else:
                await services.reject(db_session, story, actor, words)
            flash(request, done, "success")
        except services.WorkflowError as exc:
            flash(request, exc.message, "error")
        return redirect(request, f"/c/{tenant.client.slug}/stories/{story.id}")

    @post("/{story_id:uuid}/submit")
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        return await self._step(request, db_session, tenant, story_id, "submit", _("Sent for review."))

    @post("/{story_id:uuid}/approve")
    async def approve(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        return await self._step(
            request, db_session, tenant, story_id, "approve", _("Approved. Now pick when it goes out.")
        )

    @post("/{story_id:uuid}/request-changes")
    async def request_changes(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        return await self._step(
            request, db_session, tenant, story_id, "request_changes", _("Sent back with your note.")
        )

    @post("/{story_id:uuid}/reject")
    async def reject(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        return await self._step(request, db_session, tenant, story_id, "reject", _("Rejected."))

    @post("/{story_id:uuid}/edit")
    async def edit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        storage: NamedDependency[MediaStorage],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        story_id: FromPath[UUID],
    ) -> Response[Any]:
        form = {k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)}
        story = await services.get_story(db_session, tenant.client.id, story_id, for_update=True)
        try:
            version = await services.edit_story(db_session, story, tenant.user.id, form, form.get("stamp", ""))
        except services.EditConflict as exc:
            # Nothing is saved; the page shows their version and keeps what this editor typed.
            page = await story_page(
                db_session,
                tenant,
                storage,
                story,
                events_since=await last_event_id(redis, settings, tenant.client.id),
                status_code=409,
            )
            page.context.update(
                edit_values={k: form.get(k, "") for k in services.form_values(exc.theirs)},
                edit_stamp=services.version_stamp(exc.theirs),
                edit_conflict={"message": exc.message, "changes": exc.changes},
            )
            return page
        except services.WorkflowError as exc:
            page = await story_page(
                db_session,
                tenant,
                storage,
                story,
                events_since=await last_event_id(redis, settings, tenant.client.id),
                status_code=422,
            )
            page.context.update(edit_values={**page.context["edit_values"], **form}, edit_error=exc.message)
            return page
        flash(request, _("Saved as version %(n)s.", n=version.number), "success")
        return redirect(request, f"/c/{tenant.client.slug}/stories/{story.id}")

    @get("/{story_id:uuid}/diff", name="story_diff")
    async def diff(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        story_id: FromPath[UUID],
        a: FromQuery[int] = 1,
        b: FromQuery[int | None] = None,
    ) -> Template:
        story = await services.get_story(db_session, tenant.client.id, story_id)
        versions = {
            v.number: v
            for v in (
                await db_session.execute(
                    select(StoryVersion).where(
                        StoryVersion.client_id == tenant.client.id, StoryVersion.story_id == story.id
                    )
                )
            ).scalars()
        }
        newest = max(versions) if versions else 1
        old, new = versions.get(a), versions.get(b or newest)
        parts = services.diff_versions(old, new) if old and new and old is not new else []
        return Template(
            "stories/diff.html",
            context={
                "story": story,
                "numbers": sorted(versions),
                "a": a,
                "b": b or newest,
                "parts": parts,
                "missing": old is None or new is None,
            },
        )


class AuditController(Controller):
    path = "/c/{client_slug:str}/audit"
    guards = [requires(Role.EDITOR)]

    @get("/", name="audit")
    async def index(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        before: FromQuery[str | None] = None,
    ) -> Template:
        cursor = None
        if before:
            try:
                stamp, _sep, event_id = before.partition("~")
                cursor = (datetime.fromisoformat(stamp), UUID(event_id))
            except ValueError:
                cursor = None
        events = await audit.client_log(db_session, tenant.client.id, before=cursor, limit=50)
        after = f"{events[-1].created_at.isoformat()}~{events[-1].id}" if len(events) == 50 else None
        return Template(
            "stories/audit.html",
            context={"events": events, "describe": audit.describe, "next_cursor": after},
        )
