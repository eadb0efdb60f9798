"""Two people on one story in real browsers: what one does reaches the other's open page over SSE,
and a save over the other's newer save is refused with the conflict message, never silently."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_share_links import sign_in
from tests.conftest import World
from tests.web.test_share_links import make_story

pytestmark = pytest.mark.browser


@pytest.fixture
async def story(world: World, session_maker):
    return await make_story(session_maker, world.a.client.id, "Night trams return to the old town")


def open_edit_form(page: Page) -> None:
    page.locator("#story-edit summary").click()
    expect(page.locator("#story-edit").get_by_label("Title")).to_be_visible()


def test_an_edit_and_an_approval_by_someone_else_arrive_live_and_a_stale_save_is_refused(
    world: World, story, live_server, browser_page: Page, screenshot
) -> None:
    editor = browser_page
    sign_in(editor, world.a.editor.email)
    url = f"/c/{world.a.client.slug}/stories/{story.id}"
    editor.goto(url)
    open_edit_form(editor)
    editor.locator("#story-edit").get_by_label("Title").fill("Night trams are back, says the editor")

    owner_context = editor.context.browser.new_context(base_url=live_server.url, locale="en-GB")
    try:
        owner = owner_context.new_page()
        owner_errors: list[str] = []
        owner.on("pageerror", lambda error: owner_errors.append(str(error)))
        sign_in(owner, world.a.owner.email)
        owner.goto(url)
        open_edit_form(owner)
        owner.locator("#story-edit").get_by_label("Title").fill("Night trams are back, says the owner")
        owner.locator("#story-edit").get_by_role("button", name="Save").click()
        expect(owner.get_by_role("heading", level=1)).to_have_text("Night trams are back, says the owner")

        # The editor's page was not reloaded: the notice came over SSE, the typed title is kept.
        notice = editor.locator("#story-change-notice")
        expect(notice).to_contain_text(f"{world.a.owner.display_name}: Edited", timeout=15_000)
        expect(notice.get_by_role("link", name="Reload to see their version")).to_be_visible()
        title = editor.locator("#story-edit").get_by_label("Title")
        assert title.input_value() == "Night trams are back, says the editor"
        screenshot("story-live-01-someone-else-saved", full_page=False)

        # Saving anyway: refused with the conflict message, the editor's words still in the form.
        editor.locator("#story-edit").get_by_role("button", name="Save").click()
        conflict = editor.locator("#story-edit .conflict")
        expect(conflict).to_be_visible()
        expect(conflict).to_contain_text(world.a.owner.display_name)
        expect(editor.get_by_role("heading", level=1)).to_have_text("Night trams are back, says the owner")
        assert title.input_value() == "Night trams are back, says the editor"
        conflict.scroll_into_view_if_needed()
        editor.screenshot(path=str(SCREENSHOTS / "story-live-02-edit-conflict.png"), full_page=False)

        # The owner approves: the editor's status badge changes without a reload.
        owner.goto(url)
        owner.locator("#story-panel").get_by_role("button", name="Approve").click()
        expect(owner.locator("#story-status")).to_have_text("Approved")
        expect(editor.locator("#story-status")).to_have_text("Approved", timeout=15_000)
        expect(editor.locator("#story-change-notice")).to_contain_text(f"{world.a.owner.display_name}: Approved")
        assert title.input_value() == "Night trams are back, says the editor"  # still no reload
        screenshot("story-live-03-approved-elsewhere", full_page=False)
        assert not owner_errors
    finally:
        owner_context.close()
    assert not editor.js_errors and not editor.server_errors  # type: ignore[attr-defined]
