"""Web tests that reach Instagram do it through the local fake of the Graph API (tests/fakes)."""

from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401
