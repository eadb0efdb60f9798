"""What viewers read: only published versions, never drafts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.generation.services import StoryRepository, StoryVersionRepository
from app.publishing.models import Publication, PublicationStatus
from app.publishing.services import PublicationRepository
from app.stories.models import Story, StoryVersion


async def published_stories(
    session: AsyncSession, client_id: UUID, limit: int = 30
) -> list[tuple[Story, StoryVersion]]:
    stmt = (
        StoryRepository(session, client_id)
        .select()
        .add_columns(StoryVersion)
        .join(StoryVersion, (StoryVersion.id == Story.published_version_id) & (StoryVersion.client_id == client_id))
        .options(selectinload(StoryVersion.assets))
        .order_by(Story.updated_at.desc(), Story.id.desc())
        .limit(limit)
    )
    return [(story, version) for story, version in (await session.execute(stmt)).all()]


async def published_story(session: AsyncSession, client_id: UUID, story_id: UUID) -> tuple[Story, StoryVersion]:
    story = await StoryRepository(session, client_id).get(story_id)
    if story.published_version_id is None:
        raise NotFoundError("Story not published")
    version = await StoryVersionRepository(session, client_id).get(story.published_version_id)
    return story, version


async def published_at(session: AsyncSession, client_id: UUID, version_id: UUID) -> datetime | None:
    """When this version first went out (the reader shows it in the client's time zone)."""
    first = await PublicationRepository(session, client_id).list(
        Publication.story_version_id == version_id,
        Publication.status == PublicationStatus.PUBLISHED,
        order_by=Publication.published_at,
        limit=1,
    )
    return first[0].published_at if first else None
