"""The UI speaks Russian when the person chooses it, whatever the browser asks for."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_walking_skeleton import sign_in
from tests.conftest import World

pytestmark = pytest.mark.browser


def test_an_editor_switches_the_interface_to_russian(world: World, live_server, browser_page: Page, screenshot) -> None:
    page = browser_page
    sign_in(page, world.a.editor.email)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("header.topbar summary", has_text=world.a.editor.name).click()
    page.get_by_role("button", name="Русский").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("link", name="Входящие")).to_be_visible()
    expect(page.get_by_role("link", name="Читалка")).to_be_visible()
    expect(page.locator("#flash-area")).to_contain_text("Язык сохранён")
    page.goto(f"/c/{world.a.client.slug}/stories")
    expect(page.get_by_role("heading", level=1)).to_have_text("Истории")
    screenshot("13-stories-russian")
