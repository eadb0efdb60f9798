"""Stories: the moderation workflow of the walking skeleton (approve, reject)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

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
