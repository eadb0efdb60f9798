"""Health, the operator CLI, error reporting set-up, and publishing exactly once under races."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from app.config import BASE_DIR
from app.db.session import scoped_session
from app.publishing.models import Publication, PublicationStatus
from app.publishing.services import publish_publication
from app.stories.models import Story
from tests.conftest import World
from tests.web.test_tenancy import make_tenant_rows


async def test_health_reports_database_redis_and_storage(web) -> None:
    response = await web.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}}


async def test_health_says_which_part_is_down(web, app, monkeypatch) -> None:
    async def broken() -> None:
        raise ConnectionError("bucket unreachable")

    monkeypatch.setattr(app.state.storage, "check", broken)
    response = await web.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["storage"].startswith("error: ConnectionError") and body["checks"]["database"] == "ok"


async def test_two_workers_racing_publish_once(world: World, session_maker, redis, settings) -> None:
    rows = await make_tenant_rows(session_maker, world.a)
    now = datetime.now(UTC) + timedelta(days=2)
    results = await asyncio.gather(
        *[
            publish_publication(
                session_maker=session_maker,
                redis=redis,
                settings=settings,
                client_id=world.a.client.id,
                publication_id=rows["publication_id"],
                now=now,
            )
            for _ in range(5)
        ]
    )
    assert sorted(r for r in results if r) == [PublicationStatus.PUBLISHED]
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        publication = await session.get(Publication, rows["publication_id"])
        story = await session.get(Story, rows["story_id"])
    assert publication.attempts == 1 and publication.status == PublicationStatus.PUBLISHED
    assert story.published_version_id == publication.story_version_id


async def test_a_publication_is_not_published_before_its_time(world: World, session_maker, redis, settings) -> None:
    rows = await make_tenant_rows(session_maker, world.a)
    result = await publish_publication(
        session_maker=session_maker,
        redis=redis,
        settings=settings,
        client_id=world.a.client.id,
        publication_id=rows["publication_id"],
    )
    assert result is None


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "litestar", "--app", "app.main:create_app", *args],
        cwd=BASE_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_admin_makes_an_agency_admin_who_can_sign_in(web, database) -> None:
    email = f"boss-{uuid4().hex[:6]}@example.test"
    result = await asyncio.to_thread(_cli, "zavod", "create-admin", "--email", email, "--password", "a-long-password")
    assert result.returncode == 0, result.stderr
    await web.get("/login")
    response = await web.post("/login", {"email": email, "password": "a-long-password"})
    assert response.status_code == 303
    assert (await web.get("/clients")).status_code == 200
    again = await asyncio.to_thread(_cli, "zavod", "create-admin", "--email", email, "--password", "a-long-password")
    assert again.returncode != 0 and "exists already" in again.stderr


async def test_seed_demo_does_nothing_on_a_database_with_users(database, world: World) -> None:
    result = await asyncio.to_thread(_cli, "zavod", "seed-demo")
    assert result.returncode == 0, result.stderr
    assert "already has users" in result.stdout


def test_sentry_is_initialised_only_with_a_dsn() -> None:
    code = (
        "import sentry_sdk; from app.main import create_app; from app.config import load_settings; "
        "create_app(load_settings()); print(sentry_sdk.get_client().is_active())"
    )
    with_dsn = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "SENTRY_DSN": "http://public@127.0.0.1:9/1"},
        timeout=60,
    )
    without = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "SENTRY_DSN": ""},
        timeout=60,
    )
    assert with_dsn.stdout.strip().endswith("True"), with_dsn.stderr
    assert without.stdout.strip().endswith("False"), without.stderr
