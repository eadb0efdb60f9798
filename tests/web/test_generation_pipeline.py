"""The generation pipeline on real parts: steps as jobs, retries alone, idempotency, credits.

Most tests drive the steps directly (`drive` below runs what the pipeline plans, one step at a
time, like the worker would but without its retry delays); one goes through the web and the real
SAQ worker end to end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from saq import Queue
from sqlalchemy import func, select

from app.ai.base import ProviderError
from app.db.session import scoped_session
from app.generation import pipeline as pipeline_module
from app.generation.credits import balance
from app.generation.models import CreditCharge, Job, JobKind, JobStatus, StylePreset
from app.generation.pipeline import GenerationDeps, advance_pipeline, run_step
from app.generation.presets import attach_audio, save_preset
from app.generation.services import (
    GenerationRefused,
    edit_scene_text,
    regenerate_scene,
    request_generation,
    retry_pipeline,
)
from app.net.fetcher import SafeFetcher
from app.providers.models import AiModel, AiProvider
from app.secrets import SecretBox
from app.sources.models import ItemStatus, Source, SourceItem
from app.storage import storage_from_settings
from app.stories.models import Asset, Scene, Story, StoryStatus
from app.tenancy.models import Client
from tests.conftest import World, wait_for

LONG_TEXT = (
    "The harbour ferry returned to service on Saturday after four months in dry dock. "
    "Engineers replaced both engines and rebuilt the passenger deck, the port authority said. "
    "The first crossing leaves at 06:40 and the last one at 23:10, seven days a week. "
    "Tickets cost the same as last year, and monthly passes bought in the autumn stay valid. "
    "Cyclists can bring their bikes on every crossing except at the morning peak. "
    "The authority thanked residents for their patience during the long closure. "
    "A second ferry is due to be refitted next winter, with a replacement boat on the route."
)


@pytest.fixture
async def deps(session_maker, redis, settings) -> GenerationDeps:
    # A queue of its own: these tests run the steps themselves, no worker picks anything up here.
    queue = Queue.from_url(settings.redis_url, name=f"{settings.queue_name}-pipeline-tests")
    storage = storage_from_settings(settings)
    async with SafeFetcher.from_settings(settings) as fetcher:
        yield GenerationDeps(
            session_maker=session_maker,
            redis=redis,
            settings=settings,
            storage=storage,
            fetcher=fetcher,
            secret_box=None,
            queue=queue,
        )
    await queue.disconnect()
    await storage.close()


async def make_item(session_maker, client_id: UUID, *, title: str = "Harbour ferry is back", text: str = LONG_TEXT):
    async with scoped_session(session_maker, client_id=client_id) as session:
        source = Source(client_id=client_id, url=f"https://feeds.example/{datetime.now(UTC).timestamp()}", title="F")
        session.add(source)
        await session.flush()
        item = SourceItem(
            client_id=client_id,
            source_id=source.id,
            dedup_key=str(source.id).replace("-", "")[:32],
            title=title,
            summary=text[:200],
            content=f"<p>{text}</p>",
            content_text=text,
            published_at=datetime.now(UTC),
        )
        session.add(item)
    return item


async def start(session_maker, client_id: UUID, item_id: UUID, user=None) -> UUID:
    async with scoped_session(session_maker, client_id=client_id) as session:
        job = await request_generation(session, client_id, item_id, requested_by=user)
    return job.id


async def steps_of(session_maker, client_id: UUID, pipeline_id: UUID) -> list[Job]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return list(
            (await session.execute(select(Job).where(Job.pipeline_id == pipeline_id).order_by(Job.created_at)))
            .scalars()
            .all()
        )


async def drive(deps: GenerationDeps, client_id: UUID, pipeline_id: UUID, *, attempt: int = 1, final: bool = True):
    """Plan and run steps until nothing is queued: the worker's loop, minus SAQ."""
    for _round in range(50):
        await advance_pipeline(deps, client_id, pipeline_id)
        queued = [s for s in await steps_of(deps.session_maker, client_id, pipeline_id) if s.status == "QUEUED"]
        if not queued:
            break
        for step in queued:
            await run_step(deps, client_id, step.id, attempt=attempt, final_attempt=final)
    async with scoped_session(deps.session_maker, client_id=client_id) as session:
        return await session.get(Job, pipeline_id)


async def ledger_total(session_maker, client_id: UUID) -> int:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return (await session.execute(select(func.coalesce(func.sum(CreditCharge.amount), 0)))).scalar_one()


async def test_a_story_is_made_step_by_step_and_charged_per_step(world: World, deps, session_maker):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id)
    pipeline_id = await start(session_maker, client_id, item.id, world.a.editor)
    pipeline = await drive(deps, client_id, pipeline_id)

    assert pipeline.status == JobStatus.COMPLETED and pipeline.progress == 100
    steps = await steps_of(session_maker, client_id, pipeline_id)
    kinds = [s.kind for s in steps]
    assert kinds[:4] == ["import", "normalize", "segment", "prompts"] and kinds.count("image") == 3
    assert all(s.status == JobStatus.COMPLETED and s.attempts == 1 for s in steps)
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = await session.get(Story, pipeline.story_id)
        scenes = (await session.execute(select(Scene).order_by(Scene.position))).scalars().all()
        assets = (await session.execute(select(Asset))).scalars().all()
        item_now = await session.get(SourceItem, item.id)
    assert story.status == StoryStatus.DRAFT and item_now.status == ItemStatus.DRAFTED
    assert len(scenes) == 3 and all(s.text and s.image_prompt for s in scenes)
    assert len(assets) == 3 and {a.scene_id for a in assets} == {s.id for s in scenes}
    assert all(s.headliner_asset_id for s in scenes) and {a.format for a in assets} == {"1080x1350"}
    # The working files went through the storage layer (the worker keeps nothing of its own).
    import_key = next(s.output_key for s in steps if s.kind == "import")
    assert b"harbour ferry" in (await deps.storage.get(import_key)).lower()
    # Built-in prices: text 1 + 3 images × 1, one ledger row per charged step.
    assert await ledger_total(session_maker, client_id) == 4
    async with scoped_session(session_maker, client_id=client_id) as session:
        rows = (await session.execute(select(CreditCharge))).scalars().all()
    assert len(rows) == 4 and all(r.job_id for r in rows)


async def test_running_a_step_again_duplicates_no_asset_and_no_charge(world: World, deps, session_maker):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id)
    pipeline_id = await start(session_maker, client_id, item.id)
    await drive(deps, client_id, pipeline_id)
    image_step = next(s for s in await steps_of(session_maker, client_id, pipeline_id) if s.kind == "image")
    # A duplicate delivery of a finished step does nothing...
    await run_step(deps, client_id, image_step.id, attempt=1, final_attempt=True)
    # ...and even a step forced to run again finds its asset by key and its charge by job.
    async with scoped_session(session_maker, client_id=client_id) as session:
        (await session.get(Job, image_step.id)).status = JobStatus.QUEUED
    await run_step(deps, client_id, image_step.id, attempt=2, final_attempt=True)
    async with scoped_session(session_maker, client_id=client_id) as session:
        assets = (await session.execute(select(func.count()).select_from(Asset))).scalar_one()
        step = await session.get(Job, image_step.id)
    assert assets == 3 and step.status == JobStatus.COMPLETED
    assert await ledger_total(session_maker, client_id) == 4


async def test_a_failing_step_is_retried_then_fails_in_words_and_is_resumed_alone(
    world: World, deps, session_maker, monkeypatch
):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id)
    pipeline_id = await start(session_maker, client_id, item.id)

    class DownProvider:
        name = "down"

        async def generate_image(self, req):  # noqa: ANN001
            raise ProviderError("The image service is busy (HTTP 503).", retryable=True)

    async def down(session, choice, box):  # noqa: ANN001
        return DownProvider()

    monkeypatch.setattr(pipeline_module, "image_provider_for", down)
    # Attempts 1 and 2: back to QUEUED with the reason; the error is re-raised for SAQ's backoff.
    for attempt in (1, 2):
        await advance_pipeline(deps, client_id, pipeline_id)
        for _ in range(6):
            queued = [s for s in await steps_of(session_maker, client_id, pipeline_id) if s.status == "QUEUED"]
            for step in queued:
                if step.kind != "image":
                    await run_step(deps, client_id, step.id, attempt=1, final_attempt=True)
                else:
                    with pytest.raises(ProviderError):
                        await run_step(deps, client_id, step.id, attempt=attempt, final_attempt=False)
            await advance_pipeline(deps, client_id, pipeline_id)
    images = [s for s in await steps_of(session_maker, client_id, pipeline_id) if s.kind == "image"]
    assert images and all(s.status == "QUEUED" and "trying again" in s.error for s in images)
    # Attempt 3 is the last: FAILED in plain words, the pipeline too, nothing half-made in sight.
    for step in images:
        await run_step(deps, client_id, step.id, attempt=3, final_attempt=True)
    async with scoped_session(session_maker, client_id=client_id) as session:
        pipeline = await session.get(Job, pipeline_id)
        story = await session.get(Story, pipeline.story_id)
        item_now = await session.get(SourceItem, item.id)
    assert pipeline.status == JobStatus.FAILED and "busy (HTTP 503)" in pipeline.error
    assert pipeline.error.startswith("Image failed")
    assert story.status == StoryStatus.GENERATING and item_now.status == ItemStatus.NEW
    charged_before = await ledger_total(session_maker, client_id)
    assert charged_before == 1  # the text step completed; failed images cost nothing

    # The provider is back: retrying runs the failed image steps alone.
    monkeypatch.undo()
    async with scoped_session(session_maker, client_id=client_id) as session:
        to_run = await retry_pipeline(session, client_id, pipeline_id)
    assert {s.kind for s in to_run} == {"image"}
    before = {s.id: s.attempts for s in await steps_of(session_maker, client_id, pipeline_id) if s.kind != "image"}
    pipeline = await drive(deps, client_id, pipeline_id)
    after = {s.id: s.attempts for s in await steps_of(session_maker, client_id, pipeline_id) if s.kind != "image"}
    assert pipeline.status == JobStatus.COMPLETED and before == after  # nothing else ran again
    assert await ledger_total(session_maker, client_id) == 4


@pytest.mark.parametrize(
    ("title", "text", "words"),
    [
        ("", "", "neither a title nor a text"),
        ("Huge", "word " * 130_000, "too long to make one story from"),
    ],
)
async def test_bad_input_fails_at_once_in_words_and_charges_nothing(
    world: World, deps, session_maker, title, text, words
):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id, title=title, text=text)
    pipeline_id = await start(session_maker, client_id, item.id)
    pipeline = await drive(deps, client_id, pipeline_id, final=False)  # not retried: no attempt can help
    assert pipeline.status == JobStatus.FAILED and words in pipeline.error
    async with scoped_session(session_maker, client_id=client_id) as session:
        stories = (await session.execute(select(func.count()).select_from(Story))).scalar_one()
    assert stories == 0 and await ledger_total(session_maker, client_id) == 0


async def test_a_client_without_credits_is_refused_up_front(web, world: World, session_maker):
    client_id = world.a.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        (await session.get(Client, client_id)).monthly_credits = 3  # a story costs 4 with the built-ins
    item = await make_item(session_maker, client_id)
    with pytest.raises(GenerationRefused, match="Not enough credits: this needs 4 and 3"):
        await start(session_maker, client_id, item.id)
    await web.sign_in(world.a.editor)
    response = await web.post(f"/c/{world.a.client.slug}/items/{item.id}/generate", htmx=True)
    inbox = await web.get(response.headers["HX-Redirect"])  # back to the inbox, with the reason
    assert "Not enough credits" in inbox.text
    async with scoped_session(session_maker, client_id=client_id) as session:
        jobs = (await session.execute(select(func.count()).select_from(Job))).scalar_one()
        item_now = await session.get(SourceItem, item.id)
    assert jobs == 0 and item_now.status == ItemStatus.NEW


async def test_planned_work_counts_against_the_budget(world: World, session_maker):
    client_id = world.a.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        (await session.get(Client, client_id)).monthly_credits = 6
    first, second = await make_item(session_maker, client_id), await make_item(session_maker, client_id)
    await start(session_maker, client_id, first.id)  # reserves 4 of 6, nothing charged yet
    async with scoped_session(session_maker, client_id=client_id) as session:
        left = await balance(session, await session.get(Client, client_id))
    assert (left.charged, left.reserved, left.remaining) == (0, 4, 2)
    with pytest.raises(GenerationRefused):
        await start(session_maker, client_id, second.id)


async def test_editing_a_scene_invalidates_only_its_images_and_regenerating_adds_a_variant(
    world: World, deps, session_maker
):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id)
    pipeline_id = await start(session_maker, client_id, item.id)
    await drive(deps, client_id, pipeline_id)
    async with scoped_session(session_maker, client_id=client_id) as session:
        scenes = (await session.execute(select(Scene).order_by(Scene.position))).scalars().all()
        second = await edit_scene_text(session, client_id, scenes[1].id, "The new boat has room for forty bikes.")
    async with scoped_session(session_maker, client_id=client_id) as session:
        assets = (await session.execute(select(Asset))).scalars().all()
    stale = {a.scene_id for a in assets if a.stale}
    assert stale == {second.id}

    async with scoped_session(session_maker, client_id=client_id) as session:
        job = await regenerate_scene(session, client_id, second.id, requested_by=world.a.editor)
    await run_step(deps, client_id, job.id, attempt=1, final_attempt=True)
    async with scoped_session(session_maker, client_id=client_id) as session:
        scene = await session.get(Scene, second.id)
        current = [a for a in (await session.execute(select(Asset))).scalars() if a.scene_id == scene.id]
    fresh = [a for a in current if not a.stale]
    assert len(current) == 2 and len(fresh) == 1 and fresh[0].variant == 1 and fresh[0].scene_revision == 2
    assert scene.headliner_asset_id == fresh[0].id
    assert await ledger_total(session_maker, client_id) == 5  # one more image


async def test_the_variant_limit_of_the_preset_holds(world: World, deps, session_maker):
    client_id = world.a.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        await save_preset(
            session,
            client_id,
            StylePreset(client_id=client_id),
            {"name": "Two tries", "scene_count": "1", "max_variants_per_scene": "2", "is_default": "on"},
        )
    item = await make_item(session_maker, client_id)
    pipeline_id = await start(session_maker, client_id, item.id)
    await drive(deps, client_id, pipeline_id)
    async with scoped_session(session_maker, client_id=client_id) as session:
        scene = (await session.execute(select(Scene))).scalar_one()
        job = await regenerate_scene(session, client_id, scene.id, requested_by=world.a.editor)
    await run_step(deps, client_id, job.id, attempt=1, final_attempt=True)
    async with scoped_session(session_maker, client_id=client_id) as session:
        with pytest.raises(GenerationRefused, match="2 images already"):
            await regenerate_scene(session, client_id, scene.id, requested_by=world.a.editor)


async def test_a_new_preset_revision_invalidates_the_images_made_with_the_old_one(world: World, deps, session_maker):
    client_id = world.a.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        preset = await save_preset(
            session,
            client_id,
            StylePreset(client_id=client_id),
            {"name": "House", "scene_count": "2", "image_style": "flat illustration", "is_default": "on"},
        )
    assert preset.revision == 1
    item = await make_item(session_maker, client_id)
    await drive(deps, client_id, await start(session_maker, client_id, item.id))
    other_item = await make_item(session_maker, client_id, title="Unrelated")
    # A version made without the preset is not touched by its revisions.
    async with scoped_session(session_maker, client_id=client_id) as session:
        preset = await session.get(StylePreset, preset.id)
        preset.is_default = False
    await drive(deps, client_id, await start(session_maker, client_id, other_item.id))
    async with scoped_session(session_maker, client_id=client_id) as session:
        preset = await session.get(StylePreset, preset.id)
        form = {"name": "House", "scene_count": "2", "image_style": "watercolour", "is_default": "on"}
        await save_preset(session, client_id, preset, form)
    async with scoped_session(session_maker, client_id=client_id) as session:
        preset = await session.get(StylePreset, preset.id)
        assets = (await session.execute(select(Asset))).scalars().all()
    assert preset.revision == 2
    assert sorted(a.stale for a in assets) == [False, False, False, True, True]


async def test_the_inbox_generate_button_runs_the_whole_pipeline_in_the_worker(
    web, world: World, worker, session_maker
):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id)
    await web.sign_in(world.a.editor)
    response = await web.post(f"/c/{world.a.client.slug}/items/{item.id}/generate", htmx=True)
    assert response.status_code == 200

    async def completed():
        async with scoped_session(session_maker, client_id=client_id) as session:
            job = (await session.execute(select(Job).where(Job.kind == JobKind.GENERATE_STORY))).scalar_one()
            return job if job.status in ("COMPLETED", "FAILED") else None

    job = await wait_for(completed, within=60)
    assert job.status == "COMPLETED", job.error
    page = await web.get(f"/c/{world.a.client.slug}/stories/{job.story_id}")
    assert page.status_code == 200 and "Harbour ferry" in page.text


async def test_a_preset_with_video_adds_a_vertical_video_with_a_poster(world: World, deps, session_maker):
    client_id = world.a.client.id
    from tests.web.test_presets_and_credits import wav_bytes

    async with scoped_session(session_maker, client_id=client_id) as session:
        preset = await save_preset(
            session,
            client_id,
            StylePreset(client_id=client_id),
            {"name": "Shorts", "scene_count": "2", "with_video": "on", "is_default": "on"},
        )
        await session.flush()
        await attach_audio(deps.storage, client_id, preset, "tone.wav", wav_bytes(2))
    item = await make_item(session_maker, client_id)
    pipeline = await drive(deps, client_id, await start(session_maker, client_id, item.id))
    assert pipeline.status == JobStatus.COMPLETED, pipeline.error
    assert [s.kind for s in await steps_of(session_maker, client_id, pipeline.id)][-1] == "video"
    async with scoped_session(session_maker, client_id=client_id) as session:
        video = (await session.execute(select(Asset).where(Asset.kind == "video"))).scalar_one()
        poster = (await session.execute(select(Asset).where(Asset.kind == "poster"))).scalar_one()
    assert (video.width, video.height, video.mime) == (1080, 1920, "video/mp4")
    data = await deps.storage.get(video.storage_key)
    assert data[4:8] == b"ftyp" and len(data) == video.size_bytes
    assert (await deps.storage.get(poster.storage_key))[:3] == b"\xff\xd8\xff"
    assert await ledger_total(session_maker, client_id) == 1 + 2 + 3  # text, two images, the video


async def test_models_from_the_registry_write_and_draw_the_story(world: World, deps, session_maker, settings):
    """A client whose defaults are an OpenAI-compatible model: the pipeline calls it, with the
    provider's key decrypted in the worker only, and charges the registry's prices."""
    from tests.ai_http.fakes import OPENAI_KEY, FakeOpenAI

    fake = FakeOpenAI().start()
    box = SecretBox.from_settings(settings)
    deps.secret_box = box
    client_id = world.a.client.id
    try:
        async with scoped_session(session_maker, system=True) as session:
            provider = AiProvider(
                name=f"Fake OpenAI {client_id}",
                kind="openai_compatible",
                base_url=f"{fake.base_url}/v1",
                api_key=box.encrypt(OPENAI_KEY),
            )
            session.add(provider)
            await session.flush()
            text_model = AiModel(
                provider_id=provider.id, model="gpt-test", label="GPT", capability="text", cost_credits=2
            )
            image_model = AiModel(
                provider_id=provider.id, model="gpt-image-test", label="Images", capability="image", cost_credits=3
            )
            session.add_all([text_model, image_model])
            await session.flush()
            client = await session.get(Client, client_id)
            client.text_model_id, client.image_model_id = text_model.id, image_model.id
        item = await make_item(session_maker, client_id)
        pipeline = await drive(deps, client_id, await start(session_maker, client_id, item.id))
        assert pipeline.status == JobStatus.COMPLETED, pipeline.error
        async with scoped_session(session_maker, client_id=client_id) as session:
            story = await session.get(Story, pipeline.story_id)
            version = story.current_version
            assets = (await session.execute(select(Asset))).scalars().all()
        assert version.title == "City opens a new solar park" and len(version.scenes) == 3
        assert {a.provider for a in assets} == {"openai_compatible"} and {a.model for a in assets} == {"gpt-image-test"}
        prompts = [r.json()["prompt"] for r in fake.requests_to("/v1/images/generations")]
        assert len(prompts) == 3 and all("editorial photo" in p for p in prompts)  # the PROMPTS step's text
        assert await ledger_total(session_maker, client_id) == 2 + 3 * 3
    finally:
        fake.stop()
        async with scoped_session(session_maker, system=True) as session:
            await session.delete(await session.get(AiProvider, provider.id))
