"""The story workflow: review steps with words, an audit log, versions, and edits that never
silently overwrite each other."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.db.session import scoped_session
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.conftest import World
from tests.web.test_tenancy import make_tenant_rows


async def draft_story(session_maker, tenant) -> tuple:
    rows = await make_tenant_rows(session_maker, tenant)
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        story = await session.get(Story, rows["story_id"])
        story.status = "draft"
    return rows["story_id"], rows


def stamp_of(page_text: str) -> str:
    return re.search(r'name="stamp" value="([^"]+)"', page_text).group(1)


def edit_form(stamp: str, **values: str) -> dict[str, str]:
    form = {
        "stamp": stamp,
        "title": "Ferry back",
        "lead": "",
        "body": "",
        "caption_telegram": "",
        "caption_instagram": "",
        "caption_youtube": "",
    }
    form.update(values)
    return form


async def audit_of(session_maker, client_id, story_id) -> list[AuditEvent]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return list(
            (
                await session.execute(
                    # (make_tenant_rows adds one event of its own, with no actor)
                    select(AuditEvent)
                    .where(AuditEvent.story_id == story_id, AuditEvent.actor_id.is_not(None))
                    .order_by(AuditEvent.created_at)
                )
            ).scalars()
        )


async def test_review_steps_need_words_and_are_recorded(web, world: World, session_maker):
    story_id, _rows = await draft_story(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    await web.post(f"{base}/submit")
    page = await web.get(base)
    assert "In review" in page.text
    await web.post(f"{base}/request-changes", {"reason": "   "})
    assert "Say what should change." in (await web.get(base)).text
    await web.post(f"{base}/request-changes", {"reason": "Shorter lead, please."})
    page = await web.get(base)
    assert "Changes requested" in page.text and "Shorter lead, please." in page.text
    await web.post(f"{base}/reject", {"reason": ""})
    assert "Say why the story is rejected" in (await web.get(base)).text
    await web.post(f"{base}/reject", {"reason": "Off topic for this client."})
    await web.post(f"{base}/approve")
    events = await audit_of(session_maker, world.a.client.id, story_id)
    assert [e.action for e in events] == ["submitted", "changes_requested", "rejected", "approved"]
    assert events[1].details["reason"] == "Shorter lead, please." and all(
        e.actor_id == world.a.editor.id for e in events
    )
    audit_page = await web.get(f"/c/{world.a.client.slug}/audit")
    assert audit_page.status_code == 200 and "Off topic for this client." in audit_page.text
    await web.sign_in(world.a.viewer)
    assert (await web.get(f"/c/{world.a.client.slug}/audit")).status_code == 403


async def test_two_editors_never_overwrite_each_other_silently(web, world: World, session_maker, http):
    story_id, _rows = await draft_story(session_maker, world.a)
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    stale = stamp_of((await web.get(base)).text)  # the page as editor one opened it
    # Meanwhile the owner saves a new title.
    await web.sign_in(world.a.owner)
    fresh = stamp_of((await web.get(base)).text)
    assert fresh == stale
    saved = await web.post(f"{base}/edit", edit_form(fresh, title="Ferry back in service"))
    assert saved.status_code == 303
    # The editor saves from the stale page: refused, told who changed what, their text kept.
    await web.sign_in(world.a.editor)
    conflict = await web.post(f"{base}/edit", edit_form(stale, title="Ferry returns", body="My new body"))
    assert conflict.status_code == 409
    assert f"{world.a.owner.name} saved this story while you were editing" in conflict.text
    assert "My new body" in conflict.text and "Ferry back in service" in conflict.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        story = await session.get(Story, story_id)
        assert story.current_version.title == "Ferry back in service"
    # Saving again from the conflict page (which carries the fresh stamp) works.
    retry = await web.post(f"{base}/edit", edit_form(stamp_of(conflict.text), title="Ferry returns"))
    assert retry.status_code == 303


async def test_editing_a_published_version_starts_a_new_one_and_the_diff_shows_it(web, world: World, session_maker):
    story_id, _rows = await draft_story(session_maker, world.a)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        story = await session.get(Story, story_id)
        story.status = "published"
        story.current_version.frozen = True
        story.current_version.body = "Old body line."
        first_version_id = story.current_version_id
    base = f"/c/{world.a.client.slug}/stories/{story_id}"
    await web.sign_in(world.a.editor)
    page = await web.get(base)
    assert "saving starts version 2" in page.text
    saved = await web.post(f"{base}/edit", edit_form(stamp_of(page.text), title="Ferry back", body="New body line."))
    assert saved.status_code == 303
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        story = await session.get(Story, story_id)
        first = await session.get(StoryVersion, first_version_id)
        second = story.current_version
        scenes = (await session.execute(select(Scene).where(Scene.story_version_id == second.id))).scalars().all()
        assets = (await session.execute(select(Asset).where(Asset.story_version_id == second.id))).scalars().all()
    assert second.number == 2 and not second.frozen and first.frozen and first.body == "Old body line."
    assert len(scenes) == 1 and len(assets) == 1 and scenes[0].headliner_asset_id == assets[0].id
    assert story.status == "published"  # what viewers read is unchanged until the new version is published
    diff = await web.get(f"{base}/diff?a=1&b=2")
    assert diff.status_code == 200 and ">Old<" in diff.text and ">New<" in diff.text  # changed words are marked
    events = [e.action for e in await audit_of(session_maker, world.a.client.id, story_id)]
    assert events == ["new_version", "edited"]


async def test_editing_an_approved_story_sends_it_back_to_draft(web, world: World, session_maker):
    rows = await make_tenant_rows(session_maker, world.a)  # approved
    base = f"/c/{world.a.client.slug}/stories/{rows['story_id']}"
    await web.sign_in(world.a.editor)
    page = await web.get(base)
    await web.post(f"{base}/edit", edit_form(stamp_of(page.text), title="A better title"))
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        story = await session.get(Story, rows["story_id"])
    assert story.status == "draft"
    empty_title = await web.post(f"{base}/edit", edit_form(stamp_of((await web.get(base)).text), title=" "))
    assert empty_title.status_code == 422 and "A story needs a title." in empty_title.text
