"""The SSE endpoint: /c/{client_slug}/events."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage
from redis.asyncio import Redis

from app.audit.models import AuditEvent
from app.audit.services import describe
from app.auth.models import User
from app.config import Settings
from app.db.session import scoped_session
from app.events.bus import last_event_id, read_events
from app.generation.services import JobRepository
from app.tenancy.guards import TenantContext, requires
from app.tenancy.models import Role

# Audit actions that change what the story page shows beyond its panel: the notice offers a reload.
TEXT_ACTIONS = {
    "edited",
    "new_version",
    "returned_to_draft",
    "smart_edit_applied",
    "scene_added",
    "scene_moved",
    "scene_deleted",
    "scene_image_uploaded",
}
EVENT_ID_RE = re.compile(r"^\d+-\d+$")
KEEPALIVE_MS = 15_000


def render_event(request: Request[Any, Any, Any], template: str, **context: Any) -> str:
    engine = request.app.template_engine
    return engine.get_template(template).render(request=request, **context)


class EventsController(Controller):
    path = "/c/{client_slug:str}/events"
    guards = [requires(Role.EDITOR)]

    @get("/", name="events")
    async def stream(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
        since: FromQuery[str | None] = None,
    ) -> ServerSentEvent:
        event_redis: Redis = request.app.state.event_redis
        resume_from = request.headers.get("last-event-id") or since or "$"
        if resume_from != "$" and not EVENT_ID_RE.match(resume_from):
            resume_from = "$"

        async def events() -> AsyncGenerator[ServerSentEventMessage, None]:
            # A concrete id, never "$" across calls: "$" would drop events added between two reads.
            cursor = resume_from if resume_from != "$" else await last_event_id(event_redis, settings, tenant.client.id)
            while True:
                batch = await read_events(event_redis, settings, tenant.client.id, cursor, KEEPALIVE_MS)
                if not batch:
                    # A comment keeps proxies from closing an idle stream; data=None avoids an empty message.
                    yield ServerSentEventMessage(comment="keep-alive", data=None)
                    continue
                for event_id, data in batch:
                    cursor = event_id
                    message = await self._render(request, tenant, data)
                    if message is not None:
                        event_name, html = message
                        yield ServerSentEventMessage(data=html, event=event_name, id=event_id)
                    if data.get("kind") == "publication":
                        # The calendar shows every story's publications: it refetches on one client-wide name.
                        yield ServerSentEventMessage(data="changed", event="calendar", id=event_id)

        return ServerSentEvent(events(), headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"})

    async def _render(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[TenantContext], data: dict[str, str]
    ) -> tuple[str, str] | None:
        if data.get("kind") == "job":
            job_id = UUID(data["job_id"])
            async with scoped_session(request.app.state.session_maker, client_id=tenant.client.id) as session:
                job = await JobRepository(session, tenant.client.id).get_one_or_none(
                    JobRepository.model_type.id == job_id
                )
            if job is None:
                return None
            html = render_event(request, "inbox/_partials/job_status_body.html", job=job, tenant=tenant)
            return f"job-{job.id}", html
        if data.get("kind") == "source":
            # The sources page refetches that row on this event (hx-trigger="sse:..."): no payload needed.
            return f"source-{data['source_id']}", "fetched"
        if data.get("kind") == "story":
            # The story page refetches its scenes on this event (a new variant, a failed one).
            return f"story-{data['story_id']}", "changed"
        if data.get("kind") == "story_changed":
            # The story page's panel and the queue's row refetch themselves on this event, and the
            # notice above the story says who changed what. Not sent to the one who made the change:
            # their page already shows it (and a refetch would drop their keyboard focus in the queue).
            if data.get("actor_id") == str(tenant.user.id):
                return None
            actor = None
            if data.get("actor_id"):
                async with scoped_session(request.app.state.session_maker) as session:
                    actor = await session.get(User, UUID(data["actor_id"]))
            html = render_event(
                request,
                "stories/_partials/change_notice.html",
                actor=actor,
                action=describe(AuditEvent(action=data.get("action", ""), details={})),
                edited=data.get("action") in TEXT_ACTIONS,
            )
            return f"changed-{data['story_id']}", html
        if data.get("kind") == "comment":
            # The story page's comments refetch themselves on this event (a guest commented).
            return f"comment-{data['story_id']}", "new"
        if data.get("kind") == "publication":
            # The story page refetches its panel on this event (hx-trigger="sse:..."): no payload needed.
            return f"publication-{data['story_id']}", data.get("status", "")
        return None
