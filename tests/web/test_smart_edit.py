"""Smart Edit through HTTP: propose, see the difference, apply or discard; conflicts, frozen versions,
image prompts, a text model from the registry (a fake OpenAI-compatible server) and the admin page."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import pytest
from sqlalchemy import delete, select

from app.audit.models import AuditEvent
from app.config import get_settings
from app.db.session import scoped_session
from app.providers.models import AiModel, AiProvider
from app.secrets import SecretBox
from app.smartedit.models import SmartEditSettings
from app.sources.models import SourceItem
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.ai_http.fakes import OPENAI_KEY, FakeOpenAI
from tests.conftest import World
from tests.web.test_story_workflow import edit_form, stamp_of
from tests.web.test_tenancy import make_tenant_rows

SETTINGS_PAGE = "/admin/smart-edit"
PREFIX = "t-smartedit-"
BODY = (
    "The ferry returned to service on Monday. It had been laid up for repairs since March. "
    "Engineers replaced both engines. The operator says timetables are back to normal. "
    "Tickets are sold at the pier."
)
SOURCE = BODY + " A second ferry joins in May. Fares stay the same."
PROMPT = "Ferry at the pier at dawn. Engineers on deck. Editorial photo, natural light."


@pytest.fixture(autouse=True)
async def _forget_agency_rows(session_maker) -> AsyncIterator[None]:
    """The settings row and the providers made here are agency-wide: no other test may see them."""
    yield
    async with scoped_session(session_maker, system=True) as session:
        await session.execute(delete(SmartEditSettings))
        await session.execute(delete(AiProvider).where(AiProvider.name.like(PREFIX + "%")))


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


async def story_with_text(session_maker, tenant, *, status: str = "draft", frozen: bool = False) -> dict[str, UUID]:
    """A story with a body, a lead, captions, a scene with an image prompt and an image, and a source."""
    rows = await make_tenant_rows(session_maker, tenant)
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        story = await session.get(Story, rows["story_id"])
        story.status = status
        version = story.current_version
        version.title = "Ferry back in service"
        version.lead = "The ferry returned to service on Monday."
        version.body = BODY
        version.captions = {
            "telegram": "Ferry back 🚢🔥\n\nThe ferry returned on Monday!\n\n#Ferry #Паром",
            "instagram": "Ferry back",
            "youtube": "Ferry back",
        }
        version.frozen = frozen
        item = await session.get(SourceItem, story.source_item_id)
        item.content_text = SOURCE
        scene = (await session.execute(select(Scene).where(Scene.story_version_id == version.id))).scalar_one()
        scene.image_prompt = PROMPT
        asset = (await session.execute(select(Asset).where(Asset.scene_id == scene.id))).scalar_one()
        scene.headliner_asset_id = asset.id
        rows.update(version_id=version.id, scene_id=scene.id, asset_id=asset.id)
    return rows


def base_of(world: World, story_id: UUID) -> str:
    return f"/c/{world.a.client.slug}/stories/{story_id}"


def hidden(fragment: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', fragment)
    assert match, f"no hidden {name} in:\n{fragment}"
    return html.unescape(match.group(1))


def apply_form(fragment: str) -> dict[str, str]:
    return {name: hidden(fragment, name) for name in ("target", "instruction", "proposed", "stamp")}


async def current_version(session_maker, client_id: UUID, story_id: UUID) -> StoryVersion:
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = await session.get(Story, story_id)
        return story.current_version


async def actions(session_maker, client_id: UUID, story_id: UUID) -> list[AuditEvent]:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return list(
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.story_id == story_id, AuditEvent.actor_id.is_not(None))
                    .order_by(AuditEvent.created_at)
                )
            ).scalars()
        )


# --- the built-in rules, end to end ----------------------------------------------------------------


async def test_an_editor_proposes_sees_the_difference_and_applies(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    page = await web.get(base)
    assert page.status_code == 200
    assert 'id="smart-edit"' in page.text and f'hx-post="{base}/smart-edit"' in page.text
    assert f'value="scene:{rows["scene_id"]}"' in page.text  # the scene's image prompt can be a target

    response = await web.post(
        f"{base}/smart-edit", {"target": "body", "instruction": "shorter, more formal"}, htmx=True
    )
    assert response.status_code == 200
    fragment = response.text
    assert "<html" not in fragment  # only the proposal is swapped in
    assert "<del>" in fragment and "The operator says timetables are back to normal." in fragment
    assert "Kept the first 3 of 5 sentences" in fragment
    assert "can&#39;t change tone" in fragment and "connect a text model in Providers" in fragment
    assert "Built-in rules" in fragment and ">Apply<" in fragment and ">Discard<" in fragment
    # Nothing is saved by proposing.
    assert (await current_version(session_maker, world.a.client.id, rows["story_id"])).body == BODY

    form = apply_form(fragment)
    assert form["proposed"].endswith("Engineers replaced both engines.") and form["stamp"] == stamp_of(page.text)
    applied = await web.post(f"{base}/smart-edit/apply", form, htmx=True)
    assert applied.status_code == 200 and applied.headers["hx-redirect"] == base
    version = await current_version(session_maker, world.a.client.id, rows["story_id"])
    assert version.body == form["proposed"] and version.number == 1
    assert version.title == "Ferry back in service"  # only the target changed
    events = await actions(session_maker, world.a.client.id, rows["story_id"])
    assert [e.action for e in events] == ["edited", "smart_edit_applied"]
    assert events[1].details["instruction"] == "shorter, more formal" and events[1].actor_id == world.a.editor.id
    assert events[1].details["fields"] == ["text"]
    after = await web.get(base)
    assert "Smart Edit applied to the text: saved as version 1." in after.text
    assert "The operator says" not in after.text.split('id="story-edit"')[0]  # the page shows the new text


async def test_discard_clears_the_proposal_and_saves_nothing(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    proposal = await web.post(f"{base}/smart-edit", {"target": "title", "instruction": "title case"}, htmx=True)
    assert "Ferry Back in Service" in html.unescape(proposal.text)
    discarded = await web.get(f"{base}/smart-edit/discard", headers={"HX-Request": "true"})
    assert discarded.status_code == 200 and discarded.text == ""
    plain = await web.get(f"{base}/smart-edit/discard")
    assert plain.status_code == 303 and plain.headers["location"] == base
    assert (await current_version(session_maker, world.a.client.id, rows["story_id"])).title == "Ferry back in service"
    assert await actions(session_maker, world.a.client.id, rows["story_id"]) == []


async def test_without_javascript_the_page_comes_back_with_the_proposal(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    page = await web.post(f"{base}/smart-edit", {"target": "caption_telegram", "instruction": "убери эмодзи"})
    assert page.status_code == 200 and "<html" in page.text and "Removed 2 emojis." in page.text
    assert 'value="убери эмодзи"' in page.text and 'value="caption_telegram" selected' in page.text
    applied = await web.post(f"{base}/smart-edit/apply", apply_form(page.text))
    assert applied.status_code == 303
    version = await current_version(session_maker, world.a.client.id, rows["story_id"])
    assert version.captions["telegram"] == "Ferry back\n\nThe ferry returned on Monday!\n\n#Ferry #Паром"
    assert version.body == BODY


async def test_refused_requests_are_told_in_the_fragment(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    empty = await web.post(f"{base}/smart-edit", {"target": "body", "instruction": "  "}, htmx=True)
    assert empty.status_code == 422 and "Type what to change" in empty.text
    unknown = await web.post(f"{base}/smart-edit", {"target": "hashtags", "instruction": "shorter"}, htmx=True)
    assert unknown.status_code == 422 and "Choose what to edit" in unknown.text
    # Nothing the rules can do: no Apply button, only the reasons.
    nothing = await web.post(f"{base}/smart-edit", {"target": "body", "instruction": "translate"}, htmx=True)
    assert "can&#39;t translate" in nothing.text and ">Apply<" not in nothing.text
    # An applied empty title is refused like in the edit form.
    page = await web.get(base)
    refused = await web.post(
        f"{base}/smart-edit/apply",
        {"target": "title", "instruction": "x", "proposed": "  ", "stamp": stamp_of(page.text)},
        htmx=True,
    )
    assert refused.status_code == 422 and "A story needs a title." in refused.text


# --- saves that meet other saves ---------------------------------------------------------------


async def test_a_save_by_someone_else_in_between_is_a_conflict(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    proposal = await web.post(f"{base}/smart-edit", {"target": "body", "instruction": "shorter"}, htmx=True)
    form = apply_form(proposal.text)

    await web.sign_in(world.a.owner)
    page = await web.get(base)
    saved = await web.post(f"{base}/edit", edit_form(stamp_of(page.text), title="Ferry back", body="Owner's body."))
    assert saved.status_code == 303

    await web.sign_in(world.a.editor)
    conflict = await web.post(f"{base}/smart-edit/apply", form, htmx=True)
    assert conflict.status_code == 409
    assert f"{world.a.owner.name} saved this story while you were editing" in conflict.text
    assert "Propose again" in conflict.text and "Engineers replaced both engines." in conflict.text
    version = await current_version(session_maker, world.a.client.id, rows["story_id"])
    assert version.body == "Owner's body."
    assert "smart_edit_applied" not in [
        e.action for e in await actions(session_maker, world.a.client.id, rows["story_id"])
    ]


async def test_a_published_version_gets_a_new_version(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a, status="published", frozen=True)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    proposal = await web.post(f"{base}/smart-edit", {"target": "lead", "instruction": "longer"}, htmx=True)
    assert "Added" in proposal.text
    applied = await web.post(f"{base}/smart-edit/apply", apply_form(proposal.text), htmx=True)
    assert applied.status_code == 200
    version = await current_version(session_maker, world.a.client.id, rows["story_id"])
    assert version.number == 2 and not version.frozen and version.id != rows["version_id"]
    assert version.lead == "The ferry returned to service on Monday. It had been laid up for repairs since March."
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        first = await session.get(StoryVersion, rows["version_id"])
        story = await session.get(Story, rows["story_id"])
    assert first.frozen and first.lead == "The ferry returned to service on Monday."
    assert story.status == "published"
    assert [e.action for e in await actions(session_maker, world.a.client.id, rows["story_id"])] == [
        "new_version",
        "edited",
        "smart_edit_applied",
    ]
    assert "Smart Edit applied to the lead: saved as version 2." in (await web.get(base)).text


# --- image prompts -----------------------------------------------------------------------------


async def test_an_image_prompt_edit_makes_the_scene_images_stale(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    target = f"scene:{rows['scene_id']}"
    await web.sign_in(world.a.editor)
    proposal = await web.post(f"{base}/smart-edit", {"target": target, "instruction": "shorter"}, htmx=True)
    assert "image prompt of scene 1" in proposal.text
    form = apply_form(proposal.text)
    assert form["proposed"] == "Ferry at the pier at dawn. Engineers on deck."
    applied = await web.post(f"{base}/smart-edit/apply", form, htmx=True)
    assert applied.status_code == 200, applied.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        scene = await session.get(Scene, rows["scene_id"])
        asset = await session.get(Asset, rows["asset_id"])
    assert scene.image_prompt == form["proposed"] and scene.revision == 2
    assert scene.headliner_asset_id is None and asset.stale
    assert scene.text == "Scene one"  # the scene's text is not touched
    page = await web.get(base)
    assert "The scene&#39;s images are out of date" in page.text
    assert "Picture: Ferry at the pier at dawn. Engineers on deck." in page.text
    # The proposal was made from the old prompt: applying it again is a conflict now.
    again = await web.post(f"{base}/smart-edit/apply", {**form, "proposed": "Something else"}, htmx=True)
    assert again.status_code == 409 and "Someone changed this scene" in again.text


async def test_an_image_prompt_of_a_published_version_goes_to_a_new_version(web, world: World, session_maker) -> None:
    rows = await story_with_text(session_maker, world.a, status="published", frozen=True)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    proposal = await web.post(
        f"{base}/smart-edit", {"target": f"scene:{rows['scene_id']}", "instruction": "shorter"}, htmx=True
    )
    applied = await web.post(f"{base}/smart-edit/apply", apply_form(proposal.text), htmx=True)
    assert applied.status_code == 200
    version = await current_version(session_maker, world.a.client.id, rows["story_id"])
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        old_scene = await session.get(Scene, rows["scene_id"])
        old_asset = await session.get(Asset, rows["asset_id"])
        new_scene = (await session.execute(select(Scene).where(Scene.story_version_id == version.id))).scalar_one()
        new_assets = (await session.execute(select(Asset).where(Asset.scene_id == new_scene.id))).scalars().all()
    assert version.number == 2
    assert old_scene.image_prompt == PROMPT and not old_asset.stale  # what was published stays
    assert new_scene.image_prompt == "Ferry at the pier at dawn. Engineers on deck."
    assert len(new_assets) == 1 and new_assets[0].stale and new_scene.headliner_asset_id is None


# --- a text model from the registry ---------------------------------------------------------------


async def http_text_model(session_maker, fake: FakeOpenAI) -> AiModel:
    box = SecretBox.from_settings(get_settings())
    async with scoped_session(session_maker, system=True) as session:
        provider = AiProvider(
            name=PREFIX + secrets.token_hex(3),
            kind="openai_compatible",
            base_url=f"{fake.base_url}/v1",
            api_key=box.encrypt(OPENAI_KEY),
            enabled=True,
        )
        session.add(provider)
        await session.flush()
        model = AiModel(provider_id=provider.id, model="gpt-test", label="GPT test", capability="text", enabled=True)
        session.add(model)
        await session.flush()
        return model


async def test_a_text_model_chosen_by_the_admin_rewrites_with_the_admins_prompt(
    web, world: World, session_maker, openai_fake: FakeOpenAI
) -> None:
    model = await http_text_model(session_maker, openai_fake)
    await web.sign_in(world.admin)
    saved = await web.post(
        SETTINGS_PAGE,
        {"text_model_id": str(model.id), "system_prompt": "You edit for the Alpha Ferry Company. Be precise."},
    )
    assert saved.status_code == 303

    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    openai_fake.chat_content = '  "The ferry is back in service after repairs; tickets at the pier."  '
    await web.sign_in(world.a.editor)
    proposal = await web.post(
        f"{base}/smart-edit", {"target": "body", "instruction": "shorter, more formal"}, htmx=True
    )
    assert proposal.status_code == 200
    assert "Rewritten by" in proposal.text and "GPT test" in proposal.text
    assert "can&#39;t change tone" not in proposal.text  # the model can
    form = apply_form(proposal.text)
    assert form["proposed"] == "The ferry is back in service after repairs; tickets at the pier."
    (request,) = openai_fake.requests_to("/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    messages = request.json()["messages"]
    assert messages[0]["content"].startswith("You edit for the Alpha Ferry Company. Be precise.")
    assert "Instruction: shorter, more formal" in messages[1]["content"] and BODY in messages[1]["content"]
    assert OPENAI_KEY not in proposal.text

    applied = await web.post(f"{base}/smart-edit/apply", form, htmx=True)
    assert applied.status_code == 200
    events = await actions(session_maker, world.a.client.id, rows["story_id"])
    assert events[-1].action == "smart_edit_applied" and "GPT test" in events[-1].details["model"]

    # A title comes back on one line, and without the quotes models like to add.
    openai_fake.chat_content = '"Ferry Back:\nService Resumes"'
    title = await web.post(f"{base}/smart-edit", {"target": "title", "instruction": "catchier"}, htmx=True)
    assert hidden(title.text, "proposed") == "Ferry Back: Service Resumes"


async def test_a_model_error_is_a_plain_message_not_a_500(
    web, world: World, session_maker, openai_fake: FakeOpenAI
) -> None:
    model = await http_text_model(session_maker, openai_fake)
    async with scoped_session(session_maker, system=True) as session:
        session.add(SmartEditSettings(text_model_id=model.id, system_prompt=""))
    rows = await story_with_text(session_maker, world.a)
    base = base_of(world, rows["story_id"])
    await web.sign_in(world.a.editor)
    openai_fake.fail(503, {"error": {"message": "The engine is currently overloaded", "type": "server_error"}})
    response = await web.post(f"{base}/smart-edit", {"target": "body", "instruction": "shorter"}, htmx=True)
    assert response.status_code == 200
    assert 'class="flash flash-error"' in response.text and ">Apply<" not in response.text
    assert "had a temporary problem (HTTP 503). Propose again in a moment." in response.text
    # A key the provider refuses: said without the key.
    openai_fake.key = "sk-another-key-entirely"
    refused = await web.post(f"{base}/smart-edit", {"target": "body", "instruction": "shorter"}, htmx=True)
    assert refused.status_code == 200 and "flash-error" in refused.text and OPENAI_KEY not in refused.text
    assert (await current_version(session_maker, world.a.client.id, rows["story_id"])).body == BODY


# --- who may --------------------------------------------------------------------------------------


async def test_another_clients_story_is_not_found_and_viewers_may_not(web, world: World, session_maker) -> None:
    rows_b = await story_with_text(session_maker, world.b)
    rows_a = await story_with_text(session_maker, world.a)
    await web.sign_in(world.a.editor)
    # Client B's story under client A's address: not found, not revealed.
    other = f"/c/{world.a.client.slug}/stories/{rows_b['story_id']}/smart-edit"
    assert (await web.post(other, {"target": "body", "instruction": "shorter"})).status_code == 404
    assert (await web.post(f"{other}/apply", {"target": "body", "proposed": "x", "stamp": "x"})).status_code == 404
    # Client B's scene as a target of client A's story: refused (not in this story) or not found.
    a_base = base_of(world, rows_a["story_id"])
    page = await web.get(a_base)
    foreign = await web.post(
        f"{a_base}/smart-edit/apply",
        {"target": f"scene:{rows_b['scene_id']}", "proposed": "x", "stamp": stamp_of(page.text)},
    )
    assert foreign.status_code == 404
    # Client B's address for an editor of A only: not found.
    b_url = f"/c/{world.b.client.slug}/stories/{rows_b['story_id']}/smart-edit"
    assert (await web.post(b_url, {"target": "body", "instruction": "shorter"})).status_code == 404
    await web.sign_in(world.a.viewer)
    assert (await web.post(f"{a_base}/smart-edit", {"target": "body", "instruction": "shorter"})).status_code == 403
    async with scoped_session(session_maker, client_id=world.b.client.id) as session:
        assert (await session.get(Story, rows_b["story_id"])).current_version.body == BODY


# --- the admin's settings page ----------------------------------------------------------------------


async def test_only_the_agency_admin_sees_the_settings(web, world: World) -> None:
    assert (await web.get(SETTINGS_PAGE)).status_code == 303  # signed out: to the sign-in page
    for person in (world.a.owner, world.a.editor):
        await web.sign_in(person)
        assert (await web.get(SETTINGS_PAGE)).status_code == 403
        assert (await web.post(SETTINGS_PAGE, {"text_model_id": "", "system_prompt": "x"})).status_code == 403
        assert 'href="/admin/smart-edit"' not in (await web.get("/clients")).text
    await web.sign_in(world.admin)
    page = await web.get(SETTINGS_PAGE)
    assert page.status_code == 200 and "System prompt" in page.text and "Built-in rules" in page.text
    assert 'href="/admin/smart-edit"' in (await web.get("/clients")).text


async def test_the_settings_form_validates_and_saves(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    unknown = await web.post(SETTINGS_PAGE, {"text_model_id": str(world.a.client.id), "system_prompt": "Hi"})
    assert unknown.status_code == 422 and "Pick one of the text models in the list" in unknown.text
    too_long = await web.post(SETTINGS_PAGE, {"text_model_id": "", "system_prompt": "x" * 4001})
    assert too_long.status_code == 422 and "Keep the system prompt under 4000 characters" in too_long.text
    async with scoped_session(session_maker) as session:
        assert (await session.execute(select(SmartEditSettings))).scalar_one_or_none() is None
        image_model = (await session.execute(select(AiModel).where(AiModel.model == "local-image"))).scalar_one()
    wrong_kind = await web.post(SETTINGS_PAGE, {"text_model_id": str(image_model.id), "system_prompt": ""})
    assert wrong_kind.status_code == 422

    saved = await web.post(SETTINGS_PAGE, {"text_model_id": "", "system_prompt": "  Keep it short.\r\nNo slang.  "})
    assert saved.status_code == 303
    again = await web.post(SETTINGS_PAGE, {"text_model_id": "", "system_prompt": "Keep it short."})
    assert again.status_code == 303  # the second save updates the one row
    async with scoped_session(session_maker) as session:
        (row,) = (await session.execute(select(SmartEditSettings))).scalars().all()
    assert row.system_prompt == "Keep it short." and row.text_model_id is None and row.updated_by_id == world.admin.id
    page = await web.get(SETTINGS_PAGE)
    assert "Smart Edit settings saved." in page.text and "Keep it short." in page.text and "Last saved" in page.text
