"""The owner adds a feed with a preview, then "Fetch now" updates the row live over SSE."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_walking_skeleton import sign_in
from tests.conftest import World

pytestmark = pytest.mark.browser


def test_preview_add_and_fetch_now_live(world: World, feed_server, live_server, browser_page: Page, screenshot) -> None:
    page = browser_page
    sign_in(page, world.a.owner.email)
    page.goto(f"/c/{world.a.client.slug}/sources")
    page.get_by_label("A feed, a site or a YouTube channel").fill(f"{feed_server}/feeds/northwind.xml")
    page.get_by_role("button", name="Find and preview").click()
    expect(page.locator(".feed-preview")).to_contain_text("Harbour ferry returns after a winter of repairs")
    screenshot("14-source-preview")
    page.get_by_role("button", name="Add this source").click()
    expect(page.locator("#flash-area")).to_contain_text("Source Northwind Harbour Gazette added")
    row = page.locator("table.sources tbody tr").first
    expect(row).to_contain_text("3 found, 3 new")

    page.evaluate("window.__before_fetch = 1")
    row.get_by_role("button", name="Fetch now").click()
    # The row says it is fetching, then the worker's event brings the result (nothing new this time).
    expect(page.locator("table.sources tbody tr").first).to_contain_text("3 found, 0 new", timeout=20_000)
    assert page.evaluate("window.__before_fetch") == 1, "the page reloaded instead of updating live"
    screenshot("15-sources-after-fetch")

    page.goto(f"/c/{world.a.client.slug}/inbox?q=ferry")
    expect(page.locator("article.item")).to_have_count(1)
    screenshot("16-inbox-search")
