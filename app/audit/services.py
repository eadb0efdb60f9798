"""Recording and reading the audit log (tenant-scoped like everything else)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.db.repository import TenantRepository
from app.events.bus import publish_after_commit
from app.i18n import gettext as _


class AuditRepository(TenantRepository[AuditEvent]):
    model_type = AuditEvent


async def record(
    session: AsyncSession,
    client_id: UUID,
    action: str,
    *,
    actor_id: UUID | None,
    story_id: UUID | None = None,
    **details: Any,
) -> AuditEvent:
    if story_id is not None:
        # Whoever has the story open sees it change (status, text, scenes) without reloading.
        publish_after_commit(
            session, client_id, "story_changed", story_id=story_id, action=action, actor_id=actor_id or ""
        )
    return await AuditRepository(session, client_id).add(
        AuditEvent(action=action, actor_id=actor_id, story_id=story_id, details=details)
    )


async def story_log(session: AsyncSession, client_id: UUID, story_id: UUID, limit: int = 100) -> list[AuditEvent]:
    return await AuditRepository(session, client_id).list(
        AuditEvent.story_id == story_id, order_by=[AuditEvent.created_at.desc(), AuditEvent.id.desc()], limit=limit
    )


async def client_log(
    session: AsyncSession, client_id: UUID, *, before: tuple[datetime, UUID] | None = None, limit: int = 50
) -> list[AuditEvent]:
    """Newest first, keyset-paged by (created_at, id)."""
    query = select(AuditEvent).where(AuditEvent.client_id == client_id)
    if before is not None:
        query = query.where((AuditEvent.created_at, AuditEvent.id) < before)
    query = query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars().unique())


def describe(event: AuditEvent) -> str:
    """The event in words, for the story page and the audit page."""
    details = event.details or {}
    words = {
        "generated": _("Draft generated"),
        "submitted": _("Submitted for review"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "changes_requested": _("Changes requested"),
        "edited": _("Edited"),
        "new_version": _("New version %(n)s started from the published one", n=details.get("number", "")),
        "returned_to_draft": _("Back to draft after an edit"),
        "smart_edit_applied": _("Smart Edit applied: “%(i)s”", i=details.get("instruction", "")),
        "scene_added": _("Scene %(n)s added", n=details.get("scene", "")),
        "scene_moved": _("Scene %(n)s moved to place %(to)s", n=details.get("before", ""), to=details.get("after", "")),
        "scene_deleted": _("Scene %(n)s deleted", n=details.get("scene", "")),
        "scene_image_uploaded": _("Own image uploaded for scene %(n)s", n=details.get("scene", "")),
    }
    text = words.get(event.action, event.action)
    if details.get("reason"):
        text += ": " + str(details["reason"])
    if details.get("fields"):
        text += " (" + ", ".join(str(f) for f in details["fields"]) + ")"
    return text
