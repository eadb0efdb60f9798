"""Smart Edit confirm: type an instruction, see the difference, Apply, and the page shows the new text."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_walking_skeleton import sign_in
from tests.conftest import World
from tests.web.test_smart_edit import story_with_text

pytestmark = pytest.mark.browser


@pytest.fixture
async def smart_edit_story(world: World, session_maker) -> tuple[World, dict]:
    return world, await story_with_text(session_maker, world.a)


def test_smart_edit_confirm(smart_edit_story, live_server, browser_page: Page, screenshot) -> None:
    world, rows = smart_edit_story
    page = browser_page
    sign_in(page, world.a.editor.email)
    page.goto(f"/c/{world.a.client.slug}/stories/{rows['story_id']}")
    story_body = page.locator(".story-body")
    expect(story_body).to_contain_text("The operator says timetables are back to normal.")
    page.evaluate("window.__before_propose = 1")

    smart_edit = page.locator("#smart-edit")
    smart_edit.get_by_label("What to edit").select_option(label="Text")
    smart_edit.get_by_label("Instruction").fill("shorter, more formal")
    smart_edit.get_by_role("button", name="Propose").click()

    proposal = page.locator(".smart-edit-proposal")
    expect(proposal).to_be_visible()
    expect(proposal.locator(".smart-edit-diff del")).to_contain_text("The operator says timetables are back to normal.")
    expect(proposal).to_contain_text("Kept the first 3 of 5 sentences")
    expect(proposal.locator(".smart-edit-cannot")).to_contain_text("can't change tone")
    assert page.evaluate("window.__before_propose") == 1, "proposing reloaded the page instead of swapping it in"
    expect(story_body).to_contain_text("The operator says")  # nothing saved yet
    proposal.scroll_into_view_if_needed()
    screenshot("60-smart-edit-proposal", full_page=False)

    proposal.get_by_role("button", name="Apply").click()
    expect(page.locator("#flash-area")).to_contain_text("Smart Edit applied to the text: saved as version 1.")
    expect(story_body).to_have_text(
        "The ferry returned to service on Monday. It had been laid up for repairs since March. "
        "Engineers replaced both engines."
    )
    expect(page.locator(".smart-edit-proposal")).to_have_count(0)

    # Discard only clears the proposal.
    smart_edit.get_by_label("What to edit").select_option(label="Title")
    smart_edit.get_by_label("Instruction").fill("title case")
    smart_edit.get_by_role("button", name="Propose").click()
    expect(page.locator(".smart-edit-diff ins").first).to_have_text("Back")
    page.locator(".smart-edit-proposal").get_by_role("button", name="Discard").click()
    expect(page.locator(".smart-edit-proposal")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("Ferry back in service")
    assert not page.js_errors and not page.server_errors  # type: ignore[attr-defined]


def test_the_agency_admin_sets_the_system_prompt(world: World, live_server, browser_page: Page, screenshot) -> None:
    page = browser_page
    sign_in(page, world.admin.email)
    page.goto("/clients")
    page.locator("header.topbar").get_by_role("link", name="Smart Edit").click()
    expect(page.locator("h1")).to_have_text("Smart Edit")
    page.get_by_label("System prompt").fill("You edit for a ferry company. Keep it calm.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash-area")).to_contain_text("Smart Edit settings saved.")
    expect(page.get_by_label("System prompt")).to_have_value("You edit for a ferry company. Keep it calm.")
    screenshot("61-smart-edit-settings", full_page=False)
    # Put the default back: the settings are agency-wide and other browser tests share the server.
    page.get_by_label("System prompt").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#flash-area")).to_contain_text("Smart Edit settings saved.")
    assert not page.js_errors and not page.server_errors  # type: ignore[attr-defined]
