"""The built-in Reader: publishing makes the version visible to the client's viewers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import ChannelTransport, PublishRequest, PublishResult, register
from app.publishing.models import ChannelKind
from app.stories.models import Story, StoryStatus


class ReaderTransport(ChannelTransport):
    kind = ChannelKind.READER

    def _result(self, request: PublishRequest) -> PublishResult:
        return PublishResult(
            external_id=str(request.story_version_id),
            external_url=f"/c/{request.client_slug}/reader/{request.story_id}",
        )

    async def publish(self, session: AsyncSession, request: PublishRequest) -> PublishResult:
        story = (
            (
                await session.execute(
                    select(Story)
                    .where(Story.id == request.story_id, Story.client_id == request.client_id)
                    .with_for_update(of=Story)
                )
            )
            .unique()
            .scalar_one()
        )
        story.published_version_id = request.story_version_id
        story.status = StoryStatus.PUBLISHED
        story.updated_at = datetime.now(UTC)
        return self._result(request)

    async def reconcile(self, session: AsyncSession, request: PublishRequest) -> PublishResult | None:
        story = await session.get(Story, request.story_id)
        if story is not None and story.published_version_id == request.story_version_id:
            return self._result(request)
        return None


register(ReaderTransport())
