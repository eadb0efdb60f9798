"""The SSE endpoint over real HTTP (uvicorn): named events with server-rendered fragments, resumable
from the browser's Last-Event-ID so a reconnect loses nothing."""

from __future__ import annotations

import asyncio

import httpx

from app.events.bus import publish_event
from tests.conftest import PASSWORD, World
from tests.web.test_tenancy import make_tenant_rows


async def _signed_in(base_url: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base_url, timeout=10)
    await client.get("/login")
    response = await client.post(
        "/login", data={"email": email, "password": PASSWORD, "_csrf_token": client.cookies["csrftoken"]}
    )
    assert response.status_code == 303
    return client


async def _read_events(client: httpx.AsyncClient, url: str, count: int, headers: dict | None = None) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    async with asyncio.timeout(15), client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
                continue
            field, _, value = line.partition(":")
            current[field] = current.get(field, "") + value.lstrip()
    return events


async def test_events_replay_from_since_and_resume_from_last_event_id(
    live_server, world: World, session_maker, redis, settings
) -> None:
    rows = await make_tenant_rows(session_maker, world.a)
    client_id = world.a.client.id
    first_id = await publish_event(redis, settings, client_id, "job", job_id=rows["job_id"])
    second_id = await publish_event(redis, settings, client_id, "job", job_id=rows["job_id"])
    client = await _signed_in(live_server.url, world.a.editor.email)
    try:
        url = f"/c/{world.a.client.slug}/events?since=0-0"
        events = await _read_events(client, url, 2)
        assert [e["id"] for e in events][-2:] == [first_id, second_id]
        assert events[-1]["event"] == f"job-{rows['job_id']}"
        assert 'data-status="QUEUED"' in events[-1]["data"] and "Waiting in line" in events[-1]["data"]
        # The browser reconnects with Last-Event-ID: only what came after it.
        third_id = await publish_event(redis, settings, client_id, "job", job_id=rows["job_id"])
        resumed = await _read_events(client, url, 2, headers={"Last-Event-ID": first_id})
        assert [e["id"] for e in resumed] == [second_id, third_id]
    finally:
        await client.aclose()


async def test_another_clients_events_never_reach_the_stream(
    live_server, world: World, session_maker, redis, settings
) -> None:
    rows_b = await make_tenant_rows(session_maker, world.b)
    rows_a = await make_tenant_rows(session_maker, world.a)
    await publish_event(redis, settings, world.b.client.id, "job", job_id=rows_b["job_id"])
    marker = await publish_event(redis, settings, world.a.client.id, "job", job_id=rows_a["job_id"])
    client = await _signed_in(live_server.url, world.a.editor.email)
    try:
        events = await _read_events(client, f"/c/{world.a.client.slug}/events?since=0-0", 1)
        assert events[0]["id"] == marker and str(rows_b["job_id"]) not in events[0]["data"]
        # A job id of client B smuggled into A's stream renders nothing (the tenant repository finds no row).
        await publish_event(redis, settings, world.a.client.id, "job", job_id=rows_b["job_id"])
        last = await publish_event(redis, settings, world.a.client.id, "job", job_id=rows_a["job_id"])
        events = await _read_events(client, f"/c/{world.a.client.slug}/events?since={marker}", 1)
        assert events[0]["id"] == last
    finally:
        await client.aclose()


async def test_a_quiet_stream_stays_open_and_still_delivers(
    live_server, world: World, session_maker, redis, settings
) -> None:
    """Longer than Redis's default socket timeout (5 s) without events: the stream must survive it."""
    rows = await make_tenant_rows(session_maker, world.a)
    client = await _signed_in(live_server.url, world.a.editor.email)
    try:
        url = f"/c/{world.a.client.slug}/events"  # from now on ("$"): nothing to replay

        async def publish_later() -> str:
            await asyncio.sleep(7)
            return await publish_event(redis, settings, world.a.client.id, "job", job_id=rows["job_id"])

        publisher = asyncio.create_task(publish_later())
        events = await _read_events(client, url, 1)
        assert events[0]["id"] == await publisher
    finally:
        await client.aclose()


async def test_an_unknown_address_gets_the_404_page(live_server) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        response = await client.get("/no/such/page", headers={"accept": "text/html"})
        favicon = await client.get("/static/favicon.svg")
    assert response.status_code == 404 and "Not found" in response.text
    assert favicon.status_code == 200
