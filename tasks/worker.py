"""SAQ worker settings: `uv run saq tasks.worker.settings`.

Jobs are thin: they build their context once at start-up and call the domain services.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from saq import CronJob, Queue

import app.channels.telegram_channel  # noqa: F401 - registers the Telegram transport
import app.db.models  # noqa: F401 - every table on the metadata
from app.channels.instagram_publish import refresh_expiring_instagram_tokens  # also registers the transport
from app.config import get_settings
from app.db.session import create_engine, create_session_maker, scoped_session
from app.events.bus import publish_event
from app.generation.pipeline import GenerationDeps, run_step
from app.generation.pipeline import advance_pipeline as advance_pipeline_service
from app.generation.services import GenerationRefused, enqueue_generation, request_generation
from app.net.fetcher import SafeFetcher
from app.publishing.services import publish_publication as publish_publication_service
from app.publishing.services import sweep_publications
from app.secrets import SecretBox
from app.sources.services import HostLimiter, claim_due_sources, collect_source, not_duplicates
from app.storage import storage_from_settings
from app.stories.queue import compact_status_counts

logger = logging.getLogger("zavod.worker")
app_settings = get_settings()
queue = Queue.from_url(app_settings.redis_url, name=app_settings.queue_name)


async def startup(ctx: dict[str, Any]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx["engine"] = create_engine(app_settings)
    ctx["session_maker"] = create_session_maker(ctx["engine"])
    ctx["redis"] = Redis.from_url(app_settings.redis_url)
    ctx["storage"] = storage_from_settings(app_settings)
    ctx["fetcher"] = SafeFetcher.from_settings(app_settings)
    ctx["host_limiter"] = HostLimiter(per_host=2)
    ctx["secret_box"] = SecretBox.from_settings(app_settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["fetcher"].aclose()
    await ctx["storage"].close()
    await ctx["redis"].aclose()
    await ctx["engine"].dispose()


def generation_deps(ctx: dict[str, Any]) -> GenerationDeps:
    return GenerationDeps(
        session_maker=ctx["session_maker"],
        redis=ctx["redis"],
        settings=app_settings,
        storage=ctx["storage"],
        fetcher=ctx["fetcher"],
        secret_box=ctx["secret_box"],
        queue=queue,
    )


async def advance_pipeline(ctx: dict[str, Any], *, pipeline_id: str, client_id: str) -> None:
    await advance_pipeline_service(generation_deps(ctx), UUID(client_id), UUID(pipeline_id))


async def generation_step(ctx: dict[str, Any], *, job_id: str, client_id: str) -> None:
    saq_job = ctx["job"]
    await run_step(
        generation_deps(ctx),
        UUID(client_id),
        UUID(job_id),
        attempt=saq_job.attempts,
        final_attempt=not saq_job.retryable,
    )


async def fetch_source(ctx: dict[str, Any], *, source_id: str, client_id: str) -> dict[str, int]:
    tenant = UUID(client_id)
    async with scoped_session(ctx["session_maker"], client_id=tenant) as session:
        collected = await collect_source(
            session, tenant, UUID(source_id), ctx["fetcher"], ctx["host_limiter"], ctx["secret_box"]
        )
        auto_jobs = []
        if collected.source.auto_draft:
            for item_id in await not_duplicates(session, tenant, collected.new_item_ids):
                try:
                    async with session.begin_nested():
                        auto_jobs.append(await request_generation(session, tenant, item_id, requested_by=None))
                except GenerationRefused as exc:
                    # Out of credits: the items stay in the inbox for a person to decide.
                    logger.info("Auto-draft of item %s skipped: %s", item_id, exc.message)
                    break
    for job in auto_jobs:
        await enqueue_generation(queue, job)
    await publish_event(ctx["redis"], app_settings, tenant, "source", source_id=source_id)
    return {"new": len(collected.new_item_ids), "auto_drafts": len(auto_jobs)}


async def collect_due_sources(ctx: dict[str, Any]) -> dict[str, int]:
    async with scoped_session(ctx["session_maker"], system=True) as session:
        due = await claim_due_sources(session)
    for client_id, source_id in due:
        await queue.enqueue(
            "fetch_source", source_id=str(source_id), client_id=str(client_id), key=f"fetch:{source_id}", timeout=120
        )
    return {"enqueued": len(due)}


async def publish_publication(ctx: dict[str, Any], *, publication_id: str, client_id: str) -> str | None:
    return await publish_publication_service(
        session_maker=ctx["session_maker"],
        redis=ctx["redis"],
        settings=app_settings,
        client_id=UUID(client_id),
        publication_id=UUID(publication_id),
    )


async def sweep_due_publications(ctx: dict[str, Any]) -> dict[str, int]:
    return await sweep_publications(session_maker=ctx["session_maker"], redis=ctx["redis"], settings=app_settings)


async def refresh_instagram_tokens(ctx: dict[str, Any]) -> dict[str, int]:
    """Renew the Instagram tokens that run out within 10 days (a failure that may pass keeps the old one)."""
    return await refresh_expiring_instagram_tokens(
        session_maker=ctx["session_maker"], settings=app_settings, box=ctx["secret_box"]
    )


async def compact_story_counts(ctx: dict[str, Any]) -> dict[str, int]:
    """Fold the queue's appended tab-count rows (see app.stories.queue) so reading them stays cheap."""
    async with scoped_session(ctx["session_maker"], system=True) as session:
        folded = await compact_status_counts(session)
    return {"rows_folded": folded}


# SAQ's CLI reads this module attribute.
settings: dict[str, Any] = {
    "queue": queue,
    "functions": [advance_pipeline, generation_step, fetch_source, publish_publication],
    "cron_jobs": [
        CronJob(collect_due_sources, cron="* * * * *", unique=True),
        CronJob(sweep_due_publications, cron="* * * * *", unique=True),
        CronJob(compact_story_counts, cron="*/5 * * * *", unique=True),
        CronJob(refresh_instagram_tokens, cron="23 4 * * *", unique=True),
    ],
    "startup": startup,
    "shutdown": shutdown,
    "concurrency": 10,
}
