"""YouTube publishing tests: a local fake of Google's OAuth endpoints and YouTube's upload API.

No network and no database. The fake's server lives for the whole session; when
YOUTUBE_API_BASE_URL names a local port (as tests/conftest.py may set it one day, for the app and
the worker), it listens there, so the app reaches it through its settings as it would reach Google.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest

from app.channels.youtube import GoogleOAuthClient, YouTubeClient
from tests.fakes.google_youtube import CLIENT_ID, CLIENT_SECRET, FakeGoogle


@pytest.fixture(scope="session")
def google_server() -> Iterator[FakeGoogle]:
    configured = urlsplit(os.environ.get("YOUTUBE_API_BASE_URL", ""))
    port = configured.port if configured.hostname in ("127.0.0.1", "localhost") and configured.port else 0
    fake = FakeGoogle().start(port=port)
    yield fake
    fake.stop()


@pytest.fixture
def google(google_server: FakeGoogle) -> Iterator[FakeGoogle]:
    """The running fake, reset before and after each test."""
    google_server.reset()
    yield google_server
    google_server.reset()


@pytest.fixture
async def oauth(google: FakeGoogle) -> AsyncIterator[GoogleOAuthClient]:
    async with GoogleOAuthClient(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=google.authorize_url,
        token_url=google.token_url,
        timeout=5.0,
    ) as client:
        yield client


@pytest.fixture
async def youtube(google: FakeGoogle) -> AsyncIterator[YouTubeClient]:
    # No pauses between retries: the tests are about what is sent, not about waiting.
    async with YouTubeClient(
        api_base_url=google.base_url, web_base_url="https://www.youtube.com", timeout=10.0, backoff=lambda n: 0.0
    ) as client:
        yield client
