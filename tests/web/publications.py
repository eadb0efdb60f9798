"""Helpers for the channel publishing tests: a publication due now, and publishing it as the worker does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db.session import scoped_session
from app.publishing.models import Channel, Publication
from app.publishing.services import publish_publication
from app.stories.models import Story
from tests.conftest import Tenant


async def due_publication(session_maker, tenant: Tenant, story: Story, channel: Channel) -> Publication:
    """A scheduled publication of the story's current version on the channel, due a second ago."""
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        publication = Publication(
            client_id=tenant.client.id,
            story_id=story.id,
            story_version_id=story.current_version_id,
            channel_id=channel.id,
            scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        session.add(publication)
        await session.flush()
        return publication


async def reload(session_maker, tenant: Tenant, publication: Publication) -> Publication:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        return await session.get_one(Publication, publication.id)


async def publish(session_maker, redis, settings, tenant: Tenant, publication: Publication) -> Publication:
    """Run the worker's publish job for it; the publication as it is afterwards."""
    await publish_publication(
        session_maker=session_maker,
        redis=redis,
        settings=settings,
        client_id=tenant.client.id,
        publication_id=publication.id,
    )
    return await reload(session_maker, tenant, publication)
