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


@pytest.fixture(scope="session")
def telegram_bot_server() -> Iterator[FakeTelegramBot]:
    configured = urlsplit(os.environ.get("TELEGRAM_API_BASE_URL", ""))
    port = configured.port if configured.hostname in ("127.0.0.1", "localhost") and configured.port else 0
    fake = FakeTelegramBot().start(port=port)
    yield fake
    fake.stop()


@pytest.fixture
def telegram_bot(telegram_bot_server: FakeTelegramBot) -> Iterator[FakeTelegramBot]:
    """The running fake, reset before and after each test."""
    telegram_bot_server.reset()
    yield telegram_bot_server
    telegram_bot_server.reset()
