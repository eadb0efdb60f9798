"""The collection sweep (a SAQ cron job) fetches due sources through the queue; items land once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

import tasks.worker as worker_module
from app.db.session import scoped_session
from app.sources.models import Source, SourceItem
from tests.conftest import World, wait_for


async def test_the_sweep_collects_due_sources_once(world: World, feed_server, worker, session_maker) -> None:
    now = datetime.now(UTC)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        due = Source(
            client_id=world.a.client.id,
            url=f"{feed_server}/feeds/northwind.xml",
            title="Due",
            next_fetch_at=now - timedelta(minutes=1),
        )
        later = Source(
            client_id=world.a.client.id,
            url=f"{feed_server}/feeds/northwind.xml?later",
            title="Later",
            next_fetch_at=now + timedelta(hours=1),
        )
        session.add_all([due, later])
    ctx: dict = {}
    await worker_module.startup(ctx)
    try:
        first = await worker_module.collect_due_sources(ctx)
        second = await worker_module.collect_due_sources(ctx)  # claimed already: nothing twice
    finally:
        await worker_module.shutdown(ctx)
    assert first["enqueued"] >= 1 and second["enqueued"] == 0

    async def fetched():
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            source = await session.get(Source, due.id)
            return source if source.last_fetched_at else None

    source = await wait_for(fetched)
    assert source.error_count == 0 and source.items_new_last == 3 and source.last_status_code == 200
    assert source.next_fetch_at > now + timedelta(minutes=10)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        per_source = dict(
            (await session.execute(select(SourceItem.source_id, func.count()).group_by(SourceItem.source_id))).all()
        )
        untouched = await session.get(Source, later.id)
    assert per_source == {due.id: 3}
    assert untouched.last_fetched_at is None


async def _source(session_maker, tenant, url: str, **fields) -> Source:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        source = Source(client_id=tenant.client.id, url=url, title="S", **fields)
        session.add(source)
    return source


async def _collect(session_maker, tenant, source_id, fetcher):
    from app.sources.services import collect_source

    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        return await collect_source(session, tenant.client.id, source_id, fetcher)


async def test_410_gone_stops_the_source_with_the_reason(world: World, feed_server, session_maker, settings):
    from app.net.fetcher import SafeFetcher

    source = await _source(session_maker, world.a, f"{feed_server}/status/410")
    async with SafeFetcher.from_settings(settings) as fetcher:
        collected = await _collect(session_maker, world.a, source.id, fetcher)
    assert collected.source.enabled is False and "410" in collected.source.disabled_reason


async def test_the_same_404_for_a_day_stops_the_source(world: World, feed_server, session_maker, settings):
    from app.net.fetcher import SafeFetcher

    source = await _source(session_maker, world.a, f"{feed_server}/feeds/missing.xml")
    async with SafeFetcher.from_settings(settings) as fetcher:
        first = await _collect(session_maker, world.a, source.id, fetcher)
        assert first.source.enabled and first.source.not_found_since is not None
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            row = await session.get(Source, source.id)
            row.not_found_since = datetime.now(UTC) - timedelta(days=1, minutes=1)
        second = await _collect(session_maker, world.a, source.id, fetcher)
    assert second.source.enabled is False and "more than a day" in second.source.disabled_reason


async def test_filters_keep_only_wanted_items(world: World, feed_server, session_maker, settings):
    from app.net.fetcher import SafeFetcher

    source = await _source(
        session_maker,
        world.a,
        f"{feed_server}/feeds/northwind.xml",
        include_keywords=["ferry", "market"],
        exclude_keywords=["lighthouse"],
    )
    async with SafeFetcher.from_settings(settings) as fetcher:
        collected = await _collect(session_maker, world.a, source.id, fetcher)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        titles = (await session.execute(select(SourceItem.title).where(SourceItem.source_id == source.id))).scalars()
    # "market" matches the night market, but that item mentions the lighthouse.
    assert list(titles) == ["Harbour ferry returns after a winter of repairs"]
    assert collected.source.items_found_last == 3 and collected.source.items_new_last == 1


async def test_the_same_article_from_two_sources_is_marked_duplicate(
    world: World, feed_server, session_maker, settings
):
    from app.net.fetcher import SafeFetcher

    first = await _source(session_maker, world.a, f"{feed_server}/feeds/northwind.xml")
    second = await _source(session_maker, world.a, f"{feed_server}/feeds/northwind-tracking.xml")
    async with SafeFetcher.from_settings(settings) as fetcher:
        await _collect(session_maker, world.a, first.id, fetcher)
        await _collect(session_maker, world.a, second.id, fetcher)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        items = (await session.execute(select(SourceItem))).scalars().all()
    originals = {i.normalized_url: i.id for i in items if i.source_id == first.id}
    copies = [i for i in items if i.source_id == second.id]
    assert copies and all(c.duplicate_of_id == originals[c.normalized_url] for c in copies)
    assert all(i.duplicate_of_id is None for i in items if i.source_id == first.id)


async def test_auto_draft_sends_new_items_to_generation(world: World, feed_server, worker, session_maker):
    from app.generation.models import Job

    source = await _source(session_maker, world.a, f"{feed_server}/feeds/northwind.xml", auto_draft=True)
    ctx: dict = {}
    await worker_module.startup(ctx)
    try:
        result = await worker_module.fetch_source(ctx, source_id=str(source.id), client_id=str(world.a.client.id))
    finally:
        await worker_module.shutdown(ctx)
    assert result == {"new": 3, "auto_drafts": 3}

    async def all_drafted():
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            statuses = (await session.execute(select(Job.status).where(Job.kind == "generate_story"))).scalars().all()
        return statuses if len(statuses) == 3 and set(statuses) == {"COMPLETED"} else None

    await wait_for(all_drafted, within=60)


async def test_source_settings_are_validated(web, world: World, session_maker):
    source = await _source(session_maker, world.a, "https://feeds.example/a.xml")
    await web.sign_in(world.a.owner)
    await web.post(
        f"/c/{world.a.client.slug}/sources/{source.id}/settings",
        {"interval_minutes": "2", "include_keywords": "", "exclude_keywords": "", "enabled": "on"},
    )
    page = await web.get(f"/c/{world.a.client.slug}/sources")
    assert "Fetch at most every 5 minutes." in page.text
    await web.post(
        f"/c/{world.a.client.slug}/sources/{source.id}/settings",
        {
            "interval_minutes": "30",
            "include_keywords": "Ferry, market\nport",
            "exclude_keywords": "",
            "auto_draft": "on",
        },
    )
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        saved = await session.get(Source, source.id)
    assert saved.interval_minutes == 30 and saved.include_keywords == ["ferry", "market", "port"]
    assert saved.auto_draft and not saved.enabled and saved.disabled_reason == "Paused by the owner."


async def test_a_binary_body_is_a_readable_error_and_keeps_earlier_items(
    world: World, feed_server, session_maker, settings
):
    from app.net.fetcher import SafeFetcher

    source = await _source(session_maker, world.a, f"{feed_server}/feeds/northwind.xml")
    async with SafeFetcher.from_settings(settings) as fetcher:
        await _collect(session_maker, world.a, source.id, fetcher)
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            row = await session.get(Source, source.id)
            # A new address: the old validators would make the test server answer 304.
            row.url, row.etag, row.last_modified = f"{feed_server}/binary.bin", None, None
        collected = await _collect(session_maker, world.a, source.id, fetcher)
    assert collected.source.error_count == 1 and collected.source.enabled
    assert "feed" in collected.source.last_error.lower()
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        kept = (await session.execute(select(func.count()).select_from(SourceItem))).scalar_one()
    assert kept == 3


async def test_a_full_refetch_lands_nothing_twice(world: World, feed_server, session_maker, settings):
    from app.net.fetcher import SafeFetcher

    source = await _source(session_maker, world.a, f"{feed_server}/feeds/northwind.xml")
    async with SafeFetcher.from_settings(settings) as fetcher:
        first = await _collect(session_maker, world.a, source.id, fetcher)
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            row = await session.get(Source, source.id)
            row.etag, row.last_modified = None, None  # no conditional GET: the whole feed comes again
        second = await _collect(session_maker, world.a, source.id, fetcher)
    assert len(first.new_item_ids) == 3
    assert second.new_item_ids == [] and second.source.last_status_code == 200
