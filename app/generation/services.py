"""Generation, as the web side and the collection worker use it.

`request_generation` creates (or reuses, or resumes) an item's pipeline job after checking the
client's credits; the caller commits, then `enqueue_generation`. Scene work on a story —
regenerating a variant, choosing the headliner, favourites, editing a scene's text — lives here
too. The steps themselves are in `pipeline`.
"""

from __future__ import annotations

from uuid import UUID

from saq import Queue
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.db.repository import TenantRepository
from app.generation import credits
from app.generation.models import Job, JobKind, JobStatus
from app.generation.pipeline import JobRepository, count_variants, enqueue_advance, enqueue_step, make_plan
from app.i18n import gettext as _
from app.sources.models import ItemStatus
from app.sources.services import SourceItemRepository
from app.stories.models import Asset, Scene, Story, StoryVersion
from app.tenancy.models import Client

__all__ = [
    "GenerationRefused",
    "JobRepository",
    "StoryRepository",
    "StoryVersionRepository",
    "enqueue_generation",
    "enqueue_step",
    "regenerate_scene",
    "request_generation",
]


class StoryRepository(TenantRepository[Story]):
    model_type = Story


class StoryVersionRepository(TenantRepository[StoryVersion]):
    model_type = StoryVersion


class GenerationRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _check_budget(session: AsyncSession, client: Client, cost: int) -> None:
    if cost <= 0:
        return
    balance = await credits.balance(session, client)
    if balance.remaining < cost:
        raise GenerationRefused(
            _(
                "Not enough credits: this needs %(cost)s and %(left)s of this month's %(budget)s are left. "
                "The client's owner can raise the monthly budget.",
                cost=cost,
                left=max(balance.remaining, 0),
                budget=balance.budget,
            )
        )


async def request_generation(
    session: AsyncSession,
    client_id: UUID,
    item_id: UUID,
    *,
    requested_by: User | None,
    preset_id: UUID | None = None,
) -> Job:
    """The item's pipeline job: a new one, the running one (a double click), or a failed one resumed
    from its failed steps. Refused up front when the month's remaining credits can't cover it.
    The caller commits, then calls `enqueue_generation`."""
    item = await SourceItemRepository(session, client_id).get(item_id, for_update=True)
    jobs = JobRepository(session, client_id)
    key = f"generate:{item.id}"
    pipeline = await jobs.get_one_or_none(Job.idempotency_key == key)
    if pipeline is not None and pipeline.status != JobStatus.FAILED:
        return pipeline  # a double click or a second editor: the same job, not a second story
    if item.status == ItemStatus.IGNORED:
        raise GenerationRefused(_("This item is ignored; restore it before generating."))
    client = await session.get_one(Client, client_id)
    if pipeline is None:
        plan = await make_plan(session, client, preset_id)
        await _check_budget(session, client, plan.estimate)
        pipeline = await jobs.add(
            Job(
                kind=JobKind.GENERATE_STORY,
                idempotency_key=key,
                source_item_id=item.id,
                requested_by_id=requested_by.id if requested_by else None,
                status=JobStatus.QUEUED,
                preset_id=plan.preset.preset_id,
                cost_credits=plan.estimate,
            )
        )
    else:
        await _resume(session, client, pipeline)
    item.status = ItemStatus.GENERATING
    return pipeline


async def _resume(session: AsyncSession, client: Client, pipeline: Job) -> None:
    """A failed pipeline goes on from its failed steps; the completed ones are kept (and not paid twice)."""
    failed = list(
        (
            await session.execute(
                select(Job).where(
                    Job.client_id == client.id, Job.pipeline_id == pipeline.id, Job.status == JobStatus.FAILED
                )
            )
        ).scalars()
    )
    await _check_budget(session, client, sum(step.cost_credits for step in failed))
    for step in failed:
        step.status, step.error, step.attempts, step.progress = JobStatus.QUEUED, None, 0, 0
    pipeline.status, pipeline.error, pipeline.finished_at = JobStatus.QUEUED, None, None


async def enqueue_generation(queue: Queue, job: Job) -> None:
    """After commit: the pipeline plans what comes next and sends its steps reset for a retry."""
    await enqueue_advance(queue, job.client_id, job.id)


async def queued_steps(session: AsyncSession, client_id: UUID, pipeline_id: UUID) -> list[Job]:
    return list(
        (
            await session.execute(
                select(Job).where(
                    Job.client_id == client_id, Job.pipeline_id == pipeline_id, Job.status == JobStatus.QUEUED
                )
            )
        ).scalars()
    )


async def retry_pipeline(session: AsyncSession, client_id: UUID, pipeline_id: UUID) -> list[Job]:
    """Retry a failed pipeline's failed steps alone (the caller commits, then `enqueue_generation`).
    Returns the steps that will run again."""
    pipeline = await JobRepository(session, client_id).get(pipeline_id, for_update=True)
    if pipeline.kind != JobKind.GENERATE_STORY or pipeline.status != JobStatus.FAILED:
        raise GenerationRefused(_("Only a failed generation can be retried."))
    client = await session.get_one(Client, client_id)
    await _resume(session, client, pipeline)
    if pipeline.source_item_id:
        item = await SourceItemRepository(session, client_id).get(pipeline.source_item_id)
        item.status = ItemStatus.GENERATING
    return await queued_steps(session, client_id, pipeline.id)


# Scenes ------------------------------------------------------------------------------------------


class SceneRepository(TenantRepository[Scene]):
    model_type = Scene


class AssetRepository(TenantRepository[Asset]):
    model_type = Asset


async def regenerate_scene(session: AsyncSession, client_id: UUID, scene_id: UUID, *, requested_by: User) -> Job:
    """A new image variant for one scene (within the preset's limit and the month's credits).
    The caller commits, then `enqueue_step`."""
    scene = await SceneRepository(session, client_id).get(scene_id, for_update=True)
    version = await StoryVersionRepository(session, client_id).get(scene.story_version_id)
    if version.frozen:
        raise GenerationRefused(_("This version is published and frozen; edit the story to make a new version."))
    client = await session.get_one(Client, client_id)
    plan = await make_plan(session, client, version.preset_id)
    made = await count_variants(session, client_id, scene.id)
    if made >= plan.preset.max_variants_per_scene:
        raise GenerationRefused(
            _(
                "This scene has %(n)s images already, the most its style preset allows.",
                n=plan.preset.max_variants_per_scene,
            )
        )
    await _check_budget(session, client, plan.image.cost_credits)
    story = await StoryRepository(session, client_id).get(version.story_id)
    return await JobRepository(session, client_id).add(
        Job(
            kind=JobKind.IMAGE,
            status=JobStatus.QUEUED,
            idempotency_key=f"regenerate:{scene.id}:s{scene.revision}:v{made}",
            source_item_id=story.source_item_id,
            story_id=story.id,
            story_version_id=version.id,
            scene_id=scene.id,
            requested_by_id=requested_by.id,
            cost_credits=plan.image.cost_credits,
            model_id=plan.image.model_id,
            params={"variant": made},
        )
    )


async def choose_headliner(session: AsyncSession, client_id: UUID, asset_id: UUID) -> Scene:
    asset = await AssetRepository(session, client_id).get(asset_id)
    if asset.scene_id is None or asset.stale:
        raise GenerationRefused(_("Only a current image of a scene can be its headliner."))
    scene = await SceneRepository(session, client_id).get(asset.scene_id, for_update=True)
    scene.headliner_asset_id = asset.id
    return scene


async def toggle_favourite(session: AsyncSession, client_id: UUID, asset_id: UUID) -> Asset:
    asset = await AssetRepository(session, client_id).get(asset_id, for_update=True)
    asset.favourite = not asset.favourite
    return asset


async def edit_scene_text(session: AsyncSession, client_id: UUID, scene_id: UUID, text: str) -> Scene:
    """New text for a scene: its images (that scene's only) are no longer current."""
    text = text.strip()
    if not text:
        raise GenerationRefused(_("A scene needs some text."))
    scene = await SceneRepository(session, client_id).get(scene_id, for_update=True)
    version = await StoryVersionRepository(session, client_id).get(scene.story_version_id)
    if version.frozen:
        raise GenerationRefused(_("This version is published and frozen; edit the story to make a new version."))
    if text == scene.text:
        return scene
    scene.text, scene.revision, scene.image_prompt = text, scene.revision + 1, ""
    scene.headliner_asset_id = None
    await session.execute(
        update(Asset)
        .where(Asset.client_id == client_id, Asset.scene_id == scene.id, Asset.kind == "image")
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )
    return scene
