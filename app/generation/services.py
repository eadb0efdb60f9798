"""Generation: from a collected item to a draft story, through the job pipeline.

The web side creates a `jobs` row (QUEUED) and enqueues a SAQ job after committing; the worker
runs `run_generation`, which reports every status change as an event. Re-running it never
duplicates the story or its assets: the story is remembered on the job and each asset carries an
idempotency key (version + scene + format + preset revision).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio import Redis
from saq import Queue
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.base import ImageRequest, TextRequest, get_image_provider, get_text_provider
from app.auth.models import User
from app.config import Settings
from app.db.repository import TenantRepository
from app.db.session import scoped_session
from app.events.bus import publish_event
from app.generation.models import Job, JobKind, JobStatus
from app.i18n import gettext as _
from app.net.fetcher import FetchError, SafeFetcher
from app.sources.models import ItemStatus, SourceItem
from app.sources.services import SourceItemRepository
from app.storage import MediaStorage, client_media_key
from app.stories.models import Asset, Story, StoryStatus, StoryVersion
from app.tenancy.models import Client

logger = logging.getLogger(__name__)

CARD_SIZE = (1080, 1350)  # 4:5, fits an Instagram feed post and a Telegram photo
PRESET_REVISION = 0  # style presets arrive with the generation issue; revision 0 is the built-in look
MAX_ATTEMPTS = 3


class JobRepository(TenantRepository[Job]):
    model_type = Job


class StoryRepository(TenantRepository[Story]):
    model_type = Story


class StoryVersionRepository(TenantRepository[StoryVersion]):
    model_type = StoryVersion


class GenerationRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def request_generation(
    session: AsyncSession, client_id: UUID, item_id: UUID, *, requested_by: User | None
) -> Job:
    """Create (or reuse) the generation job of an item. The caller commits, then enqueues."""
    item = await SourceItemRepository(session, client_id).get(item_id, for_update=True)
    jobs = JobRepository(session, client_id)
    key = f"generate:{item.id}"
    job = await jobs.get_one_or_none(Job.idempotency_key == key)
    if job is not None and job.status != JobStatus.FAILED:
        return job  # a double click or a second editor: the same job, not a second story
    if item.status == ItemStatus.IGNORED:
        raise GenerationRefused(_("This item is ignored; restore it before generating."))
    if job is None:
        job = await jobs.add(
            Job(
                kind=JobKind.GENERATE_STORY,
                idempotency_key=key,
                source_item_id=item.id,
                requested_by_id=requested_by.id if requested_by else None,
                status=JobStatus.QUEUED,
            )
        )
    else:
        job.status, job.error, job.progress, job.attempts = JobStatus.QUEUED, None, 0, 0
    item.status = ItemStatus.GENERATING
    return job


async def enqueue_generation(queue: Queue, job: Job) -> None:
    await queue.enqueue(
        "generate_story",
        job_id=str(job.id),
        client_id=str(job.client_id),
        # A retried job gets a new SAQ key: SAQ keeps finished keys for a while and would drop it.
        key=f"generate:{job.id}:{job.updated_at.timestamp()}",
        retries=MAX_ATTEMPTS,
        retry_delay=2.0,
        retry_backoff=60.0,
        timeout=300,
    )


async def _set_status(
    session_maker: async_sessionmaker[AsyncSession],
    redis: Redis,
    settings: Settings,
    client_id: UUID,
    job_id: UUID,
    **changes: object,
) -> None:
    """Each status change commits on its own, so the page sees it while the job goes on."""
    async with scoped_session(session_maker, client_id=client_id) as session:
        job = await JobRepository(session, client_id).get(job_id)
        for name, value in changes.items():
            setattr(job, name, value)
    await publish_event(redis, settings, client_id, "job", job_id=job_id)


async def _background_photo(fetcher: SafeFetcher, url: str | None) -> bytes | None:
    if not url:
        return None
    try:
        result = await fetcher.fetch(url)
    except FetchError as exc:
        logger.info("Background photo %s skipped: %s", url, exc.message)
        return None
    return result.content if (result.content_type or "").startswith("image/") else None


async def run_generation(
    *,
    session_maker: async_sessionmaker[AsyncSession],
    redis: Redis,
    settings: Settings,
    storage: MediaStorage,
    fetcher: SafeFetcher,
    client_id: UUID,
    job_id: UUID,
    attempt: int,
    final_attempt: bool,
) -> None:
    async with scoped_session(session_maker, client_id=client_id) as session:
        job = await JobRepository(session, client_id).get(job_id)
        if JobStatus(job.status).is_final:
            return  # already done: a duplicate delivery of the same job changes nothing
    await _set_status(
        session_maker,
        redis,
        settings,
        client_id,
        job_id,
        status=JobStatus.RUNNING,
        attempts=attempt,
        progress=10,
        started_at=datetime.now(UTC),
        error=None,
    )
    try:
        await _generate(session_maker, redis, settings, storage, fetcher, client_id, job_id)
    except Exception as exc:
        logger.exception("Generation job %s failed (attempt %s)", job_id, attempt)
        message = _plain_error(exc)
        if final_attempt:
            await _set_status(
                session_maker,
                redis,
                settings,
                client_id,
                job_id,
                status=JobStatus.FAILED,
                error=message,
                finished_at=datetime.now(UTC),
            )
            async with scoped_session(session_maker, client_id=client_id) as session:
                job = await JobRepository(session, client_id).get(job_id)
                if job.source_item_id:
                    item = await SourceItemRepository(session, client_id).get(job.source_item_id)
                    item.status = ItemStatus.NEW
        else:
            await _set_status(
                session_maker,
                redis,
                settings,
                client_id,
                job_id,
                status=JobStatus.QUEUED,
                error=_("Attempt %(n)s failed (%(reason)s); trying again.", n=attempt, reason=message),
            )
        raise


def _plain_error(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    return _("An unexpected error stopped generation (%(kind)s).", kind=type(exc).__name__)


async def _generate(
    session_maker: async_sessionmaker[AsyncSession],
    redis: Redis,
    settings: Settings,
    storage: MediaStorage,
    fetcher: SafeFetcher,
    client_id: UUID,
    job_id: UUID,
) -> None:
    async with scoped_session(session_maker, client_id=client_id) as session:
        job = await JobRepository(session, client_id).get(job_id)
        item: SourceItem = await SourceItemRepository(session, client_id).get(job.source_item_id)
        client = await session.get_one(Client, client_id)
        draft = await get_text_provider("local").generate_story(
            TextRequest(
                title=item.title,
                text=item.content or item.summary,
                language=client.language,
                scene_count=1,
                source_url=item.url,
            )
        )
        stories = StoryRepository(session, client_id)
        story = await stories.get(job.story_id) if job.story_id else None
        if story is None:
            story = await stories.add(
                Story(status=StoryStatus.DRAFT, source_item_id=item.id, created_by_id=job.requested_by_id)
            )
            job.story_id = story.id
        version = await StoryVersionRepository(session, client_id).get_one_or_none(
            StoryVersion.story_id == story.id, StoryVersion.number == 1
        )
        if version is None:
            version = await StoryVersionRepository(session, client_id).add(
                StoryVersion(story_id=story.id, number=1, title=draft.title)
            )
        version.title, version.lead, version.body = draft.title, draft.lead, draft.body
        version.captions, version.hashtags = draft.captions, draft.hashtags
        story.current_version_id = version.id
        image_url, client_name, colours = item.image_url, client.name, (client.brand_color, client.accent_color)
        version_id, story_id = version.id, story.id
        headline = draft.scenes[0] if draft.scenes else draft.lead
    await _set_status(session_maker, redis, settings, client_id, job_id, progress=50)

    background = await _background_photo(fetcher, image_url)
    width, height = CARD_SIZE
    image = await get_image_provider("local").generate_image(
        ImageRequest(
            title=draft.title,
            text=headline[:280],
            width=width,
            height=height,
            brand_color=colours[0],
            accent_color=colours[1],
            client_name=client_name,
            background=background,
        )
    )
    await _set_status(session_maker, redis, settings, client_id, job_id, status=JobStatus.UPLOADING, progress=80)

    idempotency_key = f"{version_id}:scene-0:{width}x{height}:r{PRESET_REVISION}"
    extension = "png" if image.mime == "image/png" else "jpg"
    storage_key = client_media_key(
        client_id, "stories", str(story_id), f"{version_id}-scene-0-{width}x{height}-r{PRESET_REVISION}.{extension}"
    )
    await storage.put(storage_key, image.data, image.mime)
    async with scoped_session(session_maker, client_id=client_id) as session:
        await session.execute(
            insert(Asset)
            .values(
                client_id=client_id,
                story_version_id=version_id,
                scene_position=0,
                kind="image",
                storage_key=storage_key,
                mime=image.mime,
                size_bytes=len(image.data),
                width=image.width,
                height=image.height,
                provider="local",
                idempotency_key=idempotency_key,
                prompt=draft.title,
            )
            .on_conflict_do_nothing(constraint="uq_assets_client_key")
        )
        job = await JobRepository(session, client_id).get(job_id)
        job.status, job.progress, job.finished_at, job.error = JobStatus.COMPLETED, 100, datetime.now(UTC), None
        if job.source_item_id:
            item = await SourceItemRepository(session, client_id).get(job.source_item_id)
            item.status = ItemStatus.DRAFTED
    await publish_event(redis, settings, client_id, "job", job_id=job_id)
