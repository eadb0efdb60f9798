"""Fixtures for the HTTP adapter tests: each test gets fresh fake providers on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `uv run pytest` does not put the project root on sys.path (the project is not installed).
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.ai_http.fakes import FakeCdn, FakeOpenAI, FakeRunway, FakeStability  # noqa: E402


@pytest.fixture
def cdn() -> Iterator[FakeCdn]:
    fake = FakeCdn().start()
    yield fake
    fake.stop()


@pytest.fixture
def openai_fake(cdn: FakeCdn) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.cdn = cdn
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stability_fake() -> Iterator[FakeStability]:
    fake = FakeStability().start()
    yield fake
    fake.stop()


@pytest.fixture
def runway_fake(cdn: FakeCdn) -> Iterator[FakeRunway]:
    fake = FakeRunway(cdn).start()
    yield fake
    fake.stop()
