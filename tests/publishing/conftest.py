"""Publishing tests: the local fake of the Telegram Bot API (no network, no database needed).

The fake's server lives for the whole session. When TELEGRAM_API_BASE_URL names a local port (as
tests/conftest.py may set it one day, for the app and the worker), it listens there, so the app
reaches it through its setting just as it would reach the real API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.fakes.telegram_bot import FakeTelegramBot

_shared_bot: FakeTelegramBot | None = None
_bot_users = 0


@pytest.fixture(scope="session")
def telegram_bot_server() -> Iterator[FakeTelegramBot]:
    # Each package that imports this fixture gets its own copy of it (tests/web does), but they must
    # share one server: the app's TELEGRAM_API_BASE_URL (tests/conftest.py) names a single port.
    global _shared_bot, _bot_users
    if _shared_bot is None:
        configured = urlsplit(os.environ.get("TELEGRAM_API_BASE_URL", ""))
        port = configured.port if configured.hostname in ("127.0.0.1", "localhost") and configured.port else 0
        _shared_bot = FakeTelegramBot().start(port=port)
    _bot_users += 1
    try:
        yield _shared_bot
    finally:
        _bot_users -= 1
        if _bot_users == 0:
            _shared_bot.stop()
            _shared_bot = None


@pytest.fixture
def telegram_bot(telegram_bot_server: FakeTelegramBot) -> Iterator[FakeTelegramBot]:
    """The running fake, reset before and after each test."""
    telegram_bot_server.reset()
    yield telegram_bot_server
    telegram_bot_server.reset()
