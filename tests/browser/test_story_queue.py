"""The queue by keyboard: j, j, a approves the second story in place; ? shows the help."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_walking_skeleton import sign_in
from tests.conftest import World
from tests.web.test_story_queue import make_stories

pytestmark = pytest.mark.browser


@pytest.fixture
async def queue_world(world: World, session_maker) -> World:
    # Newest first on the page: "Third" is the first row, "Second" the second.
    await make_stories(
        session_maker,
        world.a,
        [("First draft of the week", "draft"), ("Second draft of the week", "draft"), ("Third draft", "draft")],
        source_title="Northwind Gazette",
    )
    await make_stories(session_maker, world.a, [("Already out", "published")])
    return world


def test_approve_by_keyboard_and_help(queue_world: World, live_server, browser_page: Page, screenshot) -> None:
    world, page = queue_world, browser_page
    sign_in(page, world.a.editor.email)
    page.goto(f"/c/{world.a.client.slug}/stories?status=draft")
    rows = page.locator("table.queue tr.queue-row")
    expect(rows).to_have_count(3)
    expect(page.locator('[data-status="draft"] .queue-count')).to_have_text("3")
    page.evaluate("window.__before_keys = 1")

    page.keyboard.press("j")
    page.keyboard.press("j")
    second = rows.nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    expect(rows.nth(0)).to_have_attribute("aria-selected", "false")
    expect(second).to_contain_text("Second draft of the week")
    page.keyboard.press("a")
    expect(second.locator(".badge")).to_have_text("Approved")
    expect(rows.nth(0).locator(".badge")).to_have_text("Draft")
    assert page.evaluate("window.__before_keys") == 1, "the page reloaded instead of updating the row"
    screenshot("30-story-queue-approved-by-keyboard")

    # Typing in the search box is not a shortcut.
    page.get_by_label("Search").fill("jar")
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    page.get_by_label("Search").blur()

    page.keyboard.press("?")
    expect(page.locator("#queue-help")).to_be_visible()
    expect(page.locator("#queue-help")).to_contain_text("Approve the selected story")
    screenshot("31-story-queue-help", full_page=False)
    page.keyboard.press("?")
    expect(page.locator("#queue-help")).to_be_hidden()

    # r on a published story is refused and said so on the row.
    page.goto(f"/c/{world.a.client.slug}/stories?status=published")
    page.once("dialog", lambda dialog: dialog.accept("Off topic"))  # r asks why
    page.keyboard.press("j")
    page.keyboard.press("r")
    expect(page.locator("table.queue tr.queue-row").first).to_contain_text("cannot be rejected now")
    assert not page.js_errors and not page.server_errors  # type: ignore[attr-defined]


def test_a_row_changed_by_someone_else_updates_in_place(
    queue_world: World, live_server, browser_page: Page, screenshot
) -> None:
    world, page = queue_world, browser_page
    sign_in(page, world.a.editor.email)
    page.goto(f"/c/{world.a.client.slug}/stories?status=draft")
    rows = page.locator("table.queue tr.queue-row")
    expect(rows).to_have_count(3)
    page.evaluate("window.__before_change = 1")
    story_url = rows.nth(2).locator("a.queue-open").get_attribute("href")

    owner_context = page.context.browser.new_context(base_url=live_server.url, locale="en-GB")
    try:
        owner = owner_context.new_page()
        sign_in(owner, world.a.owner.email)
        owner.goto(story_url)
        owner.locator("#story-panel").get_by_role("button", name="Approve").click()
        expect(owner.locator("#story-status")).to_have_text("Approved")
    finally:
        owner_context.close()

    expect(rows.nth(2).locator(".badge")).to_have_text("Approved", timeout=15_000)
    expect(rows.nth(0).locator(".badge")).to_have_text("Draft")
    assert page.evaluate("window.__before_change") == 1, "the page reloaded instead of updating the row"
    assert not page.js_errors and not page.server_errors  # type: ignore[attr-defined]
