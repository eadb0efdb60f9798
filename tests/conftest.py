"""Test fixtures on real parts: a PostgreSQL database built by our migrations, real Redis.

Each run gets its own database (`zavod_test_<random>`) owned by the non-superuser application
role, so row-level security is in force exactly as in production, and its own Redis key prefix.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

RUN_ID = secrets.token_hex(4)
TEST_DATABASE = f"zavod_test_{RUN_ID}"
# `make test` points these at the servers deploy/dev/run.sh found or started; the defaults are
# PostgreSQL (trust auth) and Redis on localhost's standard ports.
ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
_admin = urlsplit(ADMIN_URL)
PG_HOST, PG_PORT = _admin.hostname or "127.0.0.1", _admin.port or 5432
REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="zavod-test-media-"))
# The fake Instagram Graph API (tests/fakes) listens on this port for the whole run, so the app and
# the worker reach it through their INSTAGRAM_GRAPH_BASE_URL setting, as they reach the real one.
with socket.socket() as _sock:
    _sock.bind(("127.0.0.1", 0))
    INSTAGRAM_GRAPH_PORT = _sock.getsockname()[1]
# The same for the fake Telegram Bot API (tests/fakes/telegram_bot.py).
with socket.socket() as _sock:
    _sock.bind(("127.0.0.1", 0))
    TELEGRAM_API_PORT = _sock.getsockname()[1]

# Settings are read once: the environment must be in place before anything imports app.config.
os.environ.update(
    APP_ENV="test",
    SECRET_KEY="test-secret-key-0123456789-0123456789-abcdef",
    DATABASE_URL=f"postgresql+asyncpg://zavod:zavod@{PG_HOST}:{PG_PORT}/{TEST_DATABASE}",
    DATABASE_ADMIN_URL=ADMIN_URL,
    DATABASE_POOL_SIZE="5",
    REDIS_URL=REDIS_URL,
    REDIS_PREFIX=f"zavodtest:{RUN_ID}",
    MEDIA_ROOT=str(MEDIA_ROOT),
    FETCH_ALLOW_PRIVATE="true",
    SERVE_DEV_FEED="true",
    BASE_URL="http://testserver.local",
    LOGIN_MAX_FAILURES="5",
    INSTAGRAM_GRAPH_BASE_URL=f"http://127.0.0.1:{INSTAGRAM_GRAPH_PORT}",
    TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{TELEGRAM_API_PORT}",
)
for name in ("S3_BUCKET", "S3_ENDPOINT_URL", "SENTRY_DSN"):
    os.environ.pop(name, None)

import pytest  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from litestar import Litestar  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402
from redis.asyncio import Redis  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker  # noqa: E402

from app.auth.models import User  # noqa: E402
from app.auth.passwords import hash_password  # noqa: E402
from app.config import BASE_DIR, Settings, get_settings  # noqa: E402
from app.db.bootstrap import drop_database, ensure_role_and_database  # noqa: E402
from app.db.session import create_engine, create_session_maker, scoped_session  # noqa: E402
from app.tenancy.models import Client, Membership, Role  # noqa: E402
from app.tenancy.services import create_client  # noqa: E402

PASSWORD = "correct-horse-battery"
PASSWORD_HASH = hash_password(PASSWORD)  # hashed once: argon2 is slow on purpose


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_migrations(database_url: str, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(BASE_DIR / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, revision)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    await ensure_role_and_database(settings.database_admin_url, settings.database_url)
    # Alembic's env runs its own event loop: keep it off ours.
    await asyncio.to_thread(run_migrations, settings.database_url)
    yield settings.database_url
    await drop_database(settings.database_admin_url, TEST_DATABASE)


@pytest.fixture(scope="session")
async def engine(database: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_maker(engine)


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
async def app(database: str, settings: Settings) -> Litestar:
    from app.main import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
async def http(app: Litestar) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        client.follow_redirects = False
        yield client


@pytest.fixture
async def web(http: AsyncTestClient) -> AsyncIterator[Browser]:
    browser = Browser(http)
    yield browser
    http.cookies.clear()


class Browser:
    """The test client as one person: signs in, keeps cookies, sends the CSRF token like a form."""

    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client

    async def sign_in(self, user: User, password: str = PASSWORD):
        self.client.cookies.clear()
        await self.client.get("/login")
        response = await self.post("/login", {"email": user.email, "password": password})
        assert response.status_code in (302, 303), response.text
        return response

    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    async def get(self, url: str, **kwargs):
        return await self.client.get(url, **kwargs)

    async def post(self, url: str, data: dict | None = None, *, htmx: bool = False, csrf: bool = True, **kwargs):
        if not self.client.cookies.get("csrftoken"):
            await self.client.get("/login")
        headers = dict(kwargs.pop("headers", {}) or {})
        if htmx:
            headers["HX-Request"] = "true"
        form = dict(data or {})
        if csrf:
            form["_csrf_token"] = self.csrf()
        return await self.client.post(url, data=form, headers=headers, **kwargs)


@dataclass
class Tenant:
    client: Client
    owner: User
    editor: User
    viewer: User
    people: dict[Role, User] = field(default_factory=dict)


@dataclass
class World:
    """Two clients with an owner, an editor and a viewer each, and an outsider in neither."""

    a: Tenant
    b: Tenant
    outsider: User
    admin: User


async def make_user(session: AsyncSession, label: str, *, admin: bool = False) -> User:
    user = User(
        email=f"{label}-{secrets.token_hex(4)}@example.test",
        name=label.title(),
        password_hash=PASSWORD_HASH,
        is_agency_admin=admin,
    )
    session.add(user)
    await session.flush()
    return user


async def make_tenant(session: AsyncSession, name: str) -> Tenant:
    slug = f"{name}-{secrets.token_hex(3)}"
    client = await create_client(session, name=name.title(), slug=slug, timezone="Europe/Moscow", language="en")
    people = {}
    for role in Role:
        user = await make_user(session, f"{name}-{role.value}")
        session.add(Membership(client_id=client.id, user_id=user.id, role=role.value))
        people[role] = user
    await session.flush()
    return Tenant(
        client=client, owner=people[Role.OWNER], editor=people[Role.EDITOR], viewer=people[Role.VIEWER], people=people
    )


@pytest.fixture
async def world(session_maker: async_sessionmaker[AsyncSession]) -> World:
    async with scoped_session(session_maker, system=True) as session:
        return World(
            a=await make_tenant(session, "alpha"),
            b=await make_tenant(session, "beta"),
            outsider=await make_user(session, "outsider"),
            admin=await make_user(session, "admin", admin=True),
        )


# --- a local feed server, and a real SAQ worker -------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def feed_server():
    """Serves tests/fixtures over real HTTP on 127.0.0.1 (the fetcher is allowed private hosts in tests)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            # /status/410 answers that status: for sources that are gone, broken, rate limited.
            if self.path.startswith("/status/"):
                self.send_error(int(self.path.rsplit("/", 1)[1]))
                return
            super().do_GET()

    handler = functools.partial(QuietHandler, directory=str(FIXTURES))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
async def worker(app: Litestar, database: str):
    """A real SAQ worker on the test queue, running in this event loop."""
    from saq import Worker

    import tasks.worker as worker_module

    options = {k: v for k, v in worker_module.settings.items() if k != "cron_jobs"}
    saq_worker = Worker(**options)
    task = asyncio.create_task(saq_worker.start())
    yield saq_worker
    await saq_worker.stop()
    task.cancel()


async def wait_for(predicate, within: float = 20.0, interval: float = 0.1):
    """Poll an async predicate until it returns something truthy."""
    async with asyncio.timeout(within):
        while not (result := await predicate()):  # noqa: ASYNC110 - polling the database is the point
            await asyncio.sleep(interval)
        return result
