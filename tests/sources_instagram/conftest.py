"""The Instagram source tests run against the local fake of the Graph API (no network, no database)."""

from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401
