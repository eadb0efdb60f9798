"""Web tests that reach Instagram do it through the local fake of the Graph API (tests/fakes);
`statements` counts the SQL a request sends (the no-N+1 tests of the queue and story pages)."""

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.fakes import instagram_graph, instagram_graph_server  # noqa: F401
from tests.publishing.conftest import telegram_bot, telegram_bot_server  # noqa: F401


@pytest.fixture
def statements():
    """Counts the SQL statements every engine sends while the test's `with counting:` block runs."""

    class Counter:
        def __init__(self) -> None:
            self.active = False
            self.seen: list[str] = []

        def __enter__(self):
            self.seen, self.active = [], True
            return self

        def __exit__(self, *exc) -> None:
            self.active = False

    counter = Counter()

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if counter.active:
            counter.seen.append(statement)

    event.listen(Engine, "before_cursor_execute", before)
    yield counter
    event.remove(Engine, "before_cursor_execute", before)
