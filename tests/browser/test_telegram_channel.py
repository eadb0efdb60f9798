"""The owner connects a Telegram channel in a real browser (the app talks to the fake Bot API)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_share_links import sign_in
from tests.conftest import World
from tests.fakes.telegram_bot import CHANNEL_USERNAME, VALID_TOKEN
from tests.publishing.conftest import telegram_bot, telegram_bot_server  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_owner_connects_a_telegram_channel(
    world: World,
    telegram_bot,  # noqa: F811 - the fixture imported above
    live_server,
    browser_page: Page,
    screenshot,  # noqa: F811
) -> None:
    page = browser_page
    sign_in(page, world.a.owner.email)
    page.goto(f"/c/{world.a.client.slug}/channels")
    section = page.locator("#telegram-channels")
    section.get_by_label("Bot token").fill("12345:short")
    section.get_by_label("Channel").fill(f"https://t.me/{CHANNEL_USERNAME}")
    section.get_by_role("button", name="Check and connect").click()
    expect(page.locator("#telegram-token-error")).to_contain_text("@BotFather")
    expect(page.locator("#telegram-channels").get_by_label("Channel")).to_have_value(f"https://t.me/{CHANNEL_USERNAME}")

    section = page.locator("#telegram-channels")
    section.get_by_label("Bot token").fill(VALID_TOKEN)
    section.get_by_role("button", name="Check and connect").click()
    expect(page.locator(".flash, [role=status], .notice").first).to_contain_text("Telegram connected")
    section = page.locator("#telegram-channels")
    expect(section).to_contain_text(f"@{CHANNEL_USERNAME}")
    expect(section).to_contain_text("••••" + VALID_TOKEN[-4:])
    assert VALID_TOKEN not in page.content()
    screenshot("channels-telegram-connected")
    assert not page.js_errors and not page.server_errors  # type: ignore[attr-defined]
