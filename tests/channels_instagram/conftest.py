"""Instagram publishing unit tests: image preparation, and the publishing client against the local
fake of the Graph API (tests/fakes; no network, no database)."""

from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401
