"""The owner's Style presets page and the Credits page: who may see and change what, and the figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.db.session import scoped_session
from app.generation.credits import balance
from app.generation.models import CreditCharge, Job, JobKind, StylePreset
from app.providers.models import AiModel, AiProvider
from app.stories.models import Story
from app.tenancy.models import Client
from tests.conftest import World
from tests.web.test_generation_pipeline import make_item, start


def preset_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "Morning news",
        "language": "ru",
        "tone": "friendly",
        "length": "short",
        "scene_count": "4",
        "image_style": "documentary photo",
        "aspect": "vertical",
        "hashtags": "#Alpha news",
        "brand_color": "#112233",
        "accent_color": "#ffcc00",
        "with_video": "on",
        "max_variants_per_scene": "5",
        "text_model_id": "",
        "image_model_id": "",
        "video_model_id": "",
    }
    form.update(overrides)
    return form


async def presets_of(session_maker, client_id) -> list[StylePreset]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return list((await session.execute(select(StylePreset).order_by(StylePreset.created_at))).scalars())


async def test_owner_creates_and_edits_a_preset_each_save_a_new_revision(web, world: World, session_maker):
    base = f"/c/{world.a.client.slug}/presets"
    await web.sign_in(world.a.owner)
    page = await web.get(f"{base}/")
    assert page.status_code == 200 and "No presets yet" in page.text
    form = await web.get(f"{base}/new")
    assert form.status_code == 200
    for field in ("scene_count", "image_style", "brand_color", "use_client_colors", "with_video", "image_model_id"):
        assert f'name="{field}"' in form.text
    assert "1080×1920" in form.text and "Client default" in form.text

    created = await web.post(f"{base}/", preset_form(is_default="on"))
    assert created.status_code == 303, created.text
    (preset,) = await presets_of(session_maker, world.a.client.id)
    assert (preset.revision, preset.is_default, preset.scene_count, preset.aspect) == (1, True, 4, "vertical")
    assert (preset.language, preset.tone, preset.length) == ("ru", "friendly", "short")
    assert (preset.with_video, preset.max_variants_per_scene) == (True, 5)
    assert preset.hashtags == ["#Alpha", "#news"] and preset.brand_color == "#112233"

    listing = await web.get(f"{base}/")
    assert "Morning news" in listing.text and "default" in listing.text and "1080×1920" in listing.text

    edit = await web.get(f"{base}/{preset.id}")
    assert "Revision 1" in edit.text and "out of date" in edit.text
    edited = preset_form(is_default="on", scene_count="6", use_client_colors="on")
    saved = await web.post(f"{base}/{preset.id}", edited)
    assert saved.status_code == 303, saved.text
    (preset,) = await presets_of(session_maker, world.a.client.id)
    assert (preset.revision, preset.scene_count, preset.brand_color, preset.accent_color) == (2, 6, None, None)
    assert "Revision 2" in (await web.get(f"{base}/{preset.id}")).text


async def test_model_overrides_offer_enabled_models_of_that_capability(web, world: World, session_maker):
    async with scoped_session(session_maker, system=True) as session:
        local_image = (
            await session.execute(select(AiModel).join(AiProvider).where(AiModel.capability == "image").limit(1))
        ).scalar_one()
        local_text = (
            await session.execute(select(AiModel).join(AiProvider).where(AiModel.capability == "text").limit(1))
        ).scalar_one()
    base = f"/c/{world.a.client.slug}/presets"
    await web.sign_in(world.a.owner)
    form = await web.get(f"{base}/new")
    assert f'value="{local_image.id}"' in form.text

    wrong = await web.post(f"{base}/", preset_form(image_model_id=str(local_text.id), scene_count="0"))
    assert wrong.status_code == 422
    assert "Choose a model from the list." in wrong.text and "Between 1 and 12 scenes." in wrong.text
    assert await presets_of(session_maker, world.a.client.id) == []

    ok = await web.post(f"{base}/", preset_form(image_model_id=str(local_image.id)))
    assert ok.status_code == 303
    (preset,) = await presets_of(session_maker, world.a.client.id)
    assert preset.image_model_id == local_image.id and preset.text_model_id is None


async def test_invalid_preset_forms_come_back_with_messages_beside_the_fields(web, world: World, session_maker):
    base = f"/c/{world.a.client.slug}/presets"
    await web.sign_in(world.a.owner)
    bad = await web.post(f"{base}/", preset_form(brand_color="blue", scene_count="0"))
    assert bad.status_code == 422
    assert "A colour is written like #1f4e79." in bad.text and "Between 1 and 12 scenes." in bad.text
    assert 'id="brand_color-error"' in bad.text and 'value="Morning news"' in bad.text  # what was typed stays
    assert await presets_of(session_maker, world.a.client.id) == []

    assert (await web.post(f"{base}/", preset_form())).status_code == 303
    assert (await web.post(f"{base}/", preset_form(name="Evening"))).status_code == 303
    duplicate = await web.post(f"{base}/", preset_form())
    assert duplicate.status_code == 422 and "Another preset has this name." in duplicate.text

    # Renaming one preset to the other's name is refused too, and the stored preset is unchanged.
    first, second = await presets_of(session_maker, world.a.client.id)
    clash = await web.post(f"{base}/{second.id}", preset_form(name="Morning news", scene_count="7"))
    assert clash.status_code == 422 and "Another preset has this name." in clash.text
    stored = {p.id: p for p in await presets_of(session_maker, world.a.client.id)}
    assert (stored[second.id].name, stored[second.id].revision, stored[second.id].scene_count) == ("Evening", 1, 4)


async def test_the_default_switch_moves_and_can_be_switched_off(web, world: World, session_maker):
    base = f"/c/{world.a.client.slug}/presets"
    await web.sign_in(world.a.owner)
    await web.post(f"{base}/", preset_form(name="One", is_default="on"))
    await web.post(f"{base}/", preset_form(name="Two"))
    one, two = await presets_of(session_maker, world.a.client.id)
    assert (one.is_default, two.is_default) == (True, False)

    await web.post(f"{base}/{two.id}", preset_form(name="Two", is_default="on"))
    one, two = await presets_of(session_maker, world.a.client.id)
    assert (one.is_default, two.is_default) == (False, True)

    await web.post(f"{base}/{two.id}", preset_form(name="Two"))
    one, two = await presets_of(session_maker, world.a.client.id)
    assert (one.is_default, two.is_default) == (False, False)


async def test_deleting_a_preset_keeps_the_jobs_that_used_it(web, world: World, session_maker):
    base = f"/c/{world.a.client.slug}/presets"
    await web.sign_in(world.a.owner)
    await web.post(f"{base}/", preset_form(is_default="on"))
    (preset,) = await presets_of(session_maker, world.a.client.id)
    item = await make_item(session_maker, world.a.client.id)
    job_id = await start(session_maker, world.a.client.id, item.id)

    response = await web.post(f"{base}/{preset.id}/delete")
    assert response.status_code == 303
    assert await presets_of(session_maker, world.a.client.id) == []
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        job = await session.get(Job, job_id)
        assert job is not None and job.preset_id is None


async def test_presets_are_the_owners_page(web, world: World, session_maker):
    base = f"/c/{world.a.client.slug}/presets"
    for person in (world.a.editor, world.a.viewer):
        await web.sign_in(person)
        assert (await web.get(f"{base}/")).status_code == 403
        assert (await web.post(f"{base}/", preset_form())).status_code == 403
    await web.sign_in(world.outsider)
    assert (await web.get(f"{base}/")).status_code == 404
    assert (await web.post(f"{base}/", preset_form())).status_code == 404

    # Another client's owner cannot reach this client's preset through their own URL.
    await web.sign_in(world.a.owner)
    await web.post(f"{base}/", preset_form())
    (preset,) = await presets_of(session_maker, world.a.client.id)
    await web.sign_in(world.b.owner)
    other = f"/c/{world.b.client.slug}/presets/{preset.id}"
    assert (await web.get(other)).status_code == 404
    assert (await web.post(f"{other}/delete")).status_code == 404
    assert len(await presets_of(session_maker, world.a.client.id)) == 1


async def test_owner_sees_the_style_and_credits_links_editor_not_the_style_one(web, world: World):
    await web.sign_in(world.a.owner)
    home = await web.get(f"/c/{world.a.client.slug}/inbox")
    assert f'href="/c/{world.a.client.slug}/presets"' in home.text
    assert f'href="/c/{world.a.client.slug}/credits"' in home.text
    await web.sign_in(world.a.editor)
    inbox = await web.get(f"/c/{world.a.client.slug}/inbox")
    assert f'href="/c/{world.a.client.slug}/presets"' not in inbox.text


def figure(page: str, name: str) -> int:
    match = re.search(rf'data-figure="{name}"[^>]*>(-?\d+)<', page)
    assert match, name
    return int(match.group(1))


async def test_credits_page_shows_the_month_and_the_ledger(web, world: World, session_maker):
    client_id = world.a.client.id
    item = await make_item(session_maker, client_id)
    await start(session_maker, client_id, item.id)  # a running generation reserves its estimate
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = Story(client_id=client_id, source_item_id=item.id)
        session.add(story)
        await session.flush()
        session.add_all(
            [
                CreditCharge(
                    client_id=client_id, amount=7, description="Images for the ferry story", story_id=story.id
                ),
                CreditCharge(client_id=client_id, amount=3, description="Text of another story"),
            ]
        )
        await session.flush()
        # Last month's charge counts neither this month nor shows in its ledger.
        old = CreditCharge(client_id=client_id, amount=40, description="An old charge")
        session.add(old)
        await session.flush()
        old.created_at = datetime.now(UTC) - timedelta(days=40)
        client = await session.get_one(Client, client_id)
        expected = await balance(session, client)
    assert expected.charged == 10 and expected.reserved > 0

    await web.sign_in(world.a.owner)
    page = await web.get(f"/c/{world.a.client.slug}/credits")
    assert page.status_code == 200
    assert figure(page.text, "budget") == expected.budget
    assert figure(page.text, "charged") == 10
    assert figure(page.text, "reserved") == expected.reserved
    assert figure(page.text, "remaining") == expected.remaining
    assert figure(page.text, "month-total") == 10
    assert "Images for the ferry story" in page.text and "Text of another story" in page.text
    assert f'/stories/{story.id}"' in page.text and "An old charge" not in page.text
    assert page.text.index("Text of another story") < page.text.index("Images for the ferry story")  # newest first
    assert 'name="monthly_credits"' not in page.text  # the owner reads the budget, the agency sets it

    earlier = (datetime.now(UTC) - timedelta(days=40)).astimezone(ZoneInfo(world.a.client.timezone))
    last_month = await web.get(f"/c/{world.a.client.slug}/credits?month={earlier:%Y-%m}")
    assert "An old charge" in last_month.text and figure(last_month.text, "month-total") == 40


async def test_who_may_see_the_credits_and_set_the_budget(web, world: World, session_maker):
    url = f"/c/{world.a.client.slug}/credits"
    await web.sign_in(world.a.editor)
    assert (await web.get(url)).status_code == 200
    await web.sign_in(world.a.viewer)
    assert (await web.get(url)).status_code == 403
    await web.sign_in(world.outsider)
    assert (await web.get(url)).status_code == 404
    assert (await web.post(f"{url}/budget", {"monthly_credits": "9"})).status_code == 404

    for person in (world.a.owner, world.a.editor):
        await web.sign_in(person)
        assert (await web.post(f"{url}/budget", {"monthly_credits": "99999"})).status_code == 403

    await web.sign_in(world.admin)
    page = await web.get(url)
    assert 'name="monthly_credits"' in page.text
    refused = await web.post(f"{url}/budget", {"monthly_credits": "lots"})
    assert refused.status_code == 422 and "whole number of credits" in refused.text and 'value="lots"' in refused.text
    assert (await web.post(f"{url}/budget", {"monthly_credits": "-5"})).status_code == 422
    done = await web.post(f"{url}/budget", {"monthly_credits": "1200"})
    assert done.status_code == 303
    async with scoped_session(session_maker, system=True) as session:
        assert (await session.get_one(Client, world.a.client.id)).monthly_credits == 1200
    assert figure((await web.get(url)).text, "budget") == 1200


async def test_the_inbox_generates_with_the_chosen_preset(web, world: World, session_maker):
    base = f"/c/{world.a.client.slug}"
    await web.sign_in(world.a.owner)
    await web.post(f"{base}/presets/", preset_form(name="House", is_default="on"))
    await web.post(f"{base}/presets/", preset_form(name="Shorts", scene_count="2"))
    house, shorts = await presets_of(session_maker, world.a.client.id)
    first = await make_item(session_maker, world.a.client.id, title="First")
    second = await make_item(session_maker, world.a.client.id, title="Second")

    await web.sign_in(world.a.editor)
    inbox = await web.get(f"{base}/inbox")
    assert 'name="preset_id"' in inbox.text and "Style: Shorts" in inbox.text
    assert 'hx-include="#generate-preset"' in inbox.text
    await web.post(f"{base}/items/{first.id}/generate", {"preset_id": str(shorts.id)}, htmx=True)
    await web.post(f"{base}/items/bulk", {"action": "generate", "item_ids": str(second.id), "preset_id": ""})
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        jobs = {
            job.source_item_id: job.preset_id
            for job in (await session.execute(select(Job).where(Job.kind == JobKind.GENERATE_STORY))).scalars()
        }
    assert jobs == {first.id: shorts.id, second.id: house.id}


def wav_bytes(seconds: float = 1.0) -> bytes:
    """A short 440 Hz tone as WAV, made here: a music file of our own."""
    import io
    import math
    import struct
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        frames = int(22050 * seconds)
        wav.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(i * 440 * 2 * math.pi / 22050))) for i in range(frames))
        )
    return out.getvalue()


async def test_a_preset_takes_a_music_track_for_its_videos(web, world: World, session_maker, app):
    base = f"/c/{world.a.client.slug}/presets"
    await web.sign_in(world.a.owner)
    refused = await web.post(
        f"{base}/", preset_form(name="With music"), files={"audio": ("notes.txt", b"not music at all", "text/plain")}
    )
    assert refused.status_code == 422 and "not a music file" in refused.text
    assert await presets_of(session_maker, world.a.client.id) == []  # nothing half-saved

    saved = await web.post(
        f"{base}/",
        preset_form(name="With music", with_video="on"),
        files={"audio": ("tone.wav", wav_bytes(), "audio/wav")},
    )
    assert saved.status_code == 303, saved.text
    (preset,) = await presets_of(session_maker, world.a.client.id)
    assert preset.audio_name == "tone.wav" and preset.audio_key.startswith(f"clients/{world.a.client.id}/")
    assert (await app.state.storage.get(preset.audio_key))[8:12] == b"WAVE"
    edit = await web.get(f"{base}/{preset.id}")
    assert "Now: tone.wav" in edit.text

    await web.post(f"{base}/{preset.id}", {**preset_form(name="With music", with_video="on"), "remove_audio": "on"})
    (preset,) = await presets_of(session_maker, world.a.client.id)
    assert preset.audio_key is None and preset.audio_name is None
