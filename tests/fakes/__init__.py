"""Local fakes of third-party APIs that follow their public contracts, and fixtures to run them.

To use a fake in a test package, import its fixtures into that package's conftest.py:

    from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401

`instagram_graph` gives a running `FakeInstagramGraph` (reset before and after each test); its
`base_url` is what `InstagramDiscoveryClient(base_url=...)` (and, later, the publishing channel)
should point at. The server itself lives for the whole session on a free 127.0.0.1 port.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.instagram_graph import FakeInstagramGraph

__all__ = ["FakeInstagramGraph", "instagram_graph", "instagram_graph_server"]


@pytest.fixture(scope="session")
def instagram_graph_server() -> Iterator[FakeInstagramGraph]:
    fake = FakeInstagramGraph().start()
    yield fake
    fake.stop()


@pytest.fixture
def instagram_graph(instagram_graph_server: FakeInstagramGraph) -> Iterator[FakeInstagramGraph]:
    instagram_graph_server.reset()
    yield instagram_graph_server
    instagram_graph_server.reset()
