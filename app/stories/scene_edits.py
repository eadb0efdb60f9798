"""Scene management on the story page: an editor's own image for a scene, the scenes' order, adding
a scene and deleting one. (A scene's text, its new images, the headliner and favourites live in
app.generation.services.)

Every change is made on the story's current version. A frozen (published) version is never
changed: these edits are refused with the message the other scene actions give, as the scenes
section does not offer them there. The version's row lock serialises scene edits, so two editors
moving scenes at once cannot renumber from a stale order.

The callers (thin routes) commit; `add_scene` returns the image job to enqueue after the commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from PIL import Image, ImageOps
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai import photo_checks
from app.ai.base import GeneratedImage
from app.audit import services as audit
from app.auth.models import User
from app.generation.models import Job
from app.generation.pipeline import MAX_BACKGROUND_BYTES, count_variants, image_prompt
from app.generation.presets import MAX_SCENES, EffectivePreset, effective_preset
from app.generation.services import AssetRepository, GenerationRefused, StoryVersionRepository, regenerate_scene
from app.i18n import gettext as _
from app.publishing import schedules
from app.storage import MediaStorage, client_media_key
from app.stories.models import Asset, Scene, Story, StoryStatus, StoryVersion
from app.tenancy.models import Client

# An own image is read like a source photo: the same size cap, the same checks.
MAX_IMAGE_BYTES = MAX_BACKGROUND_BYTES
MAX_SCENE_CHARS = 2000
# What marks an uploaded variant (Asset.provider and Asset.model): the video step uses a picture
# whose provider is not "local" as it is, and the scenes section badges it as the editor's own.
UPLOAD_PROVIDER = "upload"


class SceneEditRefused(Exception):
    """The edit cannot be made; `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _editable_version(session: AsyncSession, story: Story) -> StoryVersion:
    if story.status == StoryStatus.GENERATING:
        # The pipeline plans an image per scene as it goes: a scene added now would get two.
        raise SceneEditRefused(_("The story is still being generated; change its scenes when it is ready."))
    if story.current_version_id is None:
        raise SceneEditRefused(_("The story has no content yet."))
    version = await StoryVersionRepository(session, story.client_id).get(story.current_version_id, for_update=True)
    if version.frozen:
        raise SceneEditRefused(_("This version is published and frozen; edit the story to make a new version."))
    return version


async def _scenes_of(session: AsyncSession, version: StoryVersion) -> list[Scene]:
    return list(
        (
            await session.execute(
                select(Scene)
                .where(Scene.client_id == version.client_id, Scene.story_version_id == version.id)
                .order_by(Scene.position)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )


def _index_of(scenes: list[Scene], scene_id: UUID) -> int:
    """Where the scene is in its version; a scene of another story (or client) is not found."""
    for index, scene in enumerate(scenes):
        if scene.id == scene_id:
            return index
    raise NotFoundError("Scene not found")


async def _renumber(session: AsyncSession, version: StoryVersion, scenes: list[Scene]) -> None:
    """Give `scenes` the positions 0..n-1 in this order (new scenes may be among them).

    PostgreSQL checks a non-deferrable unique constraint row by row, so a plain swap of two
    positions can collide halfway. Every scene first steps aside to a distinct negative position,
    then takes its place: no two rows ever hold the same position, whatever order they are
    written in, and the constraint stays as it is.
    """
    for index, scene in enumerate(scenes):
        scene.position = -1 - index
    await session.flush()
    for index, scene in enumerate(scenes):
        scene.position = index
    await session.flush()
    # Assets carry their scene's position (the version's assets are ordered by it).
    await session.execute(
        update(Asset)
        .where(
            Asset.client_id == version.client_id,
            Asset.scene_id == Scene.id,
            Scene.story_version_id == version.id,
            Asset.scene_position != Scene.position,
        )
        .values(scene_position=Scene.position)
        .execution_options(synchronize_session=False)
    )


async def _video_no_longer_matches(session: AsyncSession, version: StoryVersion) -> None:
    """The video shows the scenes in their old order (or ones that are gone): it is kept, marked
    stale, and the scenes section says so. The pipeline's VIDEO step makes a new one (its key is
    a digest of the scenes and their headliners, so it will not reuse this one)."""
    await session.execute(
        update(Asset)
        .where(
            Asset.client_id == version.client_id,
            Asset.story_version_id == version.id,
            Asset.kind.in_(("video", "poster")),
            Asset.stale.is_(False),
        )
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )


async def _content_changed(session: AsyncSession, story: Story, actor_id: UUID | None) -> None:
    """As with an edit of the text: what was approved is not what is there now, and nothing
    scheduled goes out with scenes nobody approved."""
    if story.status in (StoryStatus.APPROVED, StoryStatus.SCHEDULED, StoryStatus.REJECTED):
        story.status = StoryStatus.DRAFT
        await audit.record(session, story.client_id, "returned_to_draft", actor_id=actor_id, story_id=story.id)
    await schedules.cancel_pending_publications(
        session, story, _("Canceled: the story's scenes changed after it was scheduled.")
    )


async def _preset_of(session: AsyncSession, version: StoryVersion) -> EffectivePreset:
    client = await session.get_one(Client, version.client_id)
    return await effective_preset(session, client, version.preset_id)


# An own image ----------------------------------------------------------------------------------


def normalise_image(data: bytes, size: tuple[int, int]) -> GeneratedImage:
    """An upload made like the scene's other images: upright (EXIF orientation applied), cropped to
    fill the preset's size (subjects sit above the centre more often than below), a JPEG as photo
    cards are. Nothing of the original's metadata (GPS, camera) is carried into published media.
    Call it on bytes `photo_checks.check_photo` accepted (that refuses decompression bombs)."""
    with Image.open(io.BytesIO(data)) as img:
        # JPEG: decode at a reduced scale when much larger; the long side covers either orientation.
        img.draft("RGB", (max(size), max(size)))
        upright = ImageOps.exif_transpose(img)
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            rgba = upright.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent areas as white
            flat.alpha_composite(rgba)
            upright = flat
        picture = ImageOps.fit(upright.convert("RGB"), size, Image.Resampling.LANCZOS, centering=(0.5, 0.4))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, optimize=True, progressive=True)
    return GeneratedImage(data=out.getvalue(), mime="image/jpeg", width=size[0], height=size[1])


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


async def upload_scene_image(
    session: AsyncSession, storage: MediaStorage, story: Story, scene_id: UUID, data: bytes, *, actor_id: UUID | None
) -> Asset:
    """The editor's own image as a new variant of the scene (no credits: nothing is generated).
    Checked like a source photo; becomes the headliner when the scene has no current image."""
    if not data:
        raise SceneEditRefused(_("The file is empty."))
    if len(data) > MAX_IMAGE_BYTES:
        raise SceneEditRefused(_("The image is larger than %(size)s.", size=_megabytes(MAX_IMAGE_BYTES)))
    version = await _editable_version(session, story)
    scenes = await _scenes_of(session, version)
    scene = scenes[_index_of(scenes, scene_id)]
    preset = await _preset_of(session, version)
    if await count_variants(session, story.client_id, scene.id) >= preset.max_variants_per_scene:
        raise SceneEditRefused(
            _(
                "This scene has %(n)s images already, the most its style preset allows.",
                n=preset.max_variants_per_scene,
            )
        )
    # Pillow's work is CPU-bound: off the event loop, which serves every other request meanwhile.
    verdict = await asyncio.to_thread(photo_checks.check_photo, data)
    if not verdict.ok:
        raise SceneEditRefused(" ".join(verdict.reasons))
    size = preset.image_size
    image = await asyncio.to_thread(normalise_image, data, size)
    digest = hashlib.sha256(image.data).hexdigest()[:16]
    # Generated variants are keyed "{version}:{scene}:s{rev}:{W}x{H}:p{rev}:v{n}" and copies
    # "{version}:copy:{asset}": the "upload" part keeps these apart from both. The same image
    # sent twice (a double click) is the same variant.
    key = f"{version.id}:{scene.id}:s{scene.revision}:upload:{digest}"
    assets = AssetRepository(session, story.client_id)
    existing = await assets.get_one_or_none(Asset.idempotency_key == key)
    if existing is not None:
        return existing
    storage_key = client_media_key(
        story.client_id, "stories", str(story.id), f"{version.id}-{scene.id}-upload-{digest}.jpg"
    )
    # The object first, then the row: a failure in between leaves an object a retry overwrites
    # (same key), never a row pointing at nothing.
    await storage.put(storage_key, image.data, image.mime)
    asset = await assets.add(
        Asset(
            story_version_id=version.id,
            scene_id=scene.id,
            scene_position=scene.position,
            kind="image",
            storage_key=storage_key,
            mime=image.mime,
            size_bytes=len(image.data),
            width=image.width,
            height=image.height,
            provider=UPLOAD_PROVIDER,
            model=UPLOAD_PROVIDER,
            idempotency_key=key,
            variant=await _next_variant(session, scene),
            format=f"{size[0]}x{size[1]}",
            preset_revision=preset.revision,
            scene_revision=scene.revision,
        )
    )
    current = [a for a in (await _current_images(session, scene)) if a.id != asset.id]
    if not current:
        scene.headliner_asset_id = asset.id
        await _video_no_longer_matches(session, version)
    await audit.record(
        session,
        story.client_id,
        "scene_image_uploaded",
        actor_id=actor_id,
        story_id=story.id,
        scene=scene.position + 1,
    )
    await session.flush()
    return asset


async def _current_images(session: AsyncSession, scene: Scene) -> list[Asset]:
    return list(
        (
            await session.execute(
                select(Asset).where(
                    Asset.client_id == scene.client_id,
                    Asset.scene_id == scene.id,
                    Asset.kind == "image",
                    Asset.stale.is_(False),
                )
            )
        )
        .scalars()
        .all()
    )


async def _next_variant(session: AsyncSession, scene: Scene) -> int:
    """After every variant the scene has had (variants order the grid, oldest first)."""
    latest = select(func.max(Asset.variant)).where(Asset.client_id == scene.client_id, Asset.scene_id == scene.id)
    made = (await session.execute(latest)).scalar_one()
    return 0 if made is None else made + 1


# Order -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    scene: Scene
    before: int  # 1-based, as people count scenes
    after: int


async def move_scene(
    session: AsyncSession, story: Story, scene_id: UUID, direction: str, *, actor_id: UUID | None
) -> Moved:
    """One place up or down; the neighbour takes the scene's old place."""
    version = await _editable_version(session, story)
    scenes = await _scenes_of(session, version)
    index = _index_of(scenes, scene_id)
    target = index - 1 if direction == "up" else index + 1
    if target < 0:
        raise SceneEditRefused(_("Scene %(n)s is already the first.", n=index + 1))
    if target >= len(scenes):
        raise SceneEditRefused(_("Scene %(n)s is already the last.", n=index + 1))
    scenes[index], scenes[target] = scenes[target], scenes[index]
    await _renumber(session, version, scenes)
    await _video_no_longer_matches(session, version)
    await _content_changed(session, story, actor_id)
    await audit.record(
        session,
        story.client_id,
        "scene_moved",
        actor_id=actor_id,
        story_id=story.id,
        before=index + 1,
        after=target + 1,
    )
    return Moved(scene=scenes[target], before=index + 1, after=target + 1)


# Adding and deleting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    scene: Scene
    job: Job | None  # the image job to enqueue after the commit
    image_refused: str | None  # why no image is being made (credits, limits): the scene stays


async def add_scene(session: AsyncSession, story: Story, text: str, *, after: UUID | None, requested_by: User) -> Added:
    """A new scene after the given one (at the end without one). Its image is made like "New
    image" makes one: the same job, charged when it completes, arriving over SSE."""
    text = text.strip()
    if not text:
        raise SceneEditRefused(_("A scene needs some text."))
    if len(text) > MAX_SCENE_CHARS:
        raise SceneEditRefused(_("Keep a scene under %(n)s characters.", n=MAX_SCENE_CHARS))
    version = await _editable_version(session, story)
    scenes = await _scenes_of(session, version)
    if len(scenes) >= MAX_SCENES:
        raise SceneEditRefused(_("A story has at most %(n)s scenes.", n=MAX_SCENES))
    index = len(scenes) if after is None else _index_of(scenes, after) + 1
    preset = await _preset_of(session, version)
    scene = Scene(
        client_id=story.client_id,
        story_version_id=version.id,
        position=-1 - len(scenes),  # out of the way until _renumber gives it its place
        text=text,
        image_prompt=image_prompt(text, version.title, preset.image_style),
    )
    session.add(scene)
    scenes.insert(index, scene)
    await _renumber(session, version, scenes)
    await _video_no_longer_matches(session, version)
    await _content_changed(session, story, requested_by.id)
    await audit.record(
        session, story.client_id, "scene_added", actor_id=requested_by.id, story_id=story.id, scene=index + 1
    )
    try:
        job = await regenerate_scene(session, story.client_id, scene.id, requested_by=requested_by)
    except GenerationRefused as exc:
        return Added(scene=scene, job=None, image_refused=exc.message)
    return Added(scene=scene, job=job, image_refused=None)


async def delete_scene(session: AsyncSession, story: Story, scene_id: UUID, *, actor_id: UUID | None) -> int:
    """Delete a scene; the ones after it move up. Returns the deleted scene's number (1-based).

    Its images are not deleted: their rows stay with the version, detached from the scene and
    stale (like the older images of an edited scene), and their files stay in storage. A file may
    be shared with a published version (new_version_from copies rows, not files), favourites are
    meant to be kept, and retention is the one place that decides what old media to remove.
    Its jobs are detached too (the database would delete them with the scene): what they cost
    stays in the history, and a job still waiting finds no scene and stops with a plain message.
    """
    version = await _editable_version(session, story)
    scenes = await _scenes_of(session, version)
    index = _index_of(scenes, scene_id)
    if len(scenes) == 1:
        raise SceneEditRefused(_("A story needs at least one scene: this is the last one. Change its text instead."))
    scene = scenes.pop(index)
    await session.execute(
        update(Asset)
        .where(Asset.client_id == story.client_id, Asset.scene_id == scene.id)
        .values(scene_id=None, stale=True)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Job)
        .where(Job.client_id == story.client_id, Job.scene_id == scene.id)
        .values(scene_id=None)
        .execution_options(synchronize_session=False)
    )
    excerpt = " ".join(scene.text.split())[:120]
    await session.delete(scene)
    await session.flush()
    await _renumber(session, version, scenes)
    await _video_no_longer_matches(session, version)
    await _content_changed(session, story, actor_id)
    await audit.record(
        session, story.client_id, "scene_deleted", actor_id=actor_id, story_id=story.id, scene=index + 1, text=excerpt
    )
    return index + 1
