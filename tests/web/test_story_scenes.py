"""The story page's scenes: variants made by the worker, headliner, favourites, scene text."""

from __future__ import annotations

from sqlalchemy import select

from app.db.session import scoped_session
from app.generation.models import Job, JobKind, StylePreset
from app.generation.presets import save_preset
from app.stories.models import Asset, Scene
from tests.conftest import World, wait_for
from tests.web.test_generation_pipeline import make_item


async def generated_story(web, world: World, session_maker):
    """An item generated through the inbox button and the real worker; returns the pipeline job."""
    item = await make_item(session_maker, world.a.client.id)
    await web.sign_in(world.a.editor)
    await web.post(f"/c/{world.a.client.slug}/items/{item.id}/generate", htmx=True)

    async def done():
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            job = (await session.execute(select(Job).where(Job.kind == JobKind.GENERATE_STORY))).scalar_one()
            return job if job.status in ("COMPLETED", "FAILED") else None

    job = await wait_for(done, within=120)
    assert job.status == "COMPLETED", job.error
    return job


async def scene_rows(session_maker, client_id):
    async with scoped_session(session_maker, client_id=client_id) as session:
        scenes = (await session.execute(select(Scene).order_by(Scene.position))).scalars().all()
        assets = (await session.execute(select(Asset).order_by(Asset.variant))).scalars().all()
    return scenes, assets


async def test_scenes_show_and_a_new_variant_arrives_from_the_worker(web, world: World, worker, session_maker):
    job = await generated_story(web, world, session_maker)
    base = f"/c/{world.a.client.slug}/stories/{job.story_id}"
    page = await web.get(base)
    assert page.status_code == 200
    assert page.text.count('class="scene"') == 3 and page.text.count("Headliner") >= 3
    assert f'hx-trigger="sse:story-{job.story_id}"' in page.text

    scenes, _assets = await scene_rows(session_maker, world.a.client.id)
    response = await web.post(f"{base}/scenes/{scenes[0].id}/regenerate", htmx=True)
    assert response.status_code == 200 and "Making a new image" in response.text

    async def two_variants():
        _scenes, assets = await scene_rows(session_maker, world.a.client.id)
        mine = [a for a in assets if a.scene_id == scenes[0].id]
        return mine if len(mine) == 2 else None

    first, second = await wait_for(two_variants, within=90)
    assert (first.variant, second.variant) == (0, 1) and first.idempotency_key != second.idempotency_key
    section = await web.get(f"{base}/scenes")
    assert section.text.count('<figure class="variant') == 4  # 2 + 1 + 1

    # Choose the new one as headliner, mark the old one favourite.
    await web.post(f"{base}/assets/{second.id}/headliner", htmx=True)
    response = await web.post(f"{base}/assets/{first.id}/favourite", htmx=True)
    assert 'aria-pressed="true"' in response.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        scene = await session.get(Scene, scenes[0].id)
        first_now = await session.get(Asset, first.id)
    assert scene.headliner_asset_id == second.id and first_now.favourite


async def test_editing_a_scene_text_asks_for_a_new_image(web, world: World, worker, session_maker):
    job = await generated_story(web, world, session_maker)
    base = f"/c/{world.a.client.slug}/stories/{job.story_id}"
    scenes, _assets = await scene_rows(session_maker, world.a.client.id)
    response = await web.post(f"{base}/scenes/{scenes[2].id}/text", {"text": "  "}, htmx=True)
    assert "A scene needs some text." in response.text
    response = await web.post(f"{base}/scenes/{scenes[2].id}/text", {"text": "A brand new ending."}, htmx=True)
    assert "No current image" in response.text and "A brand new ending." in response.text
    assert response.text.count("older image kept") == 1


async def test_the_variant_limit_is_told_in_place(web, world: World, worker, session_maker):
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await save_preset(
            session,
            world.a.client.id,
            StylePreset(client_id=world.a.client.id),
            {"name": "One shot", "scene_count": "1", "max_variants_per_scene": "1", "is_default": "on"},
        )
    job = await generated_story(web, world, session_maker)
    scenes, _assets = await scene_rows(session_maker, world.a.client.id)
    response = await web.post(
        f"/c/{world.a.client.slug}/stories/{job.story_id}/scenes/{scenes[0].id}/regenerate", htmx=True
    )
    assert response.status_code == 200 and "1 images already" in response.text


async def test_viewers_cannot_touch_scenes_and_outsiders_see_nothing(web, world: World, worker, session_maker):
    job = await generated_story(web, world, session_maker)
    scenes, assets = await scene_rows(session_maker, world.a.client.id)
    base = f"/c/{world.a.client.slug}/stories/{job.story_id}"
    await web.sign_in(world.a.viewer)
    assert (await web.post(f"{base}/scenes/{scenes[0].id}/regenerate", htmx=True)).status_code == 403
    await web.sign_in(world.outsider)
    assert (await web.post(f"{base}/assets/{assets[0].id}/favourite", htmx=True)).status_code == 404
