"""The generation pipeline: IMPORT → NORMALIZE → SEGMENT → PROMPTS → IMAGE (per scene) → VIDEO.

A pipeline is a `jobs` row of kind generate_story (what the inbox shows); each step is a `jobs`
row of its own pointing at it (`pipeline_id`), with the one status vocabulary, its attempts, its
error in plain words and its cost. Two SAQ functions drive it:

* `advance_pipeline` looks at the steps and plans (creates and enqueues) whatever can run next;
  it is idempotent (steps have idempotency keys) and serialised per pipeline (row lock).
* `run_step` runs one step. Its outputs, its COMPLETED status and its credit charge commit in one
  transaction, so a step either happened entirely or not at all, and a re-run never duplicates an
  asset or a charge. Then it asks for `advance_pipeline` again.

A failed step can be retried alone (services.retry_pipeline): the steps that completed stay.
The worker is stateless: a step reads its inputs from the database and the storage layer and
writes its outputs there (import.json / normalized.json under the client's media prefix).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from saq import Queue
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ai.base import ImageRequest, ProviderError, TextRequest
from app.config import Settings
from app.db.repository import TenantRepository
from app.db.session import scoped_session
from app.events.bus import publish_event
from app.generation import credits
from app.generation.models import Job, JobKind, JobStatus
from app.generation.presets import EffectivePreset, effective_preset
from app.i18n import gettext as _
from app.net.fetcher import FetchError, SafeFetcher
from app.providers.models import Capability
from app.providers.services import ModelChoice, image_provider_for, resolve_model, text_provider_for
from app.secrets import SecretBox
from app.sources.models import ItemStatus, SourceItem
from app.sources.parsing.markup import plain_text
from app.storage import MediaStorage, StorageObjectMissing, client_media_key
from app.stories.models import Asset, Scene, Story, StoryStatus, StoryVersion
from app.tenancy.models import Client

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_SOURCE_CHARS = 600_000  # a long book chapter; more is almost surely a wrong file
MAX_BACKGROUND_BYTES = 15 * 1024 * 1024


class StepRefused(Exception):
    """The step cannot succeed with this input: no retry helps. `message` is for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class GenerationDeps:
    """What the steps need from the process: built once by the worker (or a test)."""

    session_maker: async_sessionmaker[AsyncSession]
    redis: Redis
    settings: Settings
    storage: MediaStorage
    fetcher: SafeFetcher
    secret_box: SecretBox | None
    queue: Queue


class JobRepository(TenantRepository[Job]):
    model_type = Job


def step_name(kind: str) -> str:
    """The step's name for people."""
    names = {
        JobKind.IMPORT: _("Import"),
        JobKind.NORMALIZE: _("Clean-up"),
        JobKind.SEGMENT: _("Text and scenes"),
        JobKind.PROMPTS: _("Image prompts"),
        JobKind.IMAGE: _("Image"),
        JobKind.VIDEO: _("Video"),
    }
    return names.get(kind, kind)


# ---------------------------------------------------------------------------------------------
# Enqueueing (always after the rows are committed: a worker must find what it is told to run)


async def enqueue_advance(queue: Queue, client_id: UUID, pipeline_id: UUID) -> None:
    await queue.enqueue(
        "advance_pipeline",
        pipeline_id=str(pipeline_id),
        client_id=str(client_id),
        # Not deduplicated by key: two steps finishing together must both lead to a new look.
        timeout=60,
    )


async def enqueue_step(queue: Queue, step: Job) -> None:
    await queue.enqueue(
        "generation_step",
        job_id=str(step.id),
        client_id=str(step.client_id),
        # A retried step gets a new SAQ key: SAQ keeps finished keys for a while and would drop it.
        key=f"step:{step.id}:{step.updated_at.timestamp()}",
        retries=MAX_ATTEMPTS,
        retry_delay=2.0,
        retry_backoff=60.0,
        timeout=600,
    )


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass(frozen=True)
class Plan:
    preset: EffectivePreset
    text: ModelChoice
    image: ModelChoice
    video: ModelChoice | None

    @property
    def estimate(self) -> int:
        total = self.text.cost_credits + self.preset.scene_count * self.image.cost_credits
        return total + (self.video.cost_credits if self.video else 0)


async def make_plan(session: AsyncSession, client: Client, preset_id: UUID | None = None) -> Plan:
    preset = await effective_preset(session, client, preset_id)
    text = await resolve_model(session, Capability.TEXT, preset.text_model_id, client.text_model_id)
    image = await resolve_model(session, Capability.IMAGE, preset.image_model_id, client.image_model_id)
    video = (
        await resolve_model(session, Capability.VIDEO, preset.video_model_id, client.video_model_id)
        if preset.with_video
        else None
    )
    return Plan(preset, text, image, video)


async def _plan_step(
    session: AsyncSession,
    pipeline: Job,
    kind: JobKind,
    key: str,
    *,
    choice: ModelChoice | None = None,
    scene_id: UUID | None = None,
) -> Job | None:
    """Create the step unless it exists (returns None then)."""
    jobs = JobRepository(session, pipeline.client_id)
    if await jobs.get_one_or_none(Job.idempotency_key == key) is not None:
        return None
    return await jobs.add(
        Job(
            kind=kind,
            status=JobStatus.QUEUED,
            idempotency_key=key,
            pipeline_id=pipeline.id,
            source_item_id=pipeline.source_item_id,
            story_id=pipeline.story_id,
            story_version_id=pipeline.story_version_id,
            scene_id=scene_id,
            requested_by_id=pipeline.requested_by_id,
            cost_credits=choice.cost_credits if choice else 0,
            model_id=choice.model_id if choice else None,
        )
    )


async def advance_pipeline(deps: GenerationDeps, client_id: UUID, pipeline_id: UUID) -> None:
    """Plan and enqueue the next steps; finish the pipeline when nothing is left."""
    to_enqueue: list[Job] = []
    finished = False
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        pipeline = await JobRepository(session, client_id).get(pipeline_id, for_update=True)
        if JobStatus(pipeline.status).is_final:
            return
        steps = list(
            (await session.execute(select(Job).where(Job.client_id == client_id, Job.pipeline_id == pipeline_id)))
            .scalars()
            .all()
        )
        if any(step.status == JobStatus.FAILED for step in steps):
            return  # the failure was recorded by the step; a retry re-opens the pipeline
        done = {step.kind for step in steps if step.status == JobStatus.COMPLETED and step.kind != JobKind.IMAGE}
        client = await session.get_one(Client, client_id)
        plan = await make_plan(session, client, pipeline.preset_id)
        base = f"{pipeline.id}"
        for kind in (JobKind.IMPORT, JobKind.NORMALIZE, JobKind.SEGMENT, JobKind.PROMPTS):
            if kind in done:
                continue
            step = await _plan_step(
                session, pipeline, kind, f"{base}:{kind}", choice=plan.text if kind == JobKind.SEGMENT else None
            )
            if step is not None:
                to_enqueue.append(step)
            break
        else:
            scenes = await _scenes(session, client_id, pipeline.story_version_id)
            image_steps = {step.scene_id: step for step in steps if step.kind == JobKind.IMAGE}
            for scene in scenes:
                if scene.id not in image_steps:
                    step = await _plan_step(
                        session,
                        pipeline,
                        JobKind.IMAGE,
                        f"{base}:image:{scene.id}",
                        choice=plan.image,
                        scene_id=scene.id,
                    )
                    if step is not None:
                        to_enqueue.append(step)
            images_done = scenes and all(
                scene.id in image_steps and image_steps[scene.id].status == JobStatus.COMPLETED for scene in scenes
            )
            if images_done and plan.video is not None and JobKind.VIDEO not in done:
                step = await _plan_step(session, pipeline, JobKind.VIDEO, f"{base}:video", choice=plan.video)
                if step is not None:
                    to_enqueue.append(step)
            elif images_done and (plan.video is None or JobKind.VIDEO in done):
                await _finish_pipeline(session, pipeline)
                finished = True
        planned = len(steps) + len(to_enqueue)
        # Steps reset for a retry (services.retry_pipeline) are QUEUED and never attempted: send
        # them too. A step SAQ already holds is not doubled: its key (id + updated_at) is the same.
        to_enqueue += [s for s in steps if s.status == JobStatus.QUEUED and s.attempts == 0 and s not in to_enqueue]
        completed = sum(1 for step in steps if step.status == JobStatus.COMPLETED)
        if not finished:
            expected = max(planned, 4 + plan.preset.scene_count + (1 if plan.video else 0))
            pipeline.progress = min(95, 5 + int(90 * completed / expected))
            pipeline.status = JobStatus.RUNNING if completed else pipeline.status
    for step in to_enqueue:
        await enqueue_step(deps.queue, step)
    await publish_event(deps.redis, deps.settings, client_id, "job", job_id=pipeline_id)


async def _scenes(session: AsyncSession, client_id: UUID, version_id: UUID | None) -> list[Scene]:
    if version_id is None:
        return []
    return list(
        (
            await session.execute(
                select(Scene)
                .where(Scene.client_id == client_id, Scene.story_version_id == version_id)
                .order_by(Scene.position)
            )
        )
        .scalars()
        .all()
    )


async def _finish_pipeline(session: AsyncSession, pipeline: Job) -> None:
    pipeline.status, pipeline.progress, pipeline.error = JobStatus.COMPLETED, 100, None
    pipeline.finished_at = datetime.now(UTC)
    if pipeline.story_id:
        story = await session.get_one(Story, pipeline.story_id)
        if story.status == StoryStatus.GENERATING:
            story.status = StoryStatus.DRAFT  # only now does the draft appear in the queue
    if pipeline.source_item_id:
        item = await session.get(SourceItem, pipeline.source_item_id)
        if item is not None:
            item.status = ItemStatus.DRAFTED


# ---------------------------------------------------------------------------------------------
# Running one step


async def run_step(deps: GenerationDeps, client_id: UUID, job_id: UUID, *, attempt: int, final_attempt: bool) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        if JobStatus(step.status).is_final:
            return  # a duplicate delivery changes nothing
        step.status, step.attempts, step.error = JobStatus.RUNNING, attempt, None
        step.started_at = step.started_at or datetime.now(UTC)
        pipeline_id, kind, story_id = step.pipeline_id, step.kind, step.story_id
        if pipeline_id:
            pipeline = await JobRepository(session, client_id).get(pipeline_id)
            pipeline.status = JobStatus.RUNNING
            pipeline.started_at = pipeline.started_at or datetime.now(UTC)
    # A standalone step (a regenerated scene) is followed on its story's page.
    watchers = (pipeline_id or job_id, None if pipeline_id else story_id)
    await _announce(deps, client_id, *watchers)
    retry = False
    try:
        await STEPS[JobKind(kind)](deps, client_id, job_id)
    except (StepRefused, ProviderError) as exc:
        retry = isinstance(exc, ProviderError) and exc.retryable and not final_attempt
        await _record_failure(deps, client_id, job_id, exc.message, final=not retry, attempt=attempt)
        if retry:
            raise  # SAQ retries with backoff
    except Exception as exc:
        logger.exception("Generation step %s (%s) failed, attempt %s", job_id, kind, attempt)
        message = _("An unexpected error stopped this step (%(kind)s).", kind=type(exc).__name__)
        retry = not final_attempt
        await _record_failure(deps, client_id, job_id, message, final=final_attempt, attempt=attempt)
        if retry:
            raise
    else:
        if pipeline_id:
            await enqueue_advance(deps.queue, client_id, pipeline_id)
    finally:
        await _announce(deps, client_id, *watchers)


async def _announce(deps: GenerationDeps, client_id: UUID, job_id: UUID, story_id: UUID | None = None) -> None:
    """The job's status for the inbox; a story's page hears about the story's standalone steps too."""
    await publish_event(deps.redis, deps.settings, client_id, "job", job_id=job_id)
    if story_id is not None:
        await publish_event(deps.redis, deps.settings, client_id, "story", story_id=story_id)


async def _record_failure(
    deps: GenerationDeps, client_id: UUID, job_id: UUID, message: str, *, final: bool, attempt: int
) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        jobs = JobRepository(session, client_id)
        step = await jobs.get(job_id)
        if not final:
            step.status = JobStatus.QUEUED
            step.error = _("Attempt %(n)s failed (%(reason)s); trying again.", n=attempt, reason=message)
            return
        step.status, step.error, step.finished_at = JobStatus.FAILED, message, datetime.now(UTC)
        if step.pipeline_id:
            pipeline = await jobs.get(step.pipeline_id)
            pipeline.status, pipeline.finished_at = JobStatus.FAILED, datetime.now(UTC)
            pipeline.error = _("%(step)s failed: %(reason)s", step=step_name(step.kind), reason=message)
            if pipeline.source_item_id:
                item = await session.get(SourceItem, pipeline.source_item_id)
                if item is not None and item.status == ItemStatus.GENERATING:
                    item.status = ItemStatus.NEW  # generate again = resume from the failed step


def _pipeline_key(client_id: UUID, pipeline_id: UUID, name: str) -> str:
    return client_media_key(client_id, "pipelines", str(pipeline_id), name)


async def _write_json(storage: MediaStorage, key: str, data: dict[str, Any]) -> None:
    await storage.put(key, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json")


async def _read_json(storage: MediaStorage, key: str) -> dict[str, Any]:
    return json.loads((await storage.get(key)).decode("utf-8"))


async def _complete(session: AsyncSession, step: Job, description: str) -> None:
    """COMPLETED and charged, in the transaction that holds the step's outputs."""
    step.status, step.progress, step.error, step.finished_at = JobStatus.COMPLETED, 100, None, datetime.now(UTC)
    await credits.charge(session, step, description)


# IMPORT: the item's material into the pipeline's working file --------------------------------


async def import_step(deps: GenerationDeps, client_id: UUID, job_id: UUID) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        item = await session.get(SourceItem, step.source_item_id) if step.source_item_id else None
        if item is None:
            raise StepRefused(_("The collected item is gone: there is nothing to make a story from."))
        material = {
            "title": item.title or "",
            "text": item.content_text or item.summary or "",
            "url": item.url,
            "image_url": item.image_url,
        }
        pipeline_id = step.pipeline_id
    if not material["title"].strip() and not material["text"].strip():
        raise StepRefused(_("The item has neither a title nor a text: there is nothing to make a story from."))
    if len(material["text"]) > MAX_SOURCE_CHARS:
        raise StepRefused(
            _(
                "The text is too long to make one story from (%(n)s characters; at most %(max)s).",
                n=f"{len(material['text']):,}",
                max=f"{MAX_SOURCE_CHARS:,}",
            )
        )
    key = _pipeline_key(client_id, pipeline_id, "import.json")
    await _write_json(deps.storage, key, material)
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        step.output_key = key
        await _complete(session, step, step_name(JobKind.IMPORT))


# NORMALIZE: clean text for the writer ---------------------------------------------------------

_BOILERPLATE = re.compile(
    r"^(read more|continue reading|subscribe|share this|advertisement|related:|photo:|читать далее|"
    r"подписывайтесь|подпишитесь|реклама|читайте также|фото:)",
    re.IGNORECASE,
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_text(text: str) -> str:
    """NFC, no control characters, spaces collapsed, boilerplate lines and repeated paragraphs dropped."""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text.replace("\r\n", "\n")))
    seen: set[str] = set()
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [" ".join(line.split()) for line in paragraph.split("\n")]
        cleaned = "\n".join(line for line in lines if line and not _BOILERPLATE.match(line))
        if cleaned and cleaned.lower() not in seen:
            seen.add(cleaned.lower())
            paragraphs.append(cleaned)
    return "\n\n".join(paragraphs)


def text_language(text: str, fallback: str) -> str:
    """ "ru" when most letters are Cyrillic, "en" when most are Latin, else `fallback`."""
    sample = text[:20_000]
    cyrillic = sum(1 for ch in sample if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
    if cyrillic + latin < 20:
        return fallback
    return "ru" if cyrillic > latin else "en"


async def normalize_step(deps: GenerationDeps, client_id: UUID, job_id: UUID) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        import_key = await _output_of(session, client_id, step.pipeline_id, JobKind.IMPORT)
        client = await session.get_one(Client, client_id)
        pipeline_id, fallback_language = step.pipeline_id, client.language
    material = await _read_json(deps.storage, import_key)
    title = plain_text(material["title"], is_html=False)
    text = normalize_text(material["text"])
    if not text and not title:
        raise StepRefused(_("After clean-up nothing is left of the text: there is nothing to make a story from."))
    material.update(title=title, text=text, language=text_language(f"{title}\n{text}", fallback_language))
    key = _pipeline_key(client_id, pipeline_id, "normalized.json")
    await _write_json(deps.storage, key, material)
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        step.output_key = key
        await _complete(session, step, step_name(JobKind.NORMALIZE))


async def _output_of(session: AsyncSession, client_id: UUID, pipeline_id: UUID, kind: JobKind) -> str:
    key = (
        await session.execute(
            select(Job.output_key).where(
                Job.client_id == client_id,
                Job.pipeline_id == pipeline_id,
                Job.kind == kind,
                Job.status == JobStatus.COMPLETED,
            )
        )
    ).scalar_one_or_none()
    if not key:
        raise StepRefused(_("An earlier step's result is missing; generate the story again."))
    return key


# SEGMENT: the writer makes the story's text and cuts it into scenes ---------------------------


async def segment_step(deps: GenerationDeps, client_id: UUID, job_id: UUID) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        pipeline = await JobRepository(session, client_id).get(step.pipeline_id)
        normalized_key = await _output_of(session, client_id, step.pipeline_id, JobKind.NORMALIZE)
        client = await session.get_one(Client, client_id)
        plan = await make_plan(session, client, pipeline.preset_id)
        provider = await text_provider_for(session, plan.text, deps.secret_box)
    material = await _read_json(deps.storage, normalized_key)
    # The built-in writer is extractive: it writes in the text's own language. A model writes in
    # the preset's language.
    language = material["language"] if plan.text.provider_kind == "local" else plan.preset.language
    draft = await provider.generate_story(
        TextRequest(
            title=material["title"],
            text=material["text"],
            language=language,
            scene_count=plan.preset.scene_count,
            source_url=material.get("url"),
        )
    )
    if not draft.title.strip() or not [s for s in draft.scenes if s.strip()]:
        raise StepRefused(_("The writer returned a story without a title or scenes."))
    hashtags = list(dict.fromkeys([*draft.hashtags, *plan.preset.hashtags]))[:15]
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        jobs = JobRepository(session, client_id)
        step = await jobs.get(job_id)
        pipeline = await jobs.get(step.pipeline_id, for_update=True)
        story = Story(
            client_id=client_id,
            status=StoryStatus.GENERATING,
            source_item_id=pipeline.source_item_id,
            created_by_id=pipeline.requested_by_id,
        )
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id,
            story_id=story.id,
            number=1,
            title=draft.title[:300],
            lead=draft.lead,
            body=draft.body,
            captions=draft.captions,
            hashtags=hashtags,
            preset_id=plan.preset.preset_id,
            preset_revision=plan.preset.revision,
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        for position, text in enumerate(s for s in draft.scenes if s.strip()):
            session.add(Scene(client_id=client_id, story_version_id=version.id, position=position, text=text))
        pipeline.story_id, pipeline.story_version_id = story.id, version.id
        step.story_id, step.story_version_id = story.id, version.id
        await _complete(session, step, f"{step_name(JobKind.SEGMENT)} · {plan.text.label}")


# PROMPTS: an image prompt per scene --------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_][\w'-]{3,}", re.UNICODE)
_STOP = frozenset(
    "that this with from have were will been about after into over their there which when what than then "
    "также чтобы which это этот эта которые который после более будет были было есть если только через".split()
)


def image_prompt(scene_text: str, title: str, style: str) -> str:
    """A picture description from the scene's own words (the built-in, rule-based prompt writer)."""
    words: list[str] = []
    for word in _WORD.findall(f"{scene_text} {title}"):
        lowered = word.lower()
        if lowered not in _STOP and lowered not in (w.lower() for w in words):
            words.append(word)
        if len(words) == 8:
            break
    subject = ", ".join(words) or title
    style = style.strip() or "editorial photo, natural light"
    return f"{subject}. {style}"


async def prompts_step(deps: GenerationDeps, client_id: UUID, job_id: UUID) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        pipeline = await JobRepository(session, client_id).get(step.pipeline_id)
        client = await session.get_one(Client, client_id)
        plan = await make_plan(session, client, pipeline.preset_id)
        version = await session.get_one(StoryVersion, pipeline.story_version_id)
        for scene in await _scenes(session, client_id, version.id):
            if not scene.image_prompt:
                scene.image_prompt = image_prompt(scene.text, version.title, plan.preset.image_style)
        await _complete(session, step, step_name(JobKind.PROMPTS))


# IMAGE: one scene's picture ---------------------------------------------------------------------


def asset_key(version_id: UUID, scene: Scene, size: tuple[int, int], preset_revision: int, variant: int) -> str:
    """The idempotency key: version + scene (and its text revision) + format + preset revision + variant."""
    return f"{version_id}:{scene.id}:s{scene.revision}:{size[0]}x{size[1]}:p{preset_revision}:v{variant}"


async def _background_photo(fetcher: SafeFetcher, url: str | None) -> bytes | None:
    """The item's photo, when it can be fetched and is good enough to build on (else a plain card)."""
    if not url:
        return None
    try:
        result = await fetcher.fetch(url)
    except FetchError as exc:
        logger.info("Background photo %s skipped: %s", url, exc.message)
        return None
    if not (result.content_type or "").startswith("image/") or len(result.content) > MAX_BACKGROUND_BYTES:
        return None
    # Pillow's checks are CPU work: off the event loop, which serves every other job meanwhile.
    return result.content if await asyncio.to_thread(photo_usable, result.content) else None


def photo_usable(data: bytes) -> bool:
    """Whether the item's photo is good enough to build a card on (big enough, not blank, not
    blurred, readable); otherwise the card is drawn on the brand colours."""
    from app.ai import photo_checks

    verdict = photo_checks.check_photo(data)
    if not verdict.ok:
        logger.info("Background photo refused: %s", "; ".join(verdict.reasons))
    return verdict.ok


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def card_texts(title: str, scene: Scene) -> tuple[str, str]:
    """What a card says: the story's title over the first scene, a scene's own first sentence over
    the others (a carousel of one title repeated says nothing)."""
    if scene.position == 0:
        return title, scene.text[:280]
    parts = _SENTENCE_END.split(scene.text.strip(), maxsplit=1)
    first, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    return first[:160], rest[:200]


async def image_step(deps: GenerationDeps, client_id: UUID, job_id: UUID) -> None:
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        jobs = JobRepository(session, client_id)
        step = await jobs.get(job_id)
        scene = await session.get(Scene, step.scene_id) if step.scene_id else None
        if scene is None:
            raise StepRefused(_("The scene was deleted before its image was made."))
        version = await session.get_one(StoryVersion, scene.story_version_id)
        client = await session.get_one(Client, client_id)
        pipeline = await jobs.get(step.pipeline_id) if step.pipeline_id else None
        plan = await make_plan(session, client, pipeline.preset_id if pipeline else version.preset_id)
        item = await session.get(SourceItem, step.source_item_id) if step.source_item_id else None
        image_url = item.image_url if item else None
        choice = plan.image
        provider = await image_provider_for(session, choice, deps.secret_box)
        variant = int(step.params.get("variant", 0))
        size = plan.preset.image_size
        key = asset_key(version.id, scene, size, plan.preset.revision, variant)
        existing = (
            await session.execute(select(Asset).where(Asset.client_id == client_id, Asset.idempotency_key == key))
        ).scalar_one_or_none()
        headline, caption = card_texts(version.title, scene)
        request = ImageRequest(
            title=headline,
            text=caption,
            width=size[0],
            height=size[1],
            brand_color=plan.preset.brand_color,
            accent_color=plan.preset.accent_color,
            client_name=client.name,
            seed=variant,
            prompt=scene.image_prompt,
        )
        story_id, version_id, scene_id, prompt = version.story_id, version.id, scene.id, scene.image_prompt
        scene_revision = scene.revision
    if existing is None:
        background = await _background_photo(deps.fetcher, image_url) if variant == 0 else None
        image = await provider.generate_image(replace(request, background=background))
        extension = "png" if image.mime == "image/png" else "jpg"
        storage_key = client_media_key(
            client_id,
            "stories",
            str(story_id),
            f"{version_id}-{scene_id}-{size[0]}x{size[1]}-"
            f"p{plan.preset.revision}-s{scene_revision}-v{variant}.{extension}",
        )
        # The object first, then the row: a crash in between leaves an object the next attempt
        # overwrites (same key), never a row pointing at nothing.
        await deps.storage.put(storage_key, image.data, image.mime)
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        if existing is None:
            await session.execute(
                insert(Asset)
                .values(
                    client_id=client_id,
                    story_version_id=version_id,
                    scene_id=scene_id,
                    scene_position=(await session.get_one(Scene, scene_id)).position,
                    kind="image",
                    storage_key=storage_key,
                    mime=image.mime,
                    size_bytes=len(image.data),
                    width=image.width,
                    height=image.height,
                    provider=choice.provider_kind,
                    model=choice.model,
                    idempotency_key=key,
                    prompt=prompt,
                    variant=variant,
                    seed=variant,
                    format=f"{size[0]}x{size[1]}",
                    preset_revision=plan.preset.revision,
                    scene_revision=scene_revision,
                )
                .on_conflict_do_nothing(constraint="uq_assets_client_key")
            )
        scene = await session.get_one(Scene, scene_id)
        if scene.headliner_asset_id is None:
            made = (
                await session.execute(
                    select(Asset.id).where(Asset.client_id == client_id, Asset.idempotency_key == key)
                )
            ).scalar_one()
            scene.headliner_asset_id = made
        await _complete(session, step, f"{step_name(JobKind.IMAGE)} {scene.position + 1} · {choice.label}")


# VIDEO: a vertical slideshow of the headliners -------------------------------------------------


VIDEO_SIZE = (1080, 1920)  # 9:16, what Shorts and Reels want
WORDS_PER_SECOND = 2.5  # a comfortable reading pace for burned-in subtitles


def scene_seconds(text: str) -> float:
    """Long enough to read the scene's subtitle, between 3 and 8 seconds."""
    return round(min(8.0, max(3.0, len(text.split()) / WORDS_PER_SECOND)), 2)


def video_key(
    version_id: UUID, scenes: list[Scene], headliners: list[UUID | None], preset_revision: int, audio: str | None
) -> str:
    """The video is made of these scenes' texts and pictures and the music: a change makes a new one."""
    parts = ",".join(f"{s.id}.{s.revision}.{h}" for s, h in zip(scenes, headliners, strict=True)) + f"|{audio}"
    digest = hashlib.sha256(parts.encode()).hexdigest()[:16]
    return f"{version_id}:video:{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}:p{preset_revision}:{digest}"


async def video_step(deps: GenerationDeps, client_id: UUID, job_id: UUID) -> None:
    from app.ai.local_image import render_backdrop
    from app.ai.local_video import LocalVideoProvider, VideoRequest, VideoScene

    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        version = await session.get_one(StoryVersion, step.story_version_id)
        client = await session.get_one(Client, client_id)
        plan = await make_plan(session, client, version.preset_id)
        scenes = await _scenes(session, client_id, version.id)
        assets = list(
            (
                await session.execute(
                    select(Asset).where(Asset.client_id == client_id, Asset.story_version_id == version.id)
                )
            )
            .scalars()
            .all()
        )
        headliners = [scene.headliner(assets) for scene in scenes]
        choice = plan.video or await resolve_model(session, Capability.VIDEO, client.video_model_id)
        item = await session.get(SourceItem, step.source_item_id) if step.source_item_id else None
        image_url = item.image_url if item else None
        story_id, language = version.story_id, plan.preset.language
        audio_key = plan.preset.audio_key
        key = video_key(version.id, scenes, [h.id if h else None for h in headliners], plan.preset.revision, audio_key)
        done = (
            await session.execute(select(Asset.id).where(Asset.client_id == client_id, Asset.idempotency_key == key))
        ).scalar_one_or_none()
    if not scenes:
        raise StepRefused(_("The story has no scenes to make a video from."))
    if done is None:
        if choice.provider_kind != "local":
            raise StepRefused(_("Only the built-in slideshow can make a story's video in this version of Zavod."))
        background = await _background_photo(deps.fetcher, image_url)
        frames: list[VideoScene] = []
        for index, (scene, headliner) in enumerate(zip(scenes, headliners, strict=True)):
            if headliner is not None and headliner.provider != "local":
                picture = await deps.storage.get(headliner.storage_key)  # a model's picture has no text on it
            else:
                backdrop = ImageRequest(
                    title="",
                    text="",
                    width=VIDEO_SIZE[0],
                    height=VIDEO_SIZE[1],
                    brand_color=plan.preset.brand_color,
                    accent_color=plan.preset.accent_color,
                    background=background,
                    seed=index,
                )
                picture = (await asyncio.to_thread(render_backdrop, backdrop)).data
            frames.append(VideoScene(image=picture, text=scene.text, duration=scene_seconds(scene.text)))
        audio = None
        if audio_key:
            try:
                audio = await deps.storage.get(audio_key)
            except StorageObjectMissing:
                logger.info("The preset's music %s is gone; the video gets a silent track", audio_key)
        video = await LocalVideoProvider().generate_video(VideoRequest(scenes=frames, audio=audio, language=language))
        base = client_media_key(client_id, "stories", str(story_id), f"{version.id}-video-{key.rsplit(':', 1)[1]}")
        await deps.storage.put(f"{base}.jpg", video.poster, video.poster_mime)
        await deps.storage.put(f"{base}.mp4", video.data, video.mime)
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        step = await JobRepository(session, client_id).get(job_id)
        if done is None:
            common = {
                "client_id": client_id,
                "story_version_id": version.id,
                "provider": choice.provider_kind,
                "model": choice.model,
                "preset_revision": plan.preset.revision,
                "format": f"{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}",
                "width": video.width,
                "height": video.height,
                "scene_position": 0,
            }
            for kind, suffix, data, mime, asset_key_ in (
                ("poster", "jpg", video.poster, video.poster_mime, f"{key}:poster"),
                ("video", "mp4", video.data, video.mime, key),
            ):
                await session.execute(
                    insert(Asset)
                    .values(
                        **common,
                        kind=kind,
                        storage_key=f"{base}.{suffix}",
                        mime=mime,
                        size_bytes=len(data),
                        idempotency_key=asset_key_,
                    )
                    .on_conflict_do_nothing(constraint="uq_assets_client_key")
                )
        await _complete(session, step, f"{step_name(JobKind.VIDEO)} · {choice.label}")


STEPS = {
    JobKind.IMPORT: import_step,
    JobKind.NORMALIZE: normalize_step,
    JobKind.SEGMENT: segment_step,
    JobKind.PROMPTS: prompts_step,
    JobKind.IMAGE: image_step,
    JobKind.VIDEO: video_step,
}


async def count_variants(session: AsyncSession, client_id: UUID, scene_id: UUID) -> int:
    return (
        await session.execute(
            select(func.count()).select_from(Asset).where(Asset.client_id == client_id, Asset.scene_id == scene_id)
        )
    ).scalar_one()
