"""Scene management on the story page: an own image per scene (checked like a source photo), moving
scenes up and down, adding a scene (its image made by the worker) and deleting one; frozen
versions, other clients and the audit trail."""

from __future__ import annotations

import io
import re
from uuid import UUID

import pytest
from PIL import Image
from sqlalchemy import select

from app.ai import photo_checks
from app.audit.models import AuditEvent
from app.audit.services import describe
from app.db.session import scoped_session
from app.generation.models import Job, JobKind, StylePreset
from app.generation.presets import save_preset
from app.storage import client_media_key, storage_from_settings
from app.stories import scene_edits
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.ai.test_photo_checks import encode
from tests.ai.test_photo_checks import scene as photo
from tests.conftest import Tenant, World, wait_for

TEXTS = ("The ferry is back.", "Engines were replaced.", "Tickets cost the same.")


async def story_with_scenes(
    session_maker, tenant: Tenant, texts=TEXTS, *, status: str = "draft", frozen: bool = False, video: bool = False
) -> tuple[UUID, list[UUID]]:
    """A story whose current version has a scene per text, each with one generated image."""
    client_id = tenant.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = Story(client_id=client_id, status=status)
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id, story_id=story.id, number=1, title="Harbour ferry is back", frozen=frozen
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        scene_ids = []
        for position, text in enumerate(texts):
            scene = Scene(client_id=client_id, story_version_id=version.id, position=position, text=text)
            session.add(scene)
            await session.flush()
            asset = Asset(
                client_id=client_id,
                story_version_id=version.id,
                scene_id=scene.id,
                scene_position=position,
                storage_key=client_media_key(client_id, "stories", str(story.id), f"{scene.id}.png"),
                mime="image/png",
                size_bytes=1,
                width=1080,
                height=1350,
                format="1080x1350",
                scene_revision=1,
                idempotency_key=f"{version.id}:{scene.id}:s1:1080x1350:p0:v0",
            )
            session.add(asset)
            await session.flush()
            scene.headliner_asset_id = asset.id
            scene_ids.append(scene.id)
        if video:
            session.add(
                Asset(
                    client_id=client_id,
                    story_version_id=version.id,
                    kind="video",
                    storage_key=client_media_key(client_id, "stories", str(story.id), "video.mp4"),
                    mime="video/mp4",
                    size_bytes=1,
                    width=1080,
                    height=1920,
                    idempotency_key=f"{version.id}:video:1080x1920:p0:abc",
                )
            )
        return story.id, scene_ids


async def scenes_now(session_maker, client_id: UUID, story_id: UUID) -> list[Scene]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = await session.get_one(Story, story_id)
        return list(
            (
                await session.execute(
                    select(Scene).where(Scene.story_version_id == story.current_version_id).order_by(Scene.position)
                )
            ).scalars()
        )


async def assets_of(session_maker, client_id: UUID, story_id: UUID) -> list[Asset]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = await session.get_one(Story, story_id)
        return list(
            (
                await session.execute(
                    select(Asset).where(Asset.story_version_id == story.current_version_id).order_by(Asset.created_at)
                )
            ).scalars()
        )


async def actions_of(session_maker, client_id: UUID, story_id: UUID) -> list[AuditEvent]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return list(
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.story_id == story_id).order_by(AuditEvent.created_at)
                )
            ).scalars()
        )


def image_file(img: Image.Image | None = None, fmt: str = "JPEG", name: str = "harbour.jpg") -> dict:
    return {"image": (name, encode(img or photo(), fmt), f"image/{fmt.lower()}")}


def button(html: str, scene_id: UUID, action: str) -> str:
    """The opening tag of a scene's button, e.g. action="move/up"."""
    match = re.search(rf'<button[^>]*/scenes/{scene_id}/{action}"[^>]*>', html)
    assert match, f"no {action} button for scene {scene_id}"
    return match.group(0)


async def upload(web, url: str, files: dict):
    return await web.post(url, {}, htmx=True, files=files)


# An own image ------------------------------------------------------------------------------------


async def test_an_own_image_joins_the_scene_normalised_and_free(web, world: World, session_maker, settings):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    response = await upload(web, f"{base}/scenes/{scenes[1]}/image", image_file())
    assert response.status_code == 200, response.text
    assert "Your image is now in scene 2." in response.text and "Your image</span>" in response.text
    assert response.text.count('<figure class="variant') == 4

    mine = [a for a in await assets_of(session_maker, world.a.client.id, story_id) if a.provider == "upload"]
    assert len(mine) == 1
    own = mine[0]
    assert (own.scene_id, own.kind, own.model, own.mime) == (scenes[1], "image", "upload", "image/jpeg")
    assert (own.width, own.height, own.format, own.variant) == (1080, 1350, "1080x1350", 1)
    assert ":upload:" in own.idempotency_key and own.storage_key.startswith(f"clients/{world.a.client.id}/")
    storage = storage_from_settings(settings)
    with Image.open(io.BytesIO(await storage.get(own.storage_key))) as stored:
        assert stored.size == (1080, 1350) and stored.format == "JPEG"
    # The scene had a headliner: it keeps it. No job, no credits.
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        scene = await session.get_one(Scene, scenes[1])
        jobs = (await session.execute(select(Job))).scalars().all()
    assert scene.headliner_asset_id != own.id and jobs == []

    # The same file again (a double click) is the same variant.
    again = await upload(web, f"{base}/scenes/{scenes[1]}/image", image_file())
    assert again.status_code == 200
    assert len([a for a in await assets_of(session_maker, world.a.client.id, story_id) if a.provider == "upload"]) == 1
    events = [e for e in await actions_of(session_maker, world.a.client.id, story_id)]
    assert [e.action for e in events] == ["scene_image_uploaded"]
    assert describe(events[0]) == "Own image uploaded for scene 2"


async def test_an_own_image_is_the_headliner_of_a_scene_without_a_current_one(web, world: World, session_maker):
    story_id, scenes = await story_with_scenes(session_maker, world.a, video=True)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    await web.post(f"{base}/scenes/{scenes[0]}/text", {"text": "A new opening."}, htmx=True)  # its image goes stale
    response = await upload(web, f"{base}/scenes/{scenes[0]}/image", image_file())
    assert response.status_code == 200
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        scene = await session.get_one(Scene, scenes[0])
        headliner = await session.get_one(Asset, scene.headliner_asset_id)
    assert headliner.provider == "upload" and headliner.scene_revision == 2
    assert "no longer matches" in response.text  # the video showed the old picture


def orientation_test_image() -> bytes:
    """Upright: red on top, blue below. Stored lying on its side with EXIF orientation 6 (rotate
    90° clockwise to view), as phones save portrait photos."""
    upright = Image.new("RGB", (900, 1200), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 900, 600))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a viewer turns back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_normalising_applies_the_exif_orientation_and_crops_to_the_format() -> None:
    image = scene_edits.normalise_image(orientation_test_image(), (1080, 1350))
    with Image.open(io.BytesIO(image.data)) as result:
        assert result.size == (1080, 1350) and result.format == "JPEG"
        top, bottom = result.getpixel((540, 40)), result.getpixel((540, 1300))
        assert not result.getexif().get(0x0112)
    assert top[0] > 200 and top[2] < 60, top  # red stays on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (image_file(Image.new("RGB", (900, 900), (128, 128, 128))), "The photo is blank"),
        ({"image": ("notes.jpg", b"this is not a picture at all", "image/jpeg")}, "not a photo we can read"),
        (image_file(photo((320, 240))), "at least 600×600 is needed"),
        ({"image": ("empty.jpg", b"", "image/jpeg")}, "The file is empty."),
    ],
    ids=["blank", "not-an-image", "too-small", "empty"],
)
async def test_an_unfit_image_is_refused_beside_its_scene(web, world: World, session_maker, files, message):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    response = await upload(web, f"{base}/scenes/{scenes[2]}/image", files)
    assert response.status_code == 422 and message in response.text
    # Beside the third scene, not the first two.
    assert response.text.index(message) > response.text.index(f'id="scene-{scenes[2]}"')
    assert not [a for a in await assets_of(session_maker, world.a.client.id, story_id) if a.provider == "upload"]


async def test_a_too_big_image_is_refused_before_it_is_looked_at(web, world: World, session_maker, monkeypatch):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    data = encode(photo())
    monkeypatch.setattr(scene_edits, "MAX_IMAGE_BYTES", len(data) - 1)
    checked = []
    monkeypatch.setattr(photo_checks, "check_photo", lambda *a, **k: checked.append(1))
    response = await upload(web, f"{base}/scenes/{scenes[0]}/image", {"image": ("big.jpg", data, "image/jpeg")})
    assert response.status_code == 422 and "The image is larger than" in response.text and not checked


async def test_the_nsfw_hook_and_the_variant_limit_refuse_too(web, world: World, session_maker):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)

    def not_for_work(_image, _data) -> str:
        return "Not for a family audience."

    photo_checks.register_nsfw_checker(not_for_work)
    try:
        response = await upload(web, f"{base}/scenes/{scenes[0]}/image", image_file())
    finally:
        photo_checks.unregister_nsfw_checker(not_for_work)
    assert response.status_code == 422 and "Not for a family audience." in response.text

    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await save_preset(
            session,
            world.a.client.id,
            StylePreset(client_id=world.a.client.id),
            {"name": "One shot", "scene_count": "1", "max_variants_per_scene": "1", "is_default": "on"},
        )
    response = await upload(web, f"{base}/scenes/{scenes[0]}/image", image_file())
    assert response.status_code == 422 and "1 images already" in response.text


async def test_the_upload_hint_tells_the_real_limits(web, world: World, session_maker):
    story_id, _scenes = await story_with_scenes(session_maker, world.a)
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/stories/{story_id}")
    megabytes = scene_edits.MAX_IMAGE_BYTES // (1024 * 1024)
    assert f"at least {photo_checks.MIN_WIDTH}×{photo_checks.MIN_HEIGHT} pixels, up to {megabytes} MB" in page.text
    assert f'maxlength="{scene_edits.MAX_SCENE_CHARS}"' in page.text
    assert 'hx-encoding="multipart/form-data"' in page.text and 'type="file"' in page.text


# Order -------------------------------------------------------------------------------------------


async def test_scenes_move_up_and_down_and_stop_at_the_ends(web, world: World, session_maker):
    story_id, (a, b, c) = await story_with_scenes(session_maker, world.a, status="approved", video=True)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)

    response = await web.post(f"{base}/scenes/{b}/move/up", htmx=True)
    assert response.status_code == 200 and "Scene 2 is now scene 1." in response.text
    assert [s.id for s in await scenes_now(session_maker, world.a.client.id, story_id)] == [b, a, c]
    assert "no longer matches" in response.text
    # The keyboard goes back to the moved scene; at the top its "up" is disabled, so "down".
    up, down = button(response.text, b, "move/up"), button(response.text, b, "move/down")
    assert "disabled" in up and "autofocus" not in up and "autofocus" in down

    refused = await web.post(f"{base}/scenes/{b}/move/up", htmx=True)
    assert refused.status_code == 409 and "Scene 1 is already the first." in refused.text
    refused = await web.post(f"{base}/scenes/{c}/move/down", htmx=True)
    assert refused.status_code == 409 and "Scene 3 is already the last." in refused.text

    response = await web.post(f"{base}/scenes/{a}/move/down", htmx=True)
    assert response.status_code == 200 and "Scene 2 is now scene 3." in response.text
    now = await scenes_now(session_maker, world.a.client.id, story_id)
    assert [s.id for s in now] == [b, c, a] and [s.position for s in now] == [0, 1, 2]
    # Every image follows its scene.
    for asset in await assets_of(session_maker, world.a.client.id, story_id):
        if asset.scene_id:
            assert asset.scene_position == next(s.position for s in now if s.id == asset.scene_id)
        else:
            assert asset.kind == "video" and asset.stale

    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.get_one(Story, story_id)).status == "draft"  # the approval was of another order
    events = await actions_of(session_maker, world.a.client.id, story_id)
    assert [describe(e) for e in events] == [
        "Back to draft after an edit",
        "Scene 2 moved to place 1",
        "Scene 2 moved to place 3",
    ]


async def test_an_unknown_direction_is_not_a_page(web, world: World, session_maker):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    await web.sign_in(world.a.editor)
    response = await web.post(f"/c/{world.a.client.slug}/stories/{story_id}/scenes/{scenes[0]}/move/sideways")
    assert response.status_code == 404


# Adding and deleting -----------------------------------------------------------------------------


async def test_an_added_scene_takes_its_place_and_gets_its_image_from_the_worker(
    web, world: World, worker, session_maker
):
    story_id, (a, b, c) = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)

    refused = await web.post(f"{base}/scenes", {"text": "   ", "after": str(a)}, htmx=True)
    assert refused.status_code == 422 and "A scene needs some text." in refused.text

    response = await web.post(f"{base}/scenes", {"text": "Cyclists ride free at night.", "after": str(a)}, htmx=True)
    assert response.status_code == 200 and "Scene 2 added; its image is being made." in response.text
    now = await scenes_now(session_maker, world.a.client.id, story_id)
    assert [s.text for s in now] == [TEXTS[0], "Cyclists ride free at night.", TEXTS[1], TEXTS[2]]
    added = now[1]
    assert [s.position for s in now] == [0, 1, 2, 3] and "Cyclists" in added.image_prompt

    async def its_image():
        assets = await assets_of(session_maker, world.a.client.id, story_id)
        return next((x for x in assets if x.scene_id == added.id), None)

    image = await wait_for(its_image, within=90)
    assert image.kind == "image" and image.scene_position == 1 and image.provider == "local"
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        job = (await session.execute(select(Job).where(Job.scene_id == added.id))).scalar_one()
        scene = await session.get_one(Scene, added.id)
    assert job.kind == JobKind.IMAGE and scene.headliner_asset_id == image.id

    # At the end when no scene is named.
    response = await web.post(f"{base}/scenes", {"text": "The end.", "after": ""}, htmx=True)
    assert "Scene 5 added" in response.text
    assert (await scenes_now(session_maker, world.a.client.id, story_id))[-1].text == "The end."
    events = await actions_of(session_maker, world.a.client.id, story_id)
    assert [describe(e) for e in events] == ["Scene 2 added", "Scene 5 added"]


async def test_a_scene_added_without_credits_stays_and_says_why(web, world: World, session_maker):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"

    async def refuse(*_args, **_kwargs):
        raise scene_edits.GenerationRefused("Not enough credits: this needs 1 and 0 are left.")

    await web.sign_in(world.a.editor)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scene_edits, "regenerate_scene", refuse)
        response = await web.post(f"{base}/scenes", {"text": "Free of charge?"}, htmx=True)
    assert response.status_code == 200 and "No image is being made: Not enough credits" in response.text
    assert len(await scenes_now(session_maker, world.a.client.id, story_id)) == 4


async def test_deleting_a_scene_renumbers_the_rest_and_keeps_its_images(web, world: World, session_maker):
    story_id, (a, b, c) = await story_with_scenes(session_maker, world.a, video=True)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    before = {x.scene_id: x for x in await assets_of(session_maker, world.a.client.id, story_id)}
    await web.post(f"{base}/assets/{before[b].id}/favourite", htmx=True)

    page = await web.get(base)
    assert 'hx-confirm="Delete scene 2?' in page.text
    response = await web.post(f"{base}/scenes/{b}/delete", htmx=True)
    assert response.status_code == 200 and "Scene 2 deleted" in response.text
    now = await scenes_now(session_maker, world.a.client.id, story_id)
    assert [(s.id, s.position) for s in now] == [(a, 0), (c, 1)]
    kept = {x.id: x for x in await assets_of(session_maker, world.a.client.id, story_id)}
    gone = kept[before[b].id]  # the row stays with the version, detached and no longer current
    assert gone.scene_id is None and gone.stale and gone.favourite
    assert kept[before[c].id].scene_position == 1
    assert response.text.count('class="scene"') == 2 and "no longer matches" in response.text

    await web.post(f"{base}/scenes/{c}/delete", htmx=True)
    refused = await web.post(f"{base}/scenes/{a}/delete", htmx=True)
    assert refused.status_code == 409 and "this is the last one" in refused.text
    assert "hx-confirm" not in button(refused.text, a, "delete")
    assert [s.id for s in await scenes_now(session_maker, world.a.client.id, story_id)] == [a]
    events = await actions_of(session_maker, world.a.client.id, story_id)
    assert [describe(e) for e in events] == ["Scene 2 deleted", "Scene 2 deleted"]
    assert events[0].details["text"] == TEXTS[1] and events[0].actor_id == world.a.editor.id


# Frozen versions, generation, people and tenants -------------------------------------------------


async def test_a_published_frozen_version_is_never_changed(web, world: World, session_maker):
    story_id, (a, b, c) = await story_with_scenes(session_maker, world.a, status="published", frozen=True)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    page = await web.get(base)
    assert "/move/up" not in page.text and 'type="file"' not in page.text and "Add a scene" not in page.text
    assert "published and frozen" in page.text

    frozen = "This version is published and frozen; edit the story to make a new version."
    answers = [
        await web.post(f"{base}/scenes/{b}/move/up", htmx=True),
        await web.post(f"{base}/scenes/{b}/delete", htmx=True),
        await web.post(f"{base}/scenes", {"text": "More."}, htmx=True),
        await upload(web, f"{base}/scenes/{b}/image", image_file()),
    ]
    assert [r.status_code for r in answers] == [409, 409, 422, 422]
    assert all(frozen in r.text for r in answers)
    assert [s.id for s in await scenes_now(session_maker, world.a.client.id, story_id)] == [a, b, c]
    assert len(await assets_of(session_maker, world.a.client.id, story_id)) == 3
    assert await actions_of(session_maker, world.a.client.id, story_id) == []


async def test_scenes_wait_while_the_story_is_being_generated(web, world: World, session_maker):
    story_id, scenes = await story_with_scenes(session_maker, world.a, status="generating")
    await web.sign_in(world.a.editor)
    response = await web.post(f"/c/{world.a.client.slug}/stories/{story_id}/scenes/{scenes[1]}/move/up", htmx=True)
    assert response.status_code == 409 and "still being generated" in response.text


async def test_other_clients_and_stories_get_404_and_viewers_403(web, world: World, session_maker):
    story_id, scenes = await story_with_scenes(session_maker, world.a)
    other_story, other_scenes = await story_with_scenes(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"

    def attempts(prefix: str, scene: UUID):
        return [
            ("move", f"{prefix}/scenes/{scene}/move/up", None),
            ("delete", f"{prefix}/scenes/{scene}/delete", None),
            ("add", f"{prefix}/scenes", {"text": "Smuggled.", "after": str(scene)}),
            ("image", f"{prefix}/scenes/{scene}/image", image_file()),
        ]

    async def send(url, data):
        if data and "image" in data:
            return await upload(web, url, data)
        return await web.post(url, data or {}, htmx=True)

    # Client B's editor: client A's pages do not exist for them; nor do A's ids under B's address.
    await web.sign_in(world.b.editor)
    for _name, url, data in attempts(base, scenes[0]):
        assert (await send(url, data)).status_code == 404, url
    for _name, url, data in attempts(f"/c/{world.b.client.slug}/stories/{story_id}", scenes[0]):
        assert (await send(url, data)).status_code == 404, url
    # A scene of another story of the same client is not this story's scene.
    await web.sign_in(world.a.editor)
    for _name, url, data in attempts(base, other_scenes[0]):
        assert (await send(url, data)).status_code == 404, url
    # A viewer reads; they do not edit.
    await web.sign_in(world.a.viewer)
    for _name, url, data in attempts(base, scenes[0]):
        assert (await send(url, data)).status_code == 403, url
    assert [s.id for s in await scenes_now(session_maker, world.a.client.id, story_id)] == scenes
    assert [s.id for s in await scenes_now(session_maker, world.a.client.id, other_story)] == other_scenes
    assert await actions_of(session_maker, world.a.client.id, story_id) == []


async def test_a_scene_change_on_a_scheduled_story_cancels_its_publication(web, world: World, session_maker):
    """Nothing scheduled goes out with scenes nobody approved: back to draft, the post canceled."""
    from app.publishing.models import Publication
    from app.publishing.services import schedule_story

    story_id, (a, b, _c) = await story_with_scenes(session_maker, world.a, status="approved")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        story = await session.get(Story, story_id)
        await schedule_story(session, world.a.client, story, "2099-01-01T09:00")
    await web.sign_in(world.a.editor)
    response = await web.post(f"/c/{world.a.client.slug}/stories/{story_id}/scenes/{b}/move/up", htmx=True)
    assert response.status_code == 200
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        story = await session.get(Story, story_id)
        publication = (await session.execute(select(Publication).where(Publication.story_id == story_id))).scalar_one()
    assert story.status == "draft"
    assert publication.status == "canceled" and "scenes changed" in publication.last_error
