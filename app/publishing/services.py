"""Scheduling and publishing, exactly once.

A publication moves scheduled → publishing → published | failed | needs_attention. The move to
`publishing` is one conditional UPDATE (`WHERE status = 'scheduled'`): whichever of the scheduled
SAQ job, the sweep or a second worker gets there first owns it, the others see nothing to do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from saq import Queue
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.channels.reader  # noqa: F401 - registers the Reader transport
from app.channels.base import ChannelError, FailureKind, PublishRequest, transport_for
from app.config import Settings
from app.db.repository import TenantRepository
from app.db.session import scoped_session
from app.events.bus import publish_after_commit, publish_event
from app.i18n import gettext as _
from app.publishing.models import Channel, ChannelKind, Publication, PublicationStatus
from app.stories.models import Story, StoryStatus
from app.tenancy.models import Client

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# A publication still "publishing" after this long belonged to a worker that died.
STALE_PUBLISHING = timedelta(minutes=10)
# How far in the past a typed time may be (the minute the person is in).
PAST_TOLERANCE = timedelta(minutes=1)


class ChannelRepository(TenantRepository[Channel]):
    model_type = Channel


class PublicationRepository(TenantRepository[Publication]):
    model_type = Publication

    async def live_on_channel(self, version_id: UUID, channel_id: UUID) -> Publication | None:
        """The version's publication on the channel that is not canceled (at most one: see
        uq_publications_live_version_channel)."""
        return await self.get_one_or_none(
            Publication.story_version_id == version_id,
            Publication.channel_id == channel_id,
            Publication.status != PublicationStatus.CANCELED,
        )

    async def pending_on_channel(self, channel_id: UUID) -> int:
        """Publications scheduled or under way on the channel: removing it would delete them silently."""
        return await self.count(
            Publication.channel_id == channel_id,
            Publication.status.in_([PublicationStatus.SCHEDULED, PublicationStatus.PUBLISHING]),
        )

    async def claim_due(self, publication_id: UUID, now: datetime) -> bool:
        """scheduled → publishing in one conditional UPDATE: only one caller can win it.

        Nothing is claimed on a paused channel: the publication stays scheduled until it resumes.
        A publication that is gone (its story was deleted) or canceled is not claimed either.
        """
        claimed = await self.session.execute(
            update(Publication)
            .where(
                Publication.client_id == self.client_id,
                Publication.id == publication_id,
                Publication.status == PublicationStatus.SCHEDULED,
                Publication.scheduled_at <= now,
                Publication.channel_id.in_(
                    select(Channel.id).where(Channel.client_id == self.client_id, Channel.is_paused.is_(False))
                ),
            )
            .values(status=PublicationStatus.PUBLISHING, attempts=Publication.attempts + 1, updated_at=now)
            .returning(Publication.id)
        )
        return claimed.first() is not None


class ScheduleError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_local_datetime(value: str, timezone: str) -> datetime:
    """A `datetime-local` value typed in the client's time zone → an aware UTC datetime."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ScheduleError(_("Enter a date and time, e.g. 2026-12-01 09:30.")) from exc
    if naive.tzinfo is not None:
        naive = naive.replace(tzinfo=None)
    zone = ZoneInfo(timezone)
    local = naive.replace(tzinfo=zone)
    # A wall time skipped by a DST change (e.g. 02:30 on spring-forward day) does not exist.
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ScheduleError(_("This time does not exist in %(tz)s (clocks change that day).", tz=timezone))
    return local.astimezone(UTC)


async def reader_channel(session: AsyncSession, client_id: UUID) -> Channel:
    channel = await ChannelRepository(session, client_id).get_one_or_none(Channel.kind == ChannelKind.READER)
    if channel is None:
        channel = await ChannelRepository(session, client_id).add(Channel(kind=ChannelKind.READER, name="Reader"))
    return channel


async def publishing_channels(session: AsyncSession, client_id: UUID) -> list[Channel]:
    """The channels a story can be scheduled on: the Reader first (made if missing), then the rest."""
    reader = await reader_channel(session, client_id)
    others = await ChannelRepository(session, client_id).list(
        Channel.kind != ChannelKind.READER, order_by=[Channel.kind, Channel.name]
    )
    return [reader, *others]


async def schedule_story(
    session: AsyncSession,
    client: Client,
    story: Story,
    when_local: str,
    *,
    channel_id: UUID | None = None,
    now: datetime | None = None,
) -> Publication:
    """A publication of the story's current version at a time typed in the client's zone, on the
    chosen channel (the Reader when none is given)."""
    if story.status not in (StoryStatus.APPROVED, StoryStatus.SCHEDULED):
        raise ScheduleError(_("Approve the story before scheduling it."))
    if story.current_version_id is None:
        raise ScheduleError(_("The story has no content yet."))
    scheduled_at = parse_local_datetime(when_local, client.timezone)
    now = now or datetime.now(UTC)
    if scheduled_at < now - PAST_TOLERANCE:
        raise ScheduleError(_("That time has already passed in %(tz)s.", tz=client.timezone))
    if channel_id is None:
        channel = await reader_channel(session, client.id)
    else:
        channel = await ChannelRepository(session, client.id).get_one_or_none(Channel.id == channel_id)
        if channel is None:
            raise ScheduleError(_("Pick one of this client's channels."))
    if await PublicationRepository(session, client.id).live_on_channel(story.current_version_id, channel.id):
        raise ScheduleError(_("This story is already scheduled on %(channel)s.", channel=channel.name))
    publication = await PublicationRepository(session, client.id).add(
        Publication(
            story_id=story.id,
            story_version_id=story.current_version_id,
            channel=channel,
            scheduled_at=max(scheduled_at, now),
        )
    )
    story.status = StoryStatus.SCHEDULED
    publish_after_commit(session, client.id, "publication", story_id=story.id, status=PublicationStatus.SCHEDULED)
    return publication


async def enqueue_publication(queue: Queue, publication: Publication) -> None:
    await queue.enqueue(
        "publish_publication",
        client_id=str(publication.client_id),
        publication_id=str(publication.id),
        # The time is in the key: a publication moved to another time (a channel resumed) gets a job
        # of its own instead of being taken for the one already queued for its old time.
        key=f"publish:{publication.id}:{publication.attempts}:{int(publication.scheduled_at.timestamp())}",
        scheduled=int(publication.scheduled_at.timestamp()),
        timeout=300,
    )


async def cancel_publication(session: AsyncSession, client_id: UUID, story: Story, publication_id: UUID) -> None:
    publication = await PublicationRepository(session, client_id).get(publication_id, for_update=True)
    if publication.story_id != story.id or publication.status != PublicationStatus.SCHEDULED:
        raise ScheduleError(_("Only a publication that is still scheduled can be canceled."))
    publication.status = PublicationStatus.CANCELED
    others = await PublicationRepository(session, client_id).count(
        Publication.story_id == story.id,
        Publication.status == PublicationStatus.SCHEDULED,
        Publication.id != publication.id,
    )
    # Still scheduled on another channel: the story stays scheduled.
    if story.status == StoryStatus.SCHEDULED and not others:
        story.status = StoryStatus.APPROVED
    publish_after_commit(session, client_id, "publication", story_id=story.id, status=PublicationStatus.CANCELED)


async def publish_publication(
    *,
    session_maker: async_sessionmaker[AsyncSession],
    redis: Redis,
    settings: Settings,
    client_id: UUID,
    publication_id: UUID,
    now: datetime | None = None,
) -> str | None:
    """Publish one due publication if nobody else has; returns its final status, or None."""
    now = now or datetime.now(UTC)
    async with scoped_session(session_maker, client_id=client_id) as session:
        if not await PublicationRepository(session, client_id).claim_due(publication_id, now):
            return None
    async with scoped_session(session_maker, client_id=client_id) as session:
        publication = await PublicationRepository(session, client_id).get(publication_id)
        story_id = publication.story_id  # read now: a failure rolls back, which expires the row
        client = await session.get_one(Client, client_id)
        request = PublishRequest(
            client_id=client_id,
            client_slug=client.slug,
            story_id=publication.story_id,
            story_version_id=publication.story_version_id,
            publication_id=publication.id,
        )
        try:
            result = await transport_for(publication.channel.kind).publish(session, request)
        except ChannelError as exc:
            await session.rollback()
            status = await _record_failure(session_maker, client_id, publication_id, exc, now)
        else:
            publication.status = PublicationStatus.PUBLISHED
            publication.external_id, publication.external_url = result.external_id, result.external_url
            publication.published_at = now
            publication.last_error = None
            publication.channel.last_success_at = now
            status = PublicationStatus.PUBLISHED
    await publish_event(redis, settings, client_id, "publication", story_id=story_id, status=status)
    return status


async def _record_failure(
    session_maker: async_sessionmaker[AsyncSession],
    client_id: UUID,
    publication_id: UUID,
    exc: ChannelError,
    now: datetime,
) -> str:
    async with scoped_session(session_maker, client_id=client_id) as session:
        publication = await PublicationRepository(session, client_id).get(publication_id)
        publication.last_error = exc.message
        publication.channel.last_error = exc.message
        if exc.kind == FailureKind.RETRYABLE and publication.attempts < MAX_ATTEMPTS:
            delay = exc.retry_after or 60 * (2 ** (publication.attempts - 1))
            publication.status = PublicationStatus.SCHEDULED
            publication.scheduled_at = now + timedelta(seconds=delay)
        elif exc.kind == FailureKind.NEEDS_ATTENTION:
            publication.status = PublicationStatus.NEEDS_ATTENTION
        else:
            publication.status = PublicationStatus.FAILED
        return publication.status


async def sweep_publications(
    *, session_maker: async_sessionmaker[AsyncSession], redis: Redis, settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    """Publish everything overdue (after a restart, say) and settle publications orphaned mid-way."""
    now = now or datetime.now(UTC)
    async with scoped_session(session_maker, system=True) as session:
        due = (
            await session.execute(
                select(Publication.client_id, Publication.id)
                # A paused channel's publications wait (and must not fill the batch while they do).
                .join(Channel, Channel.id == Publication.channel_id)
                .where(
                    Publication.status == PublicationStatus.SCHEDULED,
                    Publication.scheduled_at <= now,
                    Channel.is_paused.is_(False),
                )
                .order_by(Publication.scheduled_at)
                .limit(500)
            )
        ).all()
        stale = (
            await session.execute(
                select(Publication.client_id, Publication.id).where(
                    Publication.status == PublicationStatus.PUBLISHING, Publication.updated_at < now - STALE_PUBLISHING
                )
            )
        ).all()
    published = 0
    for client_id, publication_id in due:
        if await publish_publication(
            session_maker=session_maker,
            redis=redis,
            settings=settings,
            client_id=client_id,
            publication_id=publication_id,
            now=now,
        ):
            published += 1
    for client_id, publication_id in stale:
        await _reconcile(session_maker, client_id, publication_id, now)
    return {"due": len(due), "published": published, "reconciled": len(stale)}


async def _reconcile(
    session_maker: async_sessionmaker[AsyncSession], client_id: UUID, publication_id: UUID, now: datetime
) -> None:
    """The worker died mid-way: never post twice. Ask the channel, else a person decides."""
    async with scoped_session(session_maker, client_id=client_id) as session:
        publication = await PublicationRepository(session, client_id).get(publication_id, for_update=True)
        if publication.status != PublicationStatus.PUBLISHING:
            return
        client = await session.get_one(Client, client_id)
        request = PublishRequest(
            client_id=client_id,
            client_slug=client.slug,
            story_id=publication.story_id,
            story_version_id=publication.story_version_id,
            publication_id=publication.id,
        )
        result = await transport_for(publication.channel.kind).reconcile(session, request)
        if result is not None:
            publication.status = PublicationStatus.PUBLISHED
            publication.external_id, publication.external_url = result.external_id, result.external_url
            publication.published_at = publication.published_at or now
        else:
            publication.status = PublicationStatus.NEEDS_ATTENTION
            publication.last_error = _(
                "Publishing was interrupted and Zavod cannot tell whether the post went out. "
                "Check the channel, then retry or cancel."
            )
