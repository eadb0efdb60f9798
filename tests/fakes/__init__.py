"""Local fakes of third-party APIs that follow their public contracts, and fixtures to run them.

To use a fake in a test package, import its fixtures into that package's conftest.py:

    from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401

`instagram_graph` gives a running `FakeInstagramGraph` (reset before and after each test); its
`base_url` is what `InstagramDiscoveryClient(base_url=...)` (and, later, the publishing channel)
should point at. The server itself lives for the whole session on 127.0.0.1, on the port that the
INSTAGRAM_GRAPH_BASE_URL setting of the tests names, so the app and the worker use it too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.fakes.instagram_graph import FakeInstagramGraph

__all__ = ["FakeInstagramGraph", "instagram_graph", "instagram_graph_server"]


_shared_graph: FakeInstagramGraph | None = None
_graph_users = 0


@pytest.fixture(scope="session")
def instagram_graph_server() -> Iterator[FakeInstagramGraph]:
    # Each package that imports this fixture gets its own copy of it, but they must share one server:
    # the app's INSTAGRAM_GRAPH_BASE_URL (tests/conftest.py) names a single port.
    global _shared_graph, _graph_users
    if _shared_graph is None:
        port = urlsplit(os.environ.get("INSTAGRAM_GRAPH_BASE_URL", "")).port or 0
        _shared_graph = FakeInstagramGraph().start(port=port)
    _graph_users += 1
    try:
        yield _shared_graph
    finally:
        _graph_users -= 1
        if _graph_users == 0:
            _shared_graph.stop()
            _shared_graph = None


@pytest.fixture
def instagram_graph(instagram_graph_server: FakeInstagramGraph) -> Iterator[FakeInstagramGraph]:
    instagram_graph_server.reset()
    yield instagram_graph_server
    instagram_graph_server.reset()
