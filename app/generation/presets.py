"""Style presets: how a client's stories read and look, versioned by revision.

A client may have no preset at all: the built-in defaults below (and the client's language and
colours) apply. Editing a preset bumps its revision and marks the images made with the older
revision stale on versions that are not frozen, so exactly those get made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repository import TenantRepository
from app.generation.models import StylePreset
from app.i18n import gettext as _
from app.providers.models import AiModel, AiProvider
from app.storage import client_media_key
from app.stories.models import Asset, StoryVersion
from app.tenancy.models import Client

ASPECT_SIZES: dict[str, tuple[int, int]] = {
    "square": (1080, 1080),  # Instagram feed, Telegram
    "portrait": (1080, 1350),  # 4:5, the tallest Instagram feed post
    "vertical": (1080, 1920),  # 9:16, Stories, Reels, Shorts
}
TONES = ("neutral", "formal", "friendly", "energetic")
LENGTHS = ("short", "medium", "long")
MAX_SCENES = 12
MAX_HASHTAGS = 10


class PresetFormError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class StylePresetRepository(TenantRepository[StylePreset]):
    model_type = StylePreset


@dataclass(frozen=True)
class EffectivePreset:
    """A preset with the client's fallbacks filled in: what a generation really uses."""

    preset_id: UUID | None
    revision: int
    language: str
    tone: str
    length: str
    scene_count: int
    image_style: str
    aspect: str
    hashtags: tuple[str, ...]
    brand_color: str
    accent_color: str
    with_video: bool
    max_variants_per_scene: int
    text_model_id: UUID | None
    image_model_id: UUID | None
    video_model_id: UUID | None
    audio_key: str | None = None  # the music of the videos, in the storage layer

    @property
    def image_size(self) -> tuple[int, int]:
        return ASPECT_SIZES.get(self.aspect, ASPECT_SIZES["portrait"])


def effective(client: Client, preset: StylePreset | None) -> EffectivePreset:
    if preset is None:
        return EffectivePreset(
            preset_id=None,
            revision=0,
            language=client.language,
            tone="neutral",
            length="medium",
            scene_count=3,
            image_style="",
            aspect="portrait",
            hashtags=(),
            brand_color=client.brand_color,
            accent_color=client.accent_color,
            with_video=False,
            max_variants_per_scene=6,
            text_model_id=None,
            image_model_id=None,
            video_model_id=None,
        )
    return EffectivePreset(
        preset_id=preset.id,
        revision=preset.revision,
        language=preset.language or client.language,
        tone=preset.tone,
        length=preset.length,
        scene_count=preset.scene_count,
        image_style=preset.image_style,
        aspect=preset.aspect,
        hashtags=tuple(preset.hashtags or ()),
        brand_color=preset.brand_color or client.brand_color,
        accent_color=preset.accent_color or client.accent_color,
        with_video=preset.with_video,
        max_variants_per_scene=preset.max_variants_per_scene,
        text_model_id=preset.text_model_id,
        image_model_id=preset.image_model_id,
        video_model_id=preset.video_model_id,
        audio_key=preset.audio_key,
    )


async def preset_for(session: AsyncSession, client_id: UUID, preset_id: UUID | None = None) -> StylePreset | None:
    """The preset asked for, else the client's default preset, else None (built-in defaults)."""
    presets = StylePresetRepository(session, client_id)
    if preset_id is not None and (chosen := await presets.get_one_or_none(StylePreset.id == preset_id)):
        return chosen
    return await presets.get_one_or_none(StylePreset.is_default.is_(True))


async def effective_preset(session: AsyncSession, client: Client, preset_id: UUID | None = None) -> EffectivePreset:
    return effective(client, await preset_for(session, client.id, preset_id))


def parse_hashtags(raw: str) -> list[str]:
    tags: list[str] = []
    for word in raw.replace(",", " ").split():
        tag = "#" + word.lstrip("#").strip()
        if len(tag) > 1 and tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag[:50])
    return tags[:MAX_HASHTAGS]


_COLOUR_CHARS = set("0123456789abcdefABCDEF")


def _colour(value: str, field: str, errors: dict[str, str]) -> str | None:
    value = value.strip()
    if not value:
        return None
    if len(value) != 7 or value[0] != "#" or not set(value[1:]) <= _COLOUR_CHARS:
        errors[field] = _("A colour is written like #1f4e79.")
    return value


def apply_preset_form(preset: StylePreset, form: dict[str, str]) -> None:
    """Validate the owner's form into the preset; raises PresetFormError with messages per field."""
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = _("Give the preset a name.")
    try:
        scene_count = int(form.get("scene_count", "3"))
        if not 1 <= scene_count <= MAX_SCENES:
            raise ValueError
    except ValueError:
        errors["scene_count"] = _("Between 1 and %(n)s scenes.", n=MAX_SCENES)
        scene_count = preset.scene_count or 3
    try:
        max_variants = int(form.get("max_variants_per_scene", "6"))
        if not 1 <= max_variants <= 50:
            raise ValueError
    except ValueError:
        errors["max_variants_per_scene"] = _("Between 1 and 50 variants.")
        max_variants = preset.max_variants_per_scene or 6
    aspect = form.get("aspect", "portrait")
    if aspect not in ASPECT_SIZES:
        errors["aspect"] = _("Choose a format from the list.")
    tone = form.get("tone", "neutral")
    length = form.get("length", "medium")
    language = form.get("language", "").strip() or None
    if language not in (None, "en", "ru"):
        errors["language"] = _("Choose a language from the list.")
    brand, accent = (
        _colour(form.get("brand_color", ""), "brand_color", errors),
        _colour(form.get("accent_color", ""), "accent_color", errors),
    )
    if errors:
        raise PresetFormError(errors)
    preset.name = name
    preset.scene_count = scene_count
    preset.max_variants_per_scene = max_variants
    preset.aspect = aspect
    preset.tone = tone if tone in TONES else "neutral"
    preset.length = length if length in LENGTHS else "medium"
    preset.language = language
    preset.image_style = form.get("image_style", "").strip()[:200]
    preset.hashtags = parse_hashtags(form.get("hashtags", ""))
    preset.brand_color, preset.accent_color = brand, accent
    preset.with_video = form.get("with_video") == "on"


# What changes the pictures: a new revision of these fields makes the old images stale.
_LOOK_FIELDS = ("image_style", "aspect", "brand_color", "accent_color")


async def save_preset(session: AsyncSession, client_id: UUID, preset: StylePreset, form: dict[str, str]) -> StylePreset:
    """Create or edit a preset. An edit is a new revision; images made with the old one go stale."""
    before = {name: getattr(preset, name) for name in _LOOK_FIELDS} if preset.id else None
    apply_preset_form(preset, form)
    presets = StylePresetRepository(session, client_id)
    clash = await presets.get_one_or_none(StylePreset.name == preset.name)
    if clash is not None and clash.id != preset.id:
        raise PresetFormError({"name": _("Another preset has this name.")})
    if form.get("is_default") == "on" and not preset.is_default:
        await session.execute(update(StylePreset).where(StylePreset.client_id == client_id).values(is_default=False))
        preset.is_default = True
    if before is None:
        preset.revision = 1
        return await presets.add(preset)
    preset.revision += 1
    if any(getattr(preset, name) != value for name, value in before.items()):
        await _mark_stale_images(session, client_id, preset)
    return preset


async def _mark_stale_images(session: AsyncSession, client_id: UUID, preset: StylePreset) -> None:
    """Images of unfrozen versions made with an older revision of this preset are no longer current."""
    versions = select(StoryVersion.id).where(
        StoryVersion.client_id == client_id, StoryVersion.preset_id == preset.id, StoryVersion.frozen.is_(False)
    )
    await session.execute(
        update(Asset)
        .where(
            Asset.client_id == client_id,
            Asset.story_version_id.in_(versions),
            Asset.kind == "image",
            Asset.preset_revision < preset.revision,
        )
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )


# --- the owner's preset form: model overrides per capability (app.generation.controllers) ----------

MODEL_FIELDS: dict[str, str] = {"text": "text_model_id", "image": "image_model_id", "video": "video_model_id"}


async def model_choices(session: AsyncSession) -> dict[str, list[AiModel]]:
    """The enabled models of enabled providers, per capability: what a preset may override with."""
    rows = (
        await session.execute(
            select(AiModel)
            .join(AiProvider)
            .where(AiModel.enabled.is_(True), AiProvider.enabled.is_(True))
            .order_by(AiProvider.name, AiModel.label)
        )
    ).scalars()
    choices: dict[str, list[AiModel]] = {capability: [] for capability in MODEL_FIELDS}
    for model in rows:
        if model.capability in choices:
            choices[model.capability].append(model)
    return choices


async def save_preset_form(
    session: AsyncSession, client_id: UUID, preset: StylePreset, form: dict[str, str]
) -> StylePreset:
    """`save_preset` plus what the owner's form adds: model overrides (an enabled model of the right
    capability, or none for the client's default) and switching the default off. All errors at once.
    A new image model changes the look, so it too makes the old revision's images stale."""
    choices = await model_choices(session)
    errors: dict[str, str] = {}
    overrides: dict[str, UUID | None] = {}
    for capability, field in MODEL_FIELDS.items():
        raw = form.get(field, "").strip()
        if not raw:
            overrides[field] = None
            continue
        allowed = {model.id for model in choices[capability]}
        try:
            model_id = UUID(raw)
        except ValueError:
            model_id = None
        if model_id is None or model_id not in allowed:
            errors[field] = _("Choose a model from the list.")
        else:
            overrides[field] = model_id
    if errors:
        try:
            apply_preset_form(StylePreset(), form)  # only to report the other fields' errors too
        except PresetFormError as exc:
            errors = {**exc.errors, **errors}
        raise PresetFormError(errors)
    old_image_model = preset.image_model_id if preset.id else None
    for field, model_id in overrides.items():
        setattr(preset, field, model_id)
    with session.no_autoflush:  # a clashing name must come back as an error, not fail a flush
        preset = await save_preset(session, client_id, preset, form)
    if form.get("is_default") != "on" and preset.is_default:
        preset.is_default = False
    if preset.revision > 1 and preset.image_model_id != old_image_model:
        await _mark_stale_images(session, client_id, preset)
    await session.flush()
    return preset


MAX_AUDIO_BYTES = 20 * 1024 * 1024
# What a music file starts with, per container we accept (ffmpeg reads them all).
_AUDIO_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"ID3", 0, "mp3"),
    (b"\xff\xfb", 0, "mp3"),
    (b"\xff\xf3", 0, "mp3"),
    (b"\xff\xf2", 0, "mp3"),
    (b"OggS", 0, "ogg"),
    (b"fLaC", 0, "flac"),
    (b"WAVE", 8, "wav"),
    (b"ftyp", 4, "m4a"),
)


def audio_extension(data: bytes) -> str | None:
    """The container of an uploaded music file, from its first bytes; None for anything else."""
    for signature, offset, extension in _AUDIO_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return extension
    return None


async def attach_audio(storage, client_id: UUID, preset: StylePreset, filename: str, data: bytes) -> None:  # noqa: ANN001
    """Store an uploaded music track for the preset's videos (the object first, then the row)."""
    if not data:
        raise PresetFormError({"audio": _("The music file is empty.")})
    if len(data) > MAX_AUDIO_BYTES:
        raise PresetFormError({"audio": _("The music file is larger than 20 MB.")})
    extension = audio_extension(data)
    if extension is None:
        raise PresetFormError({"audio": _("This is not a music file Zavod can use (MP3, M4A, WAV, OGG or FLAC).")})
    key = client_media_key(client_id, "presets", str(preset.id), f"music-r{preset.revision}.{extension}")
    await storage.put(key, data, f"audio/{'mpeg' if extension == 'mp3' else extension}")
    preset.audio_key, preset.audio_name = key, filename[:200]
