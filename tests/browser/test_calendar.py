"""Schedules in a real browser: the owner sets the Reader's weekly slots, an editor queues an
approved story into the next free slot from its page, and the owner's open calendar shows it
without a reload (SSE)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from app.db.session import scoped_session
from app.publishing.slots import next_free_slots, parse_slot
from app.stories.models import Story
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_share_links import sign_in
from tests.conftest import World
from tests.web.test_share_links import make_story

pytestmark = pytest.mark.browser

MOSCOW = ZoneInfo("Europe/Moscow")  # the test clients' zone
TIMES = "09:00, 18:30"


@pytest.fixture
async def approved(world: World, session_maker) -> Story:
    story = await make_story(session_maker, world.a.client.id, "Night trams return to the old town")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(update(Story).where(Story.id == story.id).values(status="approved"))
    return story


def test_the_owner_sets_slots_an_editor_queues_and_the_calendar_shows_it_live(
    world: World, approved: Story, live_server, browser_page: Page, screenshot
) -> None:
    owner = browser_page
    slug = world.a.client.slug
    sign_in(owner, world.a.owner.email)
    owner.goto(f"/c/{slug}/schedule")
    reader = owner.locator("article.channel-schedule").first
    expect(reader.get_by_role("heading", level=2)).to_have_text("Reader")

    # A mistake first: it is explained beside Tuesday's field, and nothing is saved.
    reader.get_by_label("Monday").fill(TIMES)
    reader.get_by_label("Tuesday").fill("9am")
    reader.get_by_role("button", name="Save slots").click()
    reader = owner.locator("article.channel-schedule").first
    expect(reader.locator(".field-error")).to_contain_text("“9am” is not a time of day")
    expect(reader.get_by_label("Monday")).to_have_value(TIMES)
    screenshot("schedule-01-a-mistake-beside-its-day")

    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        reader.get_by_label(day).fill(TIMES)
    reader.get_by_role("button", name="Save slots").click()
    expect(owner.locator(".flash-success")).to_contain_text("Reader: 14 weekly slots saved.")
    reader = owner.locator("article.channel-schedule").first
    expect(reader.locator(".upcoming-slots li")).to_have_count(5)
    expect(reader.locator(".upcoming-slots li").first).to_contain_text("MSK")
    screenshot("schedule-02-weekly-slots")

    # Where the editor's story will land: the next free slot after now, in Moscow time.
    slots = [
        parse_slot(f"{code} {at}")
        for code in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        for at in ("09:00", "18:30")
    ]
    expected = next_free_slots(slots, MOSCOW, datetime.now(UTC), set(), 1)[0].astimezone(MOSCOW)
    owner.goto(f"/c/{slug}/calendar?start={expected.date().isoformat()}")
    expect(owner.locator("#calendar-body")).to_contain_text("Reader")
    cell = owner.locator(f'td[data-day="{expected.date().isoformat()}"]').first
    expect(cell.locator(".cal-free").first).to_be_visible()

    editor_context = owner.context.browser.new_context(base_url=live_server.url, locale="en-GB")
    try:
        editor = editor_context.new_page()
        editor_errors: list[str] = []
        editor.on("pageerror", lambda error: editor_errors.append(str(error)))
        sign_in(editor, world.a.editor.email)
        editor.goto(f"/c/{slug}/stories/{approved.id}")
        queue_button = editor.get_by_role("button", name="Queue on Reader in the next free slot")
        expect(queue_button).to_be_visible()
        expect(editor.locator("#story-next-slot")).to_contain_text(f"{expected:%H:%M} MSK")
        editor.locator("#story-next-slot").scroll_into_view_if_needed()
        editor.screenshot(path=str(SCREENSHOTS / "calendar-01-story-panel-next-free-slot.png"), full_page=False)
        queue_button.click()
        expect(editor.locator(".flash-success")).to_contain_text("Queued on Reader for")
        expect(editor.locator("#story-status")).to_have_text("Scheduled")
        assert not editor_errors
    finally:
        editor_context.close()

    # The owner's calendar was not reloaded: the item arrived over SSE.
    entry = cell.locator(".cal-entry.cal-scheduled")
    expect(entry).to_contain_text("Night trams return to the old town", timeout=15_000)
    expect(entry).to_contain_text(f"{expected:%H:%M}")
    expect(entry.locator(".badge")).to_have_text("Scheduled")
    screenshot("calendar-02-week-with-the-queued-story")

    # The next week: its free slots, shown as such.
    owner.get_by_role("button", name="Next →").click()
    expect(owner.locator(".calendar-week-grid .cal-free")).to_have_count(14)
    screenshot("calendar-03-next-week-free-slots")
    owner.get_by_role("button", name="← Previous").click()
    expect(owner.locator(".cal-entry.cal-scheduled")).to_contain_text("Night trams return to the old town")

    owner.get_by_role("link", name="Month").click()
    expect(owner.locator(".calendar-month-grid")).to_be_visible()
    month_cell = owner.locator(f'td[data-day="{expected.date().isoformat()}"]')
    expect(month_cell).to_contain_text("Night trams return to the old town")
    expect(month_cell).to_contain_text("Reader")
    screenshot("calendar-04-month")

    # Paused: the owner's scheduled post shows as paused on the calendar; resumed, it is scheduled again.
    owner.goto(f"/c/{slug}/schedule")
    owner.get_by_role("button", name="Pause").click()
    expect(owner.locator(".flash-success")).to_contain_text("Reader is paused")
    expect(owner.locator(".paused-note")).to_be_visible()
    screenshot("schedule-03-paused")
    owner.goto(f"/c/{slug}/calendar?start={expected.date().isoformat()}")
    expect(owner.locator(".cal-entry.cal-paused .badge")).to_have_text("Paused")
    owner.goto(f"/c/{slug}/schedule")
    owner.get_by_role("button", name="Resume").click()
    expect(owner.locator(".flash-success")).to_contain_text("Reader resumed.")
    owner.goto(f"/c/{slug}/calendar?start={expected.date().isoformat()}")

    owner.get_by_role("link", name="Night trams return to the old town").first.click()
    owner.wait_for_url(f"**/stories/{approved.id}")
    assert not owner.js_errors and not owner.server_errors  # type: ignore[attr-defined]
