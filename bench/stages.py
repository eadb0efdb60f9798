"""CPU per stage of one collection, measured in-process, one source at a time (no profiler).

    cd /work/main && uv run python bench/stages.py [--sources 200] [--items 50]

Same set-up as collect_bench.py (own database and Redis prefix, the local feed server). Then, in this
process and strictly one at a time, so each CPU reading belongs to one stage of one source:

1. fresh: the body of tasks.worker.fetch_source (scoped session, collect_source, commit,
   publish_event), with the stages timed by wrapping SafeFetcher.fetch, parse_feed,
   SourceRepository.get, SourceItemRepository.insert_new / mark_duplicates (wrappers installed in
   this process only; the app's files are not touched);
2. 304: the same again, every fetch answered 304;
3. SAQ's own cost per job: an in-process SAQ Worker running N no-op jobs;
4. what-ifs measured on the same data: the item insert done as a Core executemany
   (insertmanyvalues) + `id = ANY(:ids)` update, and an lxml pass over the same XML (a floor for a
   leaner parser).

Prints ms of CPU per source for each stage (worker side: this process, all threads; PostgreSQL side:
the bench database's backends).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect_bench import Bench, cpu_seconds, log  # noqa: E402

cpu = time.process_time  # this process, all threads (getaddrinfo runs in the loop's thread pool)


class Stages:
    """Accumulates CPU per named stage for the source being collected."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.samples: dict[str, list[float]] = defaultdict(list)

    @asynccontextmanager
    async def stage(self, name: str):
        started = cpu()
        try:
            yield
        finally:
            self.current[name] += cpu() - started

    def wrap_async(self, name: str, func):
        async def wrapper(*args: Any, **kwargs: Any):
            async with self.stage(name):
                return await func(*args, **kwargs)

        return wrapper

    def wrap_sync(self, name: str, func):
        def wrapper(*args: Any, **kwargs: Any):
            started = cpu()
            try:
                return func(*args, **kwargs)
            finally:
                self.current[name] += cpu() - started

        return wrapper

    def close_sample(self, total: float) -> None:
        nested = {"insert_new": ["mark_duplicates"]}
        for name, value in self.current.items():
            own = value - sum(self.current.get(child, 0.0) for child in nested.get(name, []))
            self.samples[name].append(own)
        self.samples["(total)"].append(total)
        self.samples["(rest: session, ORM, SQL of collect_source, filters...)"].append(
            total - sum(value for name, value in self.current.items() if name != "mark_duplicates")
        )
        self.current = defaultdict(float)

    def report(self, title: str, pg_ms: float, order: list[str]) -> None:
        log(f"\n{title} (median ms of worker CPU per source, mean in brackets)")
        names = [n for n in order if n in self.samples] + sorted(n for n in self.samples if n not in order)
        for name in names:
            values = [v * 1000 for v in self.samples[name][3:] or self.samples[name]]  # first 3 = warm-up
            log(f"  {name:<58} {statistics.median(values):7.2f}  ({statistics.fmean(values):.2f})")
        log(f"  {'PostgreSQL backends (CPU per source, mean)':<58} {pg_ms:7.2f}")
        self.samples = defaultdict(list)


ORDER = [
    "(total)",
    "session begin + SELECT ... FOR UPDATE",
    "fetch (SafeFetcher.fetch)",
    "parse_feed",
    "insert_new (without mark_duplicates)",
    "mark_duplicates",
    "commit",
    "publish_event",
]


async def pg_cpu(bench: Bench) -> float:
    await bench.refresh_pg_pids(include_own=True)
    return sum(cpu_seconds(pid) for pid in bench.pg_pids)


async def collect_all(bench: Bench, stages: Stages, fetcher, limiter, redis) -> float:
    """fetch_source's body for every bench source, one after the other; returns PG CPU per source."""
    from app.config import get_settings
    from app.db.session import scoped_session
    from app.events.bus import publish_event
    from app.sources.services import collect_source

    settings = get_settings()
    pg_before = await pg_cpu(bench)
    for source_id in bench.source_ids:
        started = cpu()
        session_cm = scoped_session(bench.session_maker, client_id=bench.client_id)
        session = await session_cm.__aenter__()
        try:
            await collect_source(session, bench.client_id, source_id, fetcher, limiter)
        except BaseException as exc:
            await session_cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        async with stages.stage("commit"):
            await session_cm.__aexit__(None, None, None)
        async with stages.stage("publish_event"):
            await publish_event(redis, settings, bench.client_id, "source", source_id=str(source_id))
        stages.close_sample(cpu() - started)
    pg_after = await pg_cpu(bench)  # backends are the same pool's: the difference is this run's
    return (pg_after - pg_before) * 1000 / len(bench.source_ids)


async def saq_overhead(bench: Bench, jobs: int) -> float:
    """CPU per job of SAQ alone: an in-process worker (concurrency 10, as the app's) running no-ops."""
    from saq import Queue, Worker

    async def noop(ctx: dict[str, Any], *, source_id: str, client_id: str) -> dict[str, int]:
        return {"new": 0, "auto_drafts": 0}

    queue = Queue.from_url(os.environ["REDIS_URL"], name=f"{bench.ids.prefix}:noop")
    await queue.connect()
    worker = Worker(queue=queue, functions=[("fetch_source", noop)], concurrency=10)
    task = asyncio.create_task(worker.start())
    try:
        await queue.enqueue("fetch_source", source_id="x", client_id="y", key="warm")
        await asyncio.sleep(0.5)
        semaphore = asyncio.Semaphore(32)

        async def enqueue(i: int) -> None:
            async with semaphore:
                await queue.enqueue("fetch_source", source_id=str(i), client_id="y", key=f"noop:{i}", timeout=120)

        await asyncio.gather(*(enqueue(i) for i in range(jobs)))  # enqueue first, then time the draining
        started = cpu()
        while (await queue.count("incomplete")) > 0:  # noqa: ASYNC110 - polling Redis is the point
            await asyncio.sleep(0.02)
        return (cpu() - started) * 1000 / jobs
    finally:
        await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await queue.disconnect()


async def what_ifs(bench: Bench, items: int) -> None:
    """Alternatives measured on the same data (worker CPU and PG CPU), in fresh sources of their own."""
    import lxml.etree
    from feed_server import render_feed
    from sqlalchemy import any_, bindparam, select, text, update
    from sqlalchemy.dialects.postgresql import ARRAY, insert
    from sqlalchemy.dialects.postgresql import UUID as PGUUID

    from app.db.session import scoped_session
    from app.sources.models import Source, SourceItem
    from app.sources.parsing import parse_feed
    from app.sources.services import SourceItemRepository, SourceRepository, entry_extra

    count = 40  # sources per variant
    variants = (
        ("now: ORM insert().values(<50 rows>) + ORM UPDATE ... IN (50 binds)", "current"),
        ("Core executemany (insertmanyvalues) + UPDATE ... id = ANY(:ids)", "any"),
        ("Core executemany + UPDATE only the rows that have a duplicate", "only-duplicates"),
    )
    async with scoped_session(bench.session_maker, system=True) as session:
        sources = [
            Source(client_id=bench.client_id, url=f"http://127.0.0.1:1/what-if/{n}", title=f"what-if {n}")
            for n in range(len(variants) * count)
        ]
        session.add_all(sources)
        await session.flush()
        source_ids = [s.id for s in sources]
    base = len(bench.source_ids) + 100  # guids/links not used by the bench feeds
    documents = [render_feed(base + n, items) for n in range(len(variants) * count)]
    feeds = [
        parse_feed(d, url="http://127.0.0.1/feed.xml", content_type="application/rss+xml", fetched_at=datetime.now(UTC))
        for d in documents
    ]

    table = SourceItem.__table__
    other = table.alias("other")
    first_other = (
        select(other.c.id)
        .where(
            other.c.client_id == table.c.client_id,
            other.c.normalized_url == table.c.normalized_url,
            other.c.source_id != table.c.source_id,
            other.c.duplicate_of_id.is_(None),
            other.c.id != table.c.id,
        )
        .order_by(other.c.created_at, other.c.id)
        .limit(1)
        .scalar_subquery()
    )
    core_insert = insert(table).on_conflict_do_nothing(constraint="uq_source_items_source_dedup").returning(table.c.id)
    core_mark = (
        update(table)
        .where(
            table.c.client_id == bindparam("client"),
            table.c.id == any_(bindparam("ids", type_=ARRAY(PGUUID(as_uuid=True)))),
            table.c.normalized_url.is_not(None),
        )
        .values(duplicate_of_id=first_other)
    )

    async def insert_items(index: int, variant: str) -> tuple[float, float]:
        async with scoped_session(bench.session_maker, client_id=bench.client_id) as session:
            (pid,) = (await session.execute(text("SELECT pg_backend_pid()"))).one()
            source = await SourceRepository(session, bench.client_id).get(source_ids[index], for_update=True)
            worker_started, pg_started = cpu(), cpu_seconds(pid)
            entries = feeds[index].entries
            if variant == "current":
                new = await SourceItemRepository(session, bench.client_id).insert_new(source, entries)
            else:
                rows = [
                    {
                        "client_id": bench.client_id,
                        "source_id": source.id,
                        "dedup_key": e.dedup_key,
                        "guid": e.guid,
                        "url": e.url,
                        "normalized_url": e.normalized_url,
                        "title": e.title,
                        "summary": e.summary,
                        "content": e.content,
                        "content_text": e.content_text or e.summary,
                        "image_url": e.image_url,
                        "published_at": e.published_at,
                        "extra": entry_extra(e),
                    }
                    for e in {e.dedup_key: e for e in entries}.values()
                ]
                new = list((await session.execute(core_insert, rows)).scalars())
                mark = core_mark if variant == "any" else core_mark.where(first_other.is_not(None))
                await session.execute(mark, {"client": bench.client_id, "ids": new})
            await session.flush()
            result = cpu() - worker_started, cpu_seconds(pid) - pg_started
        assert len(new) == len(entries), (len(new), len(entries))
        return result

    log(
        "\nwhat-if: inserting one feed's items, commit excluded: worker CPU (median ms) / PostgreSQL backend "
        "CPU (mean ms; /proc counts in 10 ms ticks)"
    )
    for k, (label, variant) in enumerate(variants):
        results = [await insert_items(k * count + i, variant) for i in range(count)]
        worker_ms = statistics.median(r[0] for r in results[3:]) * 1000
        pg_ms = statistics.fmean(r[1] for r in results[3:]) * 1000
        log(f"  {label:<72} {worker_ms:6.2f} / {pg_ms:6.1f}")

    log("\nwhat-if: parsing (median ms of CPU per document)")
    started = cpu()
    for d in documents:
        parse_feed(d, url="http://127.0.0.1/feed.xml", content_type="application/rss+xml", fetched_at=datetime.now(UTC))
    log(f"  {'parse_feed (feedparser + the app finishing)':<72} {(cpu() - started) * 1000 / len(documents):6.2f}")
    import feedparser

    started = cpu()
    for d in documents:
        feedparser.parse(d, resolve_relative_uris=False, sanitize_html=False)
    log(f"  {'feedparser.parse alone':<72} {(cpu() - started) * 1000 / len(documents):6.2f}")
    started = cpu()
    for d in documents:
        root = lxml.etree.fromstring(d)
        for item in root.iter("item"):
            for child in item:
                _ = child.tag, child.text, child.attrib
    floor_ms = (cpu() - started) * 1000 / len(documents)
    log(f"  {'lxml: parse + read every element of every item (a floor)':<72} {floor_ms:6.2f}")


async def run(args: argparse.Namespace) -> None:
    bench = Bench(args)
    log(f"stages run {bench.ids.run_id}: database {bench.ids.database}")
    fetcher = redis = None
    try:
        await bench.create_database()
        await bench.start_feed_server()
        await bench.insert_sources()

        from redis.asyncio import Redis

        import app.sources.services as services
        from app.config import get_settings
        from app.net.fetcher import SafeFetcher

        stages = Stages()
        services.parse_feed = stages.wrap_sync("parse_feed", services.parse_feed)
        services.SourceRepository.get = stages.wrap_async(
            "session begin + SELECT ... FOR UPDATE", services.SourceRepository.get
        )
        services.SourceItemRepository.insert_new = stages.wrap_async(
            "insert_new (without mark_duplicates)", services.SourceItemRepository.insert_new
        )
        services.SourceItemRepository.mark_duplicates = stages.wrap_async(
            "mark_duplicates", services.SourceItemRepository.mark_duplicates
        )
        fetcher = SafeFetcher.from_settings(get_settings())
        fetcher.fetch = stages.wrap_async("fetch (SafeFetcher.fetch)", fetcher.fetch)
        limiter = services.HostLimiter(per_host=2)
        redis = Redis.from_url(get_settings().redis_url)

        pg_ms = await collect_all(bench, stages, fetcher, limiter, redis)
        stages.report(f"fresh: {args.sources} sources x {args.items} new items, one at a time", pg_ms, ORDER)
        pg_ms = await collect_all(bench, stages, fetcher, limiter, redis)
        stages.report(f"304: {args.sources} sources, one at a time", pg_ms, ORDER)

        saq_ms = await saq_overhead(bench, 1000)
        log(f"\nSAQ alone (in-process worker, concurrency 10, no-op jobs): {saq_ms:.2f} ms CPU per job")
        await what_ifs(bench, args.items)
    finally:
        if fetcher is not None:
            await fetcher.aclose()
        if redis is not None:
            await redis.aclose()
        await bench.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU per stage of one collection.")
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    args.concurrency, args.uvloop, args.timeout, args.analyze_every = 0, False, 150, 0
    logging.basicConfig(level=logging.WARNING)

    async def guarded() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        await run(args)

    try:
        asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; the bench database and Redis keys were removed")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
