"""Smart Edit: an instruction in, a proposed rewrite of one part of a story out, applied on confirmation.

`propose` asks the configured text model (through the provider registry, with the agency admin's
system prompt) or, when the model is the built-in one, the rules of `app.smartedit.rules`. Nothing
is stored: the proposal travels to the page and back in the Apply form with the stamp of what it
was made from. `apply` saves it through the story's ordinary edit path, so a concurrent save gives
the usual conflict and a published version gets a new version; an image prompt goes to its scene,
whose images are then out of date like after a scene text edit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai.base import ProviderError
from app.ai.http.openai_compatible import IMAGE_PROMPT_LIMIT
from app.ai.local_text import (
    INSTAGRAM_CAPTION_LIMIT,
    TELEGRAM_CAPTION_LIMIT,
    YOUTUBE_DESCRIPTION_LIMIT,
    utf8_len,
    utf16_len,
)
from app.audit import services as audit
from app.generation.models import StylePreset
from app.generation.services import SceneRepository
from app.i18n import gettext as _
from app.providers.models import AiModel, Capability, ProviderKind
from app.providers.services import FormErrors, ModelChoice, model_options, resolve_model, text_provider_for
from app.secrets import SecretBox, SecretError
from app.smartedit import rules
from app.smartedit.models import SmartEditSettings
from app.sources.models import SourceItem
from app.stories import services as stories
from app.stories.models import Asset, Scene, Story, StoryVersion
from app.tenancy.models import Client

DEFAULT_SYSTEM_PROMPT = (
    "You are an editor at a content agency. You rewrite texts for social networks and video on request. "
    "Keep every fact, name and number; keep the language of the text; do not add hashtags or emojis unless asked."
)
MAX_INSTRUCTION = 500
MAX_SYSTEM_PROMPT = 4000
TITLE_LIMIT = 300  # what the edit form accepts
# A web request waits for the model: bounded well below the adapters' job-sized timeouts.
REWRITE_TIMEOUT_S = 90.0

TEXT_TARGETS = ("body", "lead", "title", "caption_telegram", "caption_instagram", "caption_youtube")
SCENE_TARGET = "scene:"  # + the scene's id: that scene's image prompt
APPLIED = "smart_edit_applied"  # the audit action

_FIELDS: dict[str, rules.Field] = {
    "title": rules.Field("title", TITLE_LIMIT),
    "lead": rules.Field("lead"),
    "body": rules.Field("body"),
    "caption_telegram": rules.Field("caption", TELEGRAM_CAPTION_LIMIT, utf16_len),
    "caption_instagram": rules.Field("caption", INSTAGRAM_CAPTION_LIMIT, utf16_len),
    "caption_youtube": rules.Field("caption", YOUTUBE_DESCRIPTION_LIMIT, utf8_len),
}
_PROMPT_FIELD = rules.Field("prompt", IMAGE_PROMPT_LIMIT)


class SmartEditError(Exception):
    """A request Smart Edit refuses, in words for the editor."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SmartEditConflict(SmartEditError):
    """What the proposal was made from changed before it was applied."""


# What can be edited -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    field: rules.Field
    scene: Scene | None = None


def _scene_label(scene: Scene) -> str:
    return _("image prompt of scene %(n)s", n=scene.position + 1)


def targets_of(version: StoryVersion) -> list[tuple[str, str]]:
    """(key, label) of everything Smart Edit can rewrite in this version, for the form's select."""
    options = [(key, stories.field_label(key)) for key in TEXT_TARGETS]
    options += [(f"{SCENE_TARGET}{scene.id}", _scene_label(scene)) for scene in version.scenes]
    return options


def resolve_target(version: StoryVersion, key: str) -> Target:
    if key in _FIELDS:
        return Target(key, stories.field_label(key), _FIELDS[key])
    if key.startswith(SCENE_TARGET):
        scene = next((s for s in version.scenes if f"{SCENE_TARGET}{s.id}" == key), None)
        if scene is not None:
            return Target(key, _scene_label(scene), _PROMPT_FIELD, scene)
    raise SmartEditError(_("Choose what to edit from the list."))


def current_text(version: StoryVersion, target: Target) -> str:
    if target.scene is not None:
        return target.scene.image_prompt or ""
    return stories.form_values(version)[target.key]


def scene_stamp(scene: Scene) -> str:
    """The scene as the proposal saw it: its text revision and its prompt."""
    digest = hashlib.sha256(f"{scene.id}\n{scene.revision}\n{scene.image_prompt}".encode()).hexdigest()
    return f"{scene.id}:{digest[:24]}"


def stamp_for(version: StoryVersion, target: Target) -> str:
    return scene_stamp(target.scene) if target.scene is not None else stories.version_stamp(version)


# The proposal ----------------------------------------------------------------------------------


@dataclass
class Proposal:
    target: str
    target_label: str
    instruction: str
    original: str
    proposed: str
    stamp: str
    engine: str
    done: tuple[str, ...] = ()
    cannot: tuple[str, ...] = ()
    error: str | None = None  # the model failed: said in words, nothing proposed
    diff: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.error is None and self.proposed != self.original


_TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]")


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """("equal" | "delete" | "insert", text) runs, word by word, for an inline preview."""
    old, new = _TOKEN_RE.findall(before), _TOKEN_RE.findall(after)
    runs: list[tuple[str, str]] = []

    def add(op: str, tokens: list[str]) -> None:
        text = "".join(tokens)
        if not text:
            return
        if runs and runs[-1][0] == op:
            runs[-1] = (op, runs[-1][1] + text)
        else:
            runs.append((op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            add("equal", old[i1:i2])
        else:
            add("delete", old[i1:i2])
            add("insert", new[j1:j2])
    return runs


# Settings -------------------------------------------------------------------------------------


async def load_settings(session: AsyncSession) -> SmartEditSettings | None:
    return (await session.execute(select(SmartEditSettings).limit(1))).scalar_one_or_none()


def system_prompt_of(settings: SmartEditSettings | None) -> str:
    return (settings.system_prompt.strip() if settings else "") or DEFAULT_SYSTEM_PROMPT


async def choose_model(session: AsyncSession, client: Client, version: StoryVersion) -> ModelChoice:
    """The admin's Smart Edit model, else the text model the story's generation would use (its
    preset's override, the client's default), else the built-in one."""
    settings = await load_settings(session)
    preset_model = None
    if version.preset_id is not None:
        preset = await session.get(StylePreset, version.preset_id)
        if preset is not None and preset.client_id == client.id:
            preset_model = preset.text_model_id
    return await resolve_model(
        session,
        Capability.TEXT,
        settings.text_model_id if settings else None,
        preset_model,
        client.text_model_id,
    )


def engine_label(choice: ModelChoice) -> str:
    if choice.provider_kind == ProviderKind.LOCAL:
        return _("Built-in rules (no text model)")
    return choice.label


async def save_settings(session: AsyncSession, form: dict[str, str], user_id: UUID | None) -> SmartEditSettings:
    """The admin's choice of model and system prompt; FormErrors (field → message) when invalid.
    An empty prompt (or the default's text) means the built-in default."""
    errors: dict[str, str] = {}
    current = await load_settings(session)
    raw_model = form.get("text_model_id", "").strip()
    prompt = form.get("system_prompt", "").replace("\r\n", "\n").strip()
    model_id: UUID | None = None
    if raw_model:
        match = next((m for m in (await model_options(session))[Capability.TEXT.value] if str(m.id) == raw_model), None)
        if match is not None:
            model_id = match.id
        elif current is not None and current.text_model_id is not None and raw_model == str(current.text_model_id):
            model_id = current.text_model_id  # disabled since: kept, and the fallback is used meanwhile
        else:
            errors["text_model_id"] = _(
                "Pick one of the text models in the list (an enabled model of an enabled provider)."
            )
    if len(prompt) > MAX_SYSTEM_PROMPT:
        errors["system_prompt"] = _(
            "Keep the system prompt under %(n)s characters (it has %(count)s).", n=MAX_SYSTEM_PROMPT, count=len(prompt)
        )
    if errors:
        raise FormErrors(errors)
    if prompt == DEFAULT_SYSTEM_PROMPT:
        prompt = ""
    # The first save of two admins at once: one row still (the other insert does nothing).
    await session.execute(
        insert(SmartEditSettings)
        .values(singleton=True, system_prompt="")
        .on_conflict_do_nothing(index_elements=["singleton"])
    )
    settings = (
        await session.execute(select(SmartEditSettings).with_for_update().execution_options(populate_existing=True))
    ).scalar_one()
    settings.text_model_id = model_id
    settings.system_prompt = prompt
    settings.updated_by_id = user_id
    await session.flush()
    return settings


async def settings_model(session: AsyncSession, settings: SmartEditSettings | None) -> AiModel | None:
    if settings is None or settings.text_model_id is None:
        return None
    return await session.get(AiModel, settings.text_model_id)


# Proposing ------------------------------------------------------------------------------------


async def _source_text(session: AsyncSession, client: Client, version: StoryVersion) -> str:
    item = (
        await session.execute(
            select(SourceItem)
            .join(Story, Story.source_item_id == SourceItem.id)
            .where(Story.id == version.story_id, Story.client_id == client.id, SourceItem.client_id == client.id)
        )
    ).scalar_one_or_none()
    if item is None:
        return ""
    return item.content_text or item.content or item.summary or ""


async def material_for(session: AsyncSession, client: Client, version: StoryVersion, target: Target) -> rules.Material:
    """What the rules may add when lengthening (the lead, then the source article; a scene's own
    text for its prompt) and how the story writes its names."""
    context = rules.sentences_of(version.lead, version.body)
    if target.scene is not None:
        return rules.Material(extra=rules.sentences_of(target.scene.text), context=context)
    extra = rules.sentences_of(version.lead, await _source_text(session, client, version))
    return rules.Material(extra=extra, context=context)


def _check_instruction(instruction: str) -> str:
    instruction = " ".join(instruction.split())
    if not instruction:
        raise SmartEditError(_("Type what to change, e.g. “shorter, no emojis”."))
    if len(instruction) > MAX_INSTRUCTION:
        raise SmartEditError(_("Keep the instruction under %(n)s characters.", n=MAX_INSTRUCTION))
    return instruction


async def _rewrite(
    session: AsyncSession, choice: ModelChoice, box: SecretBox | None, text: str, instruction: str, prompt: str
) -> str:
    provider: Any = await text_provider_for(session, choice, box)
    try:
        rewrite = getattr(provider, "rewrite", None)
        if rewrite is None:
            raise ProviderError(
                _(
                    "%(model)s cannot rewrite texts; the agency admin can choose another model for Smart Edit.",
                    model=choice.label,
                )
            )
        config = getattr(provider, "config", None)
        if dataclasses.is_dataclass(config) and hasattr(config, "system_prompt"):
            # The registry builds adapters with the story writer's prompt; Smart Edit speaks with the admin's.
            provider.config = dataclasses.replace(config, system_prompt=prompt)
        async with asyncio.timeout(REWRITE_TIMEOUT_S):
            return str(await rewrite(text, instruction))
    finally:
        aclose = getattr(provider, "aclose", None)
        if aclose is not None:
            await aclose()


# The adapters word temporary failures for a job that will retry ("… Trying again later."); here
# nobody retries on the editor's behalf, so that promise is replaced by what the editor can do.
_RETRY_PROMISE_RE = re.compile(r"\s*(?:Trying again|Повторим)[^.]*\.\s*$")


def _model_error(exc: ProviderError) -> str:
    if not exc.retryable:
        return exc.message
    return f"{_RETRY_PROMISE_RE.sub('', exc.message)} {_('Propose again in a moment.')}"


_QUOTE_PAIRS = ('""', "“”", "«»", "''", "„“")


def _tidy_model_text(text: str, original: str, target: Target) -> str:
    text = text.replace("\r\n", "\n").strip()
    if target.field.kind == "title":
        text = " ".join(text.split())
    # Models like to put the whole answer in quotes; the original had none around it.
    quoted = len(text) > 2 and text[0] + text[-1] in _QUOTE_PAIRS
    if quoted and (len(original) < 2 or original[0] + original[-1] not in _QUOTE_PAIRS):
        text = text[1:-1].strip()
    return text


async def propose(
    session: AsyncSession,
    client: Client,
    version: StoryVersion,
    target: str,
    instruction: str,
    *,
    box: SecretBox | None = None,
) -> Proposal:
    """A proposed rewrite of `target` following `instruction`; SmartEditError for a refused request.
    A model's failure is not raised: it comes back as `Proposal.error`, in words."""
    instruction = _check_instruction(instruction)
    chosen = resolve_target(version, target)
    original = current_text(version, chosen)
    choice = await choose_model(session, client, version)
    proposal = Proposal(
        target=chosen.key,
        target_label=chosen.label,
        instruction=instruction,
        original=original,
        proposed=original,
        stamp=stamp_for(version, chosen),
        engine=engine_label(choice),
    )
    if choice.provider_kind == ProviderKind.LOCAL:
        if chosen.scene is not None and not original.strip():
            proposal.cannot = (_("This scene has no image prompt yet: it gets one when its images are made."),)
            return proposal
        result = rules.edit(original, instruction, chosen.field, await material_for(session, client, version, chosen))
        proposal.proposed, proposal.done, proposal.cannot = result.text, result.done, result.cannot
    else:
        try:
            text = await _rewrite(
                session, choice, box, original, instruction, system_prompt_of(await load_settings(session))
            )
        except ProviderError as exc:
            proposal.error = _model_error(exc)
            return proposal
        except SecretError as exc:
            proposal.error = exc.message
            return proposal
        except TimeoutError:
            proposal.error = _(
                "%(model)s did not answer within %(n)s seconds. Try again, or ask for a smaller change.",
                model=choice.label,
                n=int(REWRITE_TIMEOUT_S),
            )
            return proposal
        proposal.proposed = _tidy_model_text(text, original, chosen)
        proposal.done = (_("Rewritten by %(model)s.", model=choice.label),)
        limit, measure = chosen.field.limit, chosen.field.measure
        if limit is not None and measure(proposal.proposed) > limit:
            proposal.cannot = (
                _(
                    "The proposal is longer than the %(limit)s this field allows; ask for it shorter before applying.",
                    limit=limit,
                ),
            )
    proposal.diff = word_diff(proposal.original, proposal.proposed)
    return proposal


# Applying -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    version: StoryVersion
    label: str
    changed: bool
    images_stale: bool = False


def _clean_proposed(text: str) -> str:
    # Browsers send form text with CRLF line breaks.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


async def apply(
    session: AsyncSession,
    client: Client,
    story: Story,
    actor_id: UUID | None,
    *,
    target: str,
    instruction: str,
    proposed: str,
    stamp: str,
) -> Applied:
    """Save a confirmed proposal. The caller holds the story locked (as the edit form's save does).

    Text goes through `stories.edit_story` with the proposal's stamp: EditConflict when someone
    saved in between, WorkflowError for what an edit refuses, a new version over a frozen one.
    """
    instruction = " ".join(instruction.split())[:MAX_INSTRUCTION]
    proposed = _clean_proposed(proposed)
    version = await session.get_one(StoryVersion, story.current_version_id)
    if target.startswith(SCENE_TARGET):
        applied = await _apply_to_scene(session, story, version, actor_id, target, proposed, stamp)
    else:
        chosen = resolve_target(version, target)
        if chosen.field.kind == "title":
            proposed = " ".join(proposed.split())
        form = stories.form_values(version)
        before = form[chosen.key]
        form[chosen.key] = proposed
        saved = await stories.edit_story(session, story, actor_id, form, stamp)
        applied = Applied(saved, chosen.label, changed=before.strip() != proposed)
    if applied.changed:
        choice = await choose_model(session, client, applied.version)
        await audit.record(
            session,
            story.client_id,
            APPLIED,
            actor_id=actor_id,
            story_id=story.id,
            instruction=instruction,
            fields=[applied.label],
            model=engine_label(choice),
            version=applied.version.number,
        )
    return applied


async def _apply_to_scene(
    session: AsyncSession,
    story: Story,
    version: StoryVersion,
    actor_id: UUID | None,
    target: str,
    proposed: str,
    stamp: str,
) -> Applied:
    try:
        scene_id = UUID(target.removeprefix(SCENE_TARGET))
    except ValueError:
        raise SmartEditError(_("Choose what to edit from the list.")) from None
    scene = await SceneRepository(session, story.client_id).get(scene_id, for_update=True)  # another client's: 404
    if scene.story_version_id != version.id:
        raise SmartEditConflict(
            _("The story has a newer version than the one this proposal was made for. Make a new proposal.")
        )
    if scene_stamp(scene) != stamp:
        raise SmartEditConflict(
            _("Someone changed this scene while you were looking at the proposal. Make a new proposal.")
        )
    if not proposed:
        raise SmartEditError(_("An image prompt can't be empty."))
    if len(proposed) > IMAGE_PROMPT_LIMIT:
        raise SmartEditError(_("Keep the image prompt under %(n)s characters.", n=IMAGE_PROMPT_LIMIT))
    label = _scene_label(scene)
    if proposed == scene.image_prompt:
        return Applied(version, label, changed=False)
    if version.frozen:
        # Like a text edit: the published version stays as it was; the change starts a new one.
        version = await stories.new_version_from(session, story, version, actor_id)
        scene = (
            await session.execute(
                select(Scene).where(
                    Scene.client_id == story.client_id,
                    Scene.story_version_id == version.id,
                    Scene.position == scene.position,
                )
            )
        ).scalar_one()
    await _set_image_prompt(session, story.client_id, scene, proposed)
    await session.flush()
    return Applied(version, label, changed=True, images_stale=True)


async def _set_image_prompt(session: AsyncSession, client_id: UUID, scene: Scene, prompt: str) -> None:
    """A new picture description makes the scene's images out of date, exactly as a new scene text
    does (generation.services.edit_scene_text): a new revision, no headliner, images stale."""
    scene.image_prompt = prompt
    scene.revision += 1
    scene.headliner_asset_id = None
    await session.execute(
        update(Asset)
        .where(Asset.client_id == client_id, Asset.scene_id == scene.id, Asset.kind == "image")
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )
