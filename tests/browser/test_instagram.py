"""The owner connects Instagram on Channels, then adds an Instagram account as a source (fake Graph API)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_walking_skeleton import sign_in
from tests.conftest import World
from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401 - used through usefixtures
from tests.fakes.instagram_graph import OWNER_IG_USER_ID, VALID_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("instagram_graph")]


def test_connect_instagram_then_preview_and_add_an_account(
    world: World, live_server, browser_page: Page, screenshot
) -> None:
    page = browser_page
    sign_in(page, world.a.owner.email)
    base = f"/c/{world.a.client.slug}"

    page.goto(f"{base}/sources")
    expect(page.locator("#instagram-source")).to_contain_text("none is connected yet")
    page.locator("#instagram-source").get_by_role("link", name="Connect Instagram in Channels").click()

    expect(page).to_have_url(f"{live_server.url}{base}/channels")
    page.get_by_label("Instagram account id").fill(OWNER_IG_USER_ID)
    page.get_by_label("Long-lived access token").fill(VALID_TOKEN)
    page.locator("#instagram-connection").get_by_role("button", name="Check and connect").click()
    expect(page.locator("#flash-area")).to_contain_text("Instagram connected: @zavod.agency.")
    expect(page.locator("#instagram-connection")).to_contain_text("••••" + VALID_TOKEN[-4:])
    assert VALID_TOKEN not in page.content()
    screenshot("30-channels-instagram-connected")

    page.get_by_role("link", name="Sources").click()
    page.get_by_label("Instagram account").fill("https://www.instagram.com/northwind.bakery/")
    page.get_by_role("button", name="Preview posts").click()
    preview = page.locator("#instagram-source .feed-preview")
    expect(preview).to_contain_text("Fresh rye loaves are out of the oven!")
    screenshot("31-instagram-source-preview")
    preview.get_by_role("button", name="Add this source").click()
    expect(page.locator("#flash-area")).to_contain_text("Source @northwind.bakery added: 6 items in the inbox.")
    expect(page.locator("table.sources tbody tr").first).to_contain_text("@northwind.bakery")
    assert not page.js_errors and not page.server_errors
