"""Stories: the moderation workflow of the walking skeleton (approve, reject)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.generation.models import Job, JobKind, JobStatus
from app.generation.services import StoryRepository
from app.i18n import gettext as _
from app.publishing.models import Publication
from app.publishing.services import PublicationRepository
from app.storage import MediaStorage
from app.stories.models import Asset, Story, StoryStatus, StoryVersion


class WorkflowError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def get_story(session: AsyncSession, client_id: UUID, story_id: UUID, *, for_update: bool = False) -> Story:
    return await StoryRepository(session, client_id).get(story_id, for_update=for_update)


async def list_stories(session: AsyncSession, client_id: UUID, status: str | None, limit: int = 50) -> list[Story]:
    where = [Story.status == status] if status in {s.value for s in StoryStatus} else []
    return await StoryRepository(session, client_id).list(
        *where,
        Story.status != StoryStatus.GENERATING,  # half-made: the inbox shows its job instead
        order_by=[Story.created_at.desc(), Story.id.desc()],
        limit=limit,
        options=[
            selectinload(Story.current_version).selectinload(StoryVersion.assets),
            selectinload(Story.current_version).selectinload(StoryVersion.scenes),
        ],
    )


async def approve(story: Story) -> None:
    if story.status not in (StoryStatus.DRAFT, StoryStatus.REJECTED):
        raise WorkflowError(_("Only a draft or a rejected story can be approved."))
    if story.current_version_id is None:
        raise WorkflowError(_("The story has no content yet."))
    story.status = StoryStatus.APPROVED


async def reject(story: Story) -> None:
    if story.status not in (StoryStatus.DRAFT, StoryStatus.APPROVED):
        raise WorkflowError(_("Only a draft or an approved story can be rejected."))
    story.status = StoryStatus.REJECTED


async def publications_of(session: AsyncSession, client_id: UUID, story_id: UUID) -> list[Publication]:
    return await PublicationRepository(session, client_id).list(
        Publication.story_id == story_id, order_by=Publication.scheduled_at.desc()
    )


async def asset_urls(storage: MediaStorage, assets: list[Asset], expires_in: int = 3600) -> dict[UUID, str]:
    return {asset.id: await storage.url(asset.storage_key, expires_in=expires_in) for asset in assets}


async def fresh_version(session: AsyncSession, client_id: UUID, story: Story) -> StoryVersion:
    """The story's current version as the database has it now (scenes and assets reloaded)."""
    return (
        await session.execute(
            select(StoryVersion)
            .where(StoryVersion.client_id == client_id, StoryVersion.id == story.current_version_id)
            .options(selectinload(StoryVersion.assets), selectinload(StoryVersion.scenes))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def scenes_context(session: AsyncSession, storage: MediaStorage, version: StoryVersion) -> dict[str, Any]:
    """What the scenes section shows: each scene's current variants, older ones, and its image jobs."""
    scene_ids = [scene.id for scene in version.scenes]
    jobs = (
        (
            await session.execute(
                select(Job)
                .where(Job.client_id == version.client_id, Job.scene_id.in_(scene_ids), Job.kind == JobKind.IMAGE)
                .order_by(Job.created_at)
            )
        )
        .scalars()
        .all()
        if scene_ids
        else []
    )
    busy = {job.scene_id for job in jobs if not JobStatus(job.status).is_final}
    failed = {job.scene_id: job.error for job in jobs if job.status == JobStatus.FAILED}
    for job in jobs:  # a later success clears an earlier failure
        if job.status == JobStatus.COMPLETED:
            failed.pop(job.scene_id, None)
    images = [a for a in version.assets if a.kind == "image"]
    # The newest video (a new one is made when scenes change) and its poster frame.
    video = next(
        (a for a in sorted(version.assets, key=lambda a: a.created_at, reverse=True) if a.kind == "video"), None
    )
    poster = next(
        (
            a
            for a in version.assets
            if a.kind == "poster" and video and a.idempotency_key == f"{video.idempotency_key}:poster"
        ),
        None,
    )
    return {
        "video": video,
        "poster": poster,
        "version": version,
        "scene_rows": [
            {
                "scene": scene,
                "variants": scene.variants(images),
                "headliner": scene.headliner(images),
                "older": [a for a in images if a.scene_id == scene.id and a.stale],
                "busy": scene.id in busy,
                "failed": failed.get(scene.id),
            }
            for scene in version.scenes
        ],
        "asset_urls": await asset_urls(storage, [*images, *(a for a in (video, poster) if a)]),
    }
