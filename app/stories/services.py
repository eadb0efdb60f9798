"""Stories: the moderation workflow of the walking skeleton (approve, reject)."""

from __future__ import annotations

import difflib
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import services as audit
from app.generation.models import Job, JobKind, JobStatus
from app.generation.services import StoryRepository
from app.i18n import gettext as _
from app.publishing import schedules
from app.publishing.models import Publication
from app.publishing.services import PublicationRepository
from app.storage import MediaStorage
from app.stories.models import Asset, Scene, Story, StoryStatus, StoryVersion


class WorkflowError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def get_story(session: AsyncSession, client_id: UUID, story_id: UUID, *, for_update: bool = False) -> Story:
    return await StoryRepository(session, client_id).get(story_id, for_update=for_update)


async def list_stories(session: AsyncSession, client_id: UUID, status: str | None, limit: int = 50) -> list[Story]:
    where = [Story.status == status] if status in {s.value for s in StoryStatus} else []
    return await StoryRepository(session, client_id).list(
        *where,
        Story.status != StoryStatus.GENERATING,  # half-made: the inbox shows its job instead
        order_by=[Story.created_at.desc(), Story.id.desc()],
        limit=limit,
        options=[
            selectinload(Story.current_version).selectinload(StoryVersion.assets),
            selectinload(Story.current_version).selectinload(StoryVersion.scenes),
        ],
    )


MAX_REASON = 1000

# Which status each workflow step may start from. A small team may approve a draft directly;
# "in review" is there for teams that want a second pair of eyes.
_FROM = {
    "submit": (StoryStatus.DRAFT, StoryStatus.CHANGES_REQUESTED, StoryStatus.REJECTED),
    "approve": (StoryStatus.DRAFT, StoryStatus.IN_REVIEW, StoryStatus.CHANGES_REQUESTED, StoryStatus.REJECTED),
    # From approved or scheduled these take the approval back: pending publications are canceled.
    "request_changes": (StoryStatus.DRAFT, StoryStatus.IN_REVIEW, StoryStatus.APPROVED, StoryStatus.SCHEDULED),
    "reject": (
        StoryStatus.DRAFT,
        StoryStatus.IN_REVIEW,
        StoryStatus.CHANGES_REQUESTED,
        StoryStatus.APPROVED,
        StoryStatus.SCHEDULED,
    ),
}


def _words(text: str, what: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise WorkflowError(what)
    if len(text) > MAX_REASON:
        raise WorkflowError(_("Keep it under %(n)s characters.", n=MAX_REASON))
    return text


async def submit_for_review(session: AsyncSession, story: Story, actor_id: UUID | None) -> None:
    if story.status not in _FROM["submit"]:
        raise WorkflowError(_("Only a draft, a story sent back for changes or a rejected one can go to review."))
    story.status = StoryStatus.IN_REVIEW
    await audit.record(session, story.client_id, "submitted", actor_id=actor_id, story_id=story.id)


async def approve(session: AsyncSession, story: Story, actor_id: UUID | None) -> None:
    if story.status not in _FROM["approve"]:
        raise WorkflowError(
            _("This story cannot be approved now (it is %(status)s).", status=status_words(story.status))
        )
    if story.current_version_id is None:
        raise WorkflowError(_("The story has no content yet."))
    story.status = StoryStatus.APPROVED
    await audit.record(session, story.client_id, "approved", actor_id=actor_id, story_id=story.id)


async def reject(session: AsyncSession, story: Story, actor_id: UUID | None, reason: str) -> None:
    if story.status not in _FROM["reject"]:
        raise WorkflowError(
            _("This story cannot be rejected now (it is %(status)s).", status=status_words(story.status))
        )
    reason = _words(reason, _("Say why the story is rejected: the team will read it."))
    story.status = StoryStatus.REJECTED
    await schedules.cancel_pending_publications(session, story, _("Canceled: the story was rejected."))
    await audit.record(session, story.client_id, "rejected", actor_id=actor_id, story_id=story.id, reason=reason)


async def request_changes(session: AsyncSession, story: Story, actor_id: UUID | None, note: str) -> None:
    if story.status not in _FROM["request_changes"]:
        raise WorkflowError(_("Changes can be asked for on a draft, a story in review or an approved one."))
    note = _words(note, _("Say what should change."))
    story.status = StoryStatus.CHANGES_REQUESTED
    await schedules.cancel_pending_publications(session, story, _("Canceled: changes were requested."))
    await audit.record(session, story.client_id, "changes_requested", actor_id=actor_id, story_id=story.id, reason=note)


def status_words(status: str) -> str:
    return {
        StoryStatus.GENERATING: _("being generated"),
        StoryStatus.DRAFT: _("a draft"),
        StoryStatus.IN_REVIEW: _("in review"),
        StoryStatus.CHANGES_REQUESTED: _("sent back for changes"),
        StoryStatus.APPROVED: _("approved"),
        StoryStatus.SCHEDULED: _("scheduled"),
        StoryStatus.PUBLISHED: _("published"),
        StoryStatus.REJECTED: _("rejected"),
    }.get(status, status)


# Editing text, with versions and a conflict check -----------------------------------------------

EDITABLE_FIELDS = ("title", "lead", "body")
NETWORKS = ("telegram", "instagram", "youtube")


class EditConflict(WorkflowError):
    """Someone else saved the version after this editor opened it."""

    def __init__(self, message: str, theirs: StoryVersion, changes: list[str]) -> None:
        super().__init__(message)
        self.theirs = theirs
        self.changes = changes


def version_stamp(version: StoryVersion) -> str:
    """What the edit form carries: the version as it was when the editor opened it."""
    return f"{version.id}:{version.updated_at.isoformat()}"


def form_values(version: StoryVersion) -> dict[str, str]:
    values = {name: getattr(version, name) or "" for name in EDITABLE_FIELDS}
    for network in NETWORKS:
        values[f"caption_{network}"] = (version.captions or {}).get(network, "")
    return values


def field_label(name: str) -> str:
    return {
        "title": _("title"),
        "lead": _("lead"),
        "body": _("text"),
        "caption_telegram": _("Telegram caption"),
        "caption_instagram": _("Instagram caption"),
        "caption_youtube": _("YouTube caption"),
    }.get(name, name)


async def edit_story(
    session: AsyncSession, story: Story, actor_id: UUID | None, form: dict[str, str], stamp: str
) -> StoryVersion:
    """Save an editor's text. A frozen (published) version is never changed: the edit starts a new
    version. Two editors never overwrite each other silently: when the version changed since this
    editor opened it, EditConflict says who changed what."""
    version = await session.get_one(StoryVersion, story.current_version_id, with_for_update=True)
    if stamp != version_stamp(version):
        last = (await audit.story_log(session, story.client_id, story.id, limit=1) or [None])[0]
        who = last.actor.display_name if last and last.actor else _("someone")
        mine = {k: " ".join(str(form.get(k, "")).split()) for k in form_values(version)}
        theirs = {k: " ".join(v.split()) for k, v in form_values(version).items()}
        changed = [field_label(k) for k in theirs if mine[k] != theirs[k]]
        raise EditConflict(
            _(
                "%(who)s saved this story while you were editing. Your text is kept below; "
                "compare it with theirs and save again.",
                who=who,
            ),
            version,
            changed,
        )
    values = {k: str(form.get(k, "")).strip() for k in form_values(version)}
    if not values["title"]:
        raise WorkflowError(_("A story needs a title."))
    if len(values["title"]) > 300:
        raise WorkflowError(_("Keep the title under 300 characters."))
    changed = [k for k, v in form_values(version).items() if v.strip() != values[k]]
    if not changed:
        return version
    if version.frozen:
        version = await new_version_from(session, story, version, actor_id)
    version.title, version.lead, version.body = values["title"], values["lead"], values["body"]
    version.captions = {network: values[f"caption_{network}"] for network in NETWORKS}
    if story.status in (StoryStatus.APPROVED, StoryStatus.SCHEDULED, StoryStatus.REJECTED):
        # What was approved is not what is there now: it goes back through moderation.
        story.status = StoryStatus.DRAFT
        await audit.record(session, story.client_id, "returned_to_draft", actor_id=actor_id, story_id=story.id)
    # Nothing scheduled goes out with text nobody approved (a new version of a published story too).
    await schedules.cancel_pending_publications(
        session, story, _("Canceled: the story was edited after it was scheduled.")
    )
    await audit.record(
        session,
        story.client_id,
        "edited",
        actor_id=actor_id,
        story_id=story.id,
        fields=[field_label(k) for k in changed],
        version=version.number,
    )
    await session.flush()
    return version


async def new_version_from(
    session: AsyncSession, story: Story, frozen: StoryVersion, actor_id: UUID | None
) -> StoryVersion:
    """A new editable version with the frozen one's text, scenes and current images."""
    number = (
        await session.execute(select(func.max(StoryVersion.number)).where(StoryVersion.story_id == story.id))
    ).scalar_one() + 1
    version = StoryVersion(
        client_id=story.client_id,
        story_id=story.id,
        number=number,
        title=frozen.title,
        lead=frozen.lead,
        body=frozen.body,
        captions=dict(frozen.captions or {}),
        hashtags=list(frozen.hashtags or []),
        preset_id=frozen.preset_id,
        preset_revision=frozen.preset_revision,
    )
    session.add(version)
    await session.flush()
    for scene in frozen.scenes:
        copy = Scene(
            client_id=story.client_id,
            story_version_id=version.id,
            position=scene.position,
            text=scene.text,
            image_prompt=scene.image_prompt,
        )
        session.add(copy)
        await session.flush()
        headliner = scene.headliner(frozen.assets)
        for asset in scene.variants(frozen.assets):
            # The same stored file, a row of the new version's own (it may get new variants).
            clone = Asset(
                client_id=story.client_id,
                story_version_id=version.id,
                scene_id=copy.id,
                scene_position=asset.scene_position,
                kind=asset.kind,
                storage_key=asset.storage_key,
                mime=asset.mime,
                size_bytes=asset.size_bytes,
                width=asset.width,
                height=asset.height,
                provider=asset.provider,
                model=asset.model,
                idempotency_key=f"{version.id}:copy:{asset.id}",
                prompt=asset.prompt,
                variant=asset.variant,
                format=asset.format,
                seed=asset.seed,
                favourite=asset.favourite,
                preset_revision=asset.preset_revision,
                scene_revision=copy.revision,
            )
            session.add(clone)
            await session.flush()
            if headliner is not None and asset.id == headliner.id:
                copy.headliner_asset_id = clone.id
    story.current_version_id = version.id
    await audit.record(session, story.client_id, "new_version", actor_id=actor_id, story_id=story.id, number=number)
    return version


def diff_versions(old: StoryVersion, new: StoryVersion) -> list[tuple[str, str]]:
    """(field, HTML table of the differences) for every field that differs between two versions."""
    differ = difflib.HtmlDiff(wrapcolumn=70)
    parts = []
    fields = [*((field_label(k), getattr(old, k) or "", getattr(new, k) or "") for k in EDITABLE_FIELDS)]
    for network in NETWORKS:
        fields.append(
            (
                field_label(f"caption_{network}"),
                (old.captions or {}).get(network, ""),
                (new.captions or {}).get(network, ""),
            )
        )
    old_scenes = "\n\n".join(s.text for s in old.scenes)
    new_scenes = "\n\n".join(s.text for s in new.scenes)
    fields.append((_("scenes"), old_scenes, new_scenes))
    for label, before, after in fields:
        if before != after:
            table = differ.make_table(
                before.splitlines() or [""],
                after.splitlines() or [""],
                _("Version %(n)s", n=old.number),
                _("Version %(n)s", n=new.number),
                context=True,
                numlines=2,
            )
            parts.append((label, table))
    return parts


async def publications_of(session: AsyncSession, client_id: UUID, story_id: UUID) -> list[Publication]:
    return await PublicationRepository(session, client_id).list(
        Publication.story_id == story_id, order_by=Publication.scheduled_at.desc()
    )


async def asset_urls(storage: MediaStorage, assets: list[Asset], expires_in: int = 3600) -> dict[UUID, str]:
    return {asset.id: await storage.url(asset.storage_key, expires_in=expires_in) for asset in assets}


async def fresh_version(session: AsyncSession, client_id: UUID, story: Story) -> StoryVersion:
    """The story's current version as the database has it now (scenes and assets reloaded)."""
    return (
        await session.execute(
            select(StoryVersion)
            .where(StoryVersion.client_id == client_id, StoryVersion.id == story.current_version_id)
            .options(selectinload(StoryVersion.assets), selectinload(StoryVersion.scenes))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def scenes_context(session: AsyncSession, storage: MediaStorage, version: StoryVersion) -> dict[str, Any]:
    """What the scenes section shows: each scene's current variants, older ones, and its image jobs."""
    scene_ids = [scene.id for scene in version.scenes]
    jobs = (
        (
            await session.execute(
                select(Job)
                .where(Job.client_id == version.client_id, Job.scene_id.in_(scene_ids), Job.kind == JobKind.IMAGE)
                .order_by(Job.created_at)
            )
        )
        .scalars()
        .all()
        if scene_ids
        else []
    )
    busy = {job.scene_id for job in jobs if not JobStatus(job.status).is_final}
    failed = {job.scene_id: job.error for job in jobs if job.status == JobStatus.FAILED}
    for job in jobs:  # a later success clears an earlier failure
        if job.status == JobStatus.COMPLETED:
            failed.pop(job.scene_id, None)
    images = [a for a in version.assets if a.kind == "image"]
    # The newest video (a new one is made when scenes change) and its poster frame.
    video = next(
        (a for a in sorted(version.assets, key=lambda a: a.created_at, reverse=True) if a.kind == "video"), None
    )
    poster = next(
        (
            a
            for a in version.assets
            if a.kind == "poster" and video and a.idempotency_key == f"{video.idempotency_key}:poster"
        ),
        None,
    )
    return {
        "video": video,
        "poster": poster,
        "version": version,
        "scene_rows": [
            {
                "scene": scene,
                "variants": scene.variants(images),
                "headliner": scene.headliner(images),
                "older": [a for a in images if a.scene_id == scene.id and a.stale],
                "busy": scene.id in busy,
                "failed": failed.get(scene.id),
            }
            for scene in version.scenes
        ],
        "asset_urls": await asset_urls(storage, [*images, *(a for a in (video, poster) if a)]),
    }
