"""Collection benchmark: one SAQ worker process, N feed sources on a local feed server.

    cd /work/main && uv run python bench/collect_bench.py [--sources 1000] [--items 50]

What it does (issue 3, "Benchmark"):

1. Creates its own database `zavod_bench_<random>` (app role, Alembic migrations, as the tests do) and
   uses its own Redis prefix `zavodbench:<random>`; both are removed at the end, also on failure
   or Ctrl-C.
2. Starts bench/feed_server.py (uvicorn, loopback only): feed n at
   http://127.0.0.{2 + n % 250}:<port>/feeds/{n}.xml, so the worker's per-host limit (2 at a time
   per host) does not serialise the run. Measures the server alone first.
3. Inserts one client with N feed sources (plus a separate warm-up client with a few sources).
   Sources have no next_fetch_at, so the worker's own collection cron leaves them alone and the
   bench drives the work.
4. Starts ONE worker process (`saq tasks.worker.settings`), warms it up on the warm-up client, then:
   (b) fresh: one fetch_source job per source; timed from the first enqueue until every source has
       last_fetched_at and all N x items rows exist (the DB is polled every 100 ms);
   (a) 304:   the same again; every source now sends If-None-Match and gets 304; timed until every
       source has been fetched again with last_status_code 304 and items_new_last 0.
5. Prints the figures, and as its LAST line one JSON object:
   {"sources_304_per_s", "sources_fresh_per_s", "peak_rss_mb", "sources", "items_per_feed", "errors", ...}

CPU time of the worker, the feed server and the bench database's PostgreSQL backends is read from
/proc for each phase, to show which process the time went to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

VENV_BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
PG_HOSTPORT = os.environ.get("BENCH_DATABASE_HOSTPORT") or "127.0.0.1:5432"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0"
HOSTS = 250  # 127.0.0.2 ... 127.0.0.251
WARMUP_SOURCES = 10
POLL_INTERVAL = 0.1
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str = "") -> None:
    print(message, flush=True)


# --- environment: must be in place before anything imports app.config ------------------------------


@dataclass
class RunIds:
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def database(self) -> str:
        return f"zavod_bench_{self.run_id}"

    @property
    def prefix(self) -> str:
        return f"zavodbench:{self.run_id}"

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://zavod:zavod@{PG_HOSTPORT}/{self.database}"


def configure_environment(ids: RunIds, media_root: Path) -> dict[str, str]:
    """The settings of this run, put in os.environ (for this process) and returned (for the worker)."""
    values = {
        "APP_ENV": "test",
        "SECRET_KEY": "bench-secret-key-" + secrets.token_hex(16),
        "DATABASE_URL": ids.database_url,
        "DATABASE_ADMIN_URL": ADMIN_URL,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": ids.prefix,
        "MEDIA_ROOT": str(media_root),
        "FETCH_ALLOW_PRIVATE": "true",
        "SERVE_DEV_FEED": "false",
        "BASE_URL": "http://bench.local",
    }
    for name in ("S3_BUCKET", "S3_ENDPOINT_URL", "SENTRY_DSN", "DATABASE_POOL_SIZE"):
        os.environ.pop(name, None)
    os.environ.update(values)
    return dict(os.environ)


def run_migrations(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(REPO / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    command.upgrade(config, "head")


# --- processes --------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Child processes get SIGTERM if the bench itself is killed (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def spawn(args: list[str], env: dict[str, str], log_path: Path, *, stdout_pipe: bool = False) -> subprocess.Popen:
    log_file = open(log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
    return subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else log_file,
        stderr=log_file,
        start_new_session=True,  # Ctrl-C reaches the bench, which stops the children in order
        preexec_fn=_die_with_parent,  # noqa: PLW1509
    )


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":", 1) for line in f if ":" in line)


def status_mb(pid: int, key: str) -> float:
    value = proc_status(pid).get(key, "0 kB").split()[0]
    return int(value) / 1024


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the run --------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    sources: int
    seconds: float
    done: int
    timed_out: bool
    cpu: dict[str, float]
    checks: dict[str, Any]

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ids = RunIds()
        self.tmp = Path(tempfile.mkdtemp(prefix="zavod-bench-"))
        self.env = configure_environment(self.ids, self.tmp / "media")
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.port = 0
        self.database_created = False
        self.engine = None
        self.session_maker = None
        self.queue = None
        self.client_id: uuid.UUID | None = None
        self.warmup_client_id: uuid.UUID | None = None
        self.source_ids: list[uuid.UUID] = []
        self.warmup_ids: list[uuid.UUID] = []
        self.pg_pids: list[int] = []

    # -- setup --

    async def create_database(self) -> None:
        from app.db.bootstrap import ensure_role_and_database

        await ensure_role_and_database(ADMIN_URL, self.ids.database_url)
        self.database_created = True
        await asyncio.to_thread(run_migrations, self.ids.database_url)

        from app.config import get_settings
        from app.db.session import create_engine, create_session_maker

        self.engine = create_engine(get_settings())
        self.session_maker = create_session_maker(self.engine)

    async def start_feed_server(self) -> None:
        feeds = self.args.sources + WARMUP_SOURCES
        args = [
            sys.executable,
            str(BENCH_DIR / "feed_server.py"),
            f"--feeds={feeds}",
            f"--items={self.args.items}",
            f"--hosts={HOSTS}",
        ]
        if self.args.gzip:
            args.append("--gzip")
        self.server = spawn(args, self.env, self.tmp / "feed_server.log", stdout_pipe=True)
        assert self.server.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.server.stdout.readline), 60)
        except TimeoutError:
            raise RuntimeError("The feed server did not start within 60 s.") from None
        if not line.startswith(b"READY "):
            raise RuntimeError(f"The feed server failed to start:\n{tail(self.tmp / 'feed_server.log')}")
        self.port = int(line.split()[1])

    def feed_url(self, n: int) -> str:
        return f"http://127.0.0.{2 + n % HOSTS}:{self.port}/feeds/{n}.xml"

    async def measure_feed_server(self, requests: int = 3000, concurrency: int = 32) -> dict[str, float]:
        """The feed server alone, driven by an httpx loop in this process (the client is the slower side)."""
        import httpx

        feeds = self.args.sources
        results: dict[str, float] = {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=10) as client:
            first = await client.get(self.feed_url(0))
            first.raise_for_status()
            etags = {}
            for label, conditional in (("200", False), ("304", True)):
                counter = iter(range(requests))
                statuses: dict[int, int] = {}

                async def loop(conditional: bool = conditional, counter=counter, statuses=statuses) -> None:
                    for i in counter:
                        n = i % feeds
                        headers = {"If-None-Match": etags[n]} if conditional and n in etags else {}
                        response = await client.get(self.feed_url(n), headers=headers)
                        etags[n] = response.headers.get("etag", "")
                        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

                if conditional:  # learn every etag first, so each timed request is a 304
                    for n in range(min(feeds, requests)):
                        etags.setdefault(n, (await client.get(self.feed_url(n))).headers["etag"])
                server_cpu = cpu_seconds(self.server.pid)
                started = time.perf_counter()
                await asyncio.gather(*(loop() for _ in range(concurrency)))
                elapsed = time.perf_counter() - started
                server_cpu = cpu_seconds(self.server.pid) - server_cpu
                expected = 304 if conditional else 200
                if statuses.get(expected, 0) != requests:
                    raise RuntimeError(f"Feed server self-test: expected {requests} x {expected}, got {statuses}")
                results[f"server_{label}_req_per_s"] = requests / elapsed
                results[f"server_{label}_cpu_ms_per_req"] = server_cpu * 1000 / requests
        return results

    async def insert_sources(self) -> None:
        from app.db.session import scoped_session
        from app.sources.models import Source
        from app.tenancy.services import create_client

        async with scoped_session(self.session_maker, system=True) as session:
            client = await create_client(session, name="Bench", slug=f"bench-{self.ids.run_id}")
            warmup = await create_client(session, name="Bench warm-up", slug=f"bench-warmup-{self.ids.run_id}")
            sources = [
                Source(client_id=client.id, url=self.feed_url(n), title=f"Bench feed {n}", next_fetch_at=None)
                for n in range(self.args.sources)
            ]
            warmups = [
                Source(client_id=warmup.id, url=self.feed_url(n), title=f"Warm-up feed {n}", next_fetch_at=None)
                for n in range(self.args.sources, self.args.sources + WARMUP_SOURCES)
            ]
            session.add_all(sources + warmups)
            await session.flush()
            self.client_id, self.warmup_client_id = client.id, warmup.id
            self.source_ids = [s.id for s in sources]
            self.warmup_ids = [s.id for s in warmups]

    async def start_worker(self) -> None:
        from saq import Queue

        env = dict(self.env)
        settings_path = "tasks.worker.settings"
        if self.args.concurrency or self.args.uvloop:
            settings_path = "bench.worker_settings.settings"
            if self.args.concurrency:
                env["BENCH_WORKER_CONCURRENCY"] = str(self.args.concurrency)
            if self.args.uvloop:
                env["BENCH_WORKER_UVLOOP"] = "1"
        self.worker = spawn([str(VENV_BIN / "saq"), settings_path], env, self.tmp / "worker.log")
        self.queue = Queue.from_url(REDIS_URL, name=f"{self.ids.prefix}:jobs")
        await self.queue.connect()

    # -- measuring --

    async def scalar_row(self, sql: str, **params: Any):
        from sqlalchemy import text

        from app.db.session import scoped_session

        async with scoped_session(self.session_maker, system=True) as session:
            return (await session.execute(text(sql), params)).one()

    async def enqueue_all(self, ids: list[uuid.UUID], client_id: uuid.UUID, key_prefix: str) -> None:
        semaphore = asyncio.Semaphore(32)

        async def one(source_id: uuid.UUID) -> None:
            async with semaphore:
                await self.queue.enqueue(
                    "fetch_source",
                    source_id=str(source_id),
                    client_id=str(client_id),
                    key=f"{key_prefix}:{source_id}",
                    timeout=120,
                )

        await asyncio.gather(*(one(source_id) for source_id in ids))

    async def refresh_pg_pids(self, *, include_own: bool = False) -> None:
        """PostgreSQL backends serving the bench database (the worker's pool; this process's own
        polling connection left out unless include_own)."""
        row = await self.scalar_row(
            "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity WHERE datname = :db "
            "AND (:own OR pid <> pg_backend_pid())",
            db=self.ids.database,
            own=include_own,
        )
        self.pg_pids = list(row[0])

    def cpu_snapshot(self) -> dict[str, float]:
        busy, total = machine_busy_seconds()
        return {
            "worker": cpu_seconds(self.worker.pid) if self.worker else 0.0,
            "feed_server": cpu_seconds(self.server.pid) if self.server else 0.0,
            "postgres": sum(cpu_seconds(pid) for pid in self.pg_pids),
            "bench": sum(os.times()[:2]),
            "machine_busy": busy,
            "machine_total": total,
        }

    async def run_phase(
        self,
        name: str,
        ids: list[uuid.UUID],
        client_id: uuid.UUID,
        key_prefix: str,
        progress: Callable[[], Awaitable[tuple[int, bool, dict[str, Any]]]],
        limit_s: float,
    ) -> PhaseResult:
        """Enqueue one job per source and poll `progress` (-> done, finished, checks) every 100 ms."""
        await self.refresh_pg_pids()
        analyzer = asyncio.create_task(self.analyze_periodically()) if self.args.analyze_every else None
        before = self.cpu_snapshot()
        started = time.perf_counter()
        await self.enqueue_all(ids, client_id, key_prefix)
        enqueued = time.perf_counter() - started
        done, finished, checks = 0, False, {}
        while True:
            done, finished, checks = await progress()
            elapsed = time.perf_counter() - started
            if finished or elapsed > limit_s:
                break
            if self.worker.poll() is not None:
                raise RuntimeError(f"The worker exited ({self.worker.returncode}):\n{tail(self.tmp / 'worker.log')}")
            await asyncio.sleep(POLL_INTERVAL)
        after = self.cpu_snapshot()
        if analyzer is not None:
            analyzer.cancel()
            await asyncio.gather(analyzer, return_exceptions=True)
        # Backends opened during the phase started at ~0 CPU: count them from zero.
        await self.refresh_pg_pids()
        after["postgres"] = sum(cpu_seconds(pid) for pid in self.pg_pids)
        cpu = {key: after[key] - before[key] for key in before}
        checks["enqueue_seconds"] = round(enqueued, 3)
        return PhaseResult(name, len(ids), elapsed, done, not finished, cpu, checks)

    async def analyze_periodically(self) -> None:
        """--analyze-every: what autovacuum's ANALYZE would do on a server that runs it (this
        machine's PostgreSQL has autovacuum = off): fresh statistics for source_items."""
        from sqlalchemy import text

        while True:
            await asyncio.sleep(self.args.analyze_every)
            async with self.engine.connect() as connection:
                await connection.execute(text("ANALYZE source_items"))
                await connection.commit()

    def fresh_progress(self, client_id: uuid.UUID, count: int) -> Callable[[], Awaitable[tuple[int, bool, dict]]]:
        expected_items = count * self.args.items

        async def progress() -> tuple[int, bool, dict[str, Any]]:
            fetched, errors = await self.scalar_row(
                "SELECT count(*) FILTER (WHERE last_fetched_at IS NOT NULL), "
                "count(*) FILTER (WHERE last_error IS NOT NULL) FROM sources WHERE client_id = :c",
                c=client_id,
            )
            checks: dict[str, Any] = {"errors": errors}
            if fetched < count:
                return fetched, False, checks
            (items,) = await self.scalar_row("SELECT count(*) FROM source_items WHERE client_id = :c", c=client_id)
            checks["items"] = items
            checks["items_expected"] = expected_items
            return fetched, items >= expected_items or errors > 0, checks

        return progress

    async def not_modified_progress(
        self, client_id: uuid.UUID, count: int
    ) -> Callable[[], Awaitable[tuple[int, bool, dict]]]:
        (mark,) = await self.scalar_row("SELECT max(last_fetched_at) FROM sources WHERE client_id = :c", c=client_id)

        async def progress() -> tuple[int, bool, dict[str, Any]]:
            fetched, not_modified, errors, other_status = await self.scalar_row(
                "SELECT count(*), "
                "count(*) FILTER (WHERE last_status_code = 304 AND items_new_last = 0), "
                "count(*) FILTER (WHERE last_error IS NOT NULL), "
                "count(*) FILTER (WHERE last_status_code IS DISTINCT FROM 304) "
                "FROM sources WHERE client_id = :c AND last_fetched_at > :mark",
                c=client_id,
                mark=mark,
            )
            checks = {"not_modified": not_modified, "errors": errors, "other_status": other_status}
            return fetched, fetched >= count, checks

        return progress

    async def warm_up(self) -> None:
        """Worker start-up, imports, SQL compilation caches and connection pools: outside the timings."""
        started = time.perf_counter()
        fresh = await self.run_phase(
            "warm-up fresh",
            self.warmup_ids,
            self.warmup_client_id,
            "bench-warmup-fresh",
            self.fresh_progress(self.warmup_client_id, len(self.warmup_ids)),
            limit_s=90,
        )
        if fresh.timed_out:
            raise RuntimeError(f"The worker did not process the warm-up jobs:\n{tail(self.tmp / 'worker.log')}")
        cached = await self.run_phase(
            "warm-up 304",
            self.warmup_ids,
            self.warmup_client_id,
            "bench-warmup-304",
            await self.not_modified_progress(self.warmup_client_id, len(self.warmup_ids)),
            limit_s=60,
        )
        if cached.timed_out:
            raise RuntimeError(f"The worker did not process the warm-up 304 jobs:\n{tail(self.tmp / 'worker.log')}")
        log(f"worker ready and warmed up in {time.perf_counter() - started:.1f} s (pid {self.worker.pid})")

    async def error_summary(self, client_id: uuid.UUID) -> list[tuple[str, int]]:
        from sqlalchemy import text

        from app.db.session import scoped_session

        async with scoped_session(self.session_maker, system=True) as session:
            rows = await session.execute(
                text(
                    "SELECT last_error, count(*) FROM sources WHERE client_id = :c AND last_error IS NOT NULL "
                    "GROUP BY last_error ORDER BY count(*) DESC LIMIT 5"
                ),
                {"c": client_id},
            )
            return [(row[0], row[1]) for row in rows]

    # -- cleanup --

    async def cleanup(self) -> None:
        stop_process(self.worker)
        stop_process(self.server)
        if self.queue is not None:
            with contextlib.suppress(Exception):
                await self.queue.disconnect()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.dispose()
        if self.database_created:
            from app.db.bootstrap import drop_database

            try:
                await drop_database(ADMIN_URL, self.ids.database)
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                log(f"! could not drop database {self.ids.database}: {exc}")
        try:
            await self.delete_redis_keys()
        except Exception as exc:  # noqa: BLE001
            log(f"! could not delete Redis keys {self.ids.prefix}*: {exc}")
        if self.args.keep_logs:
            log(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def delete_redis_keys(self) -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        try:
            prefix = self.ids.prefix
            our_ids = {str(i) for i in self.source_ids + self.warmup_ids}
            for pattern in (f"{prefix}*", f"saq:{prefix}:*", f"saq:job:{prefix}:*", "saq:abort:bench-*"):
                keys = [
                    key
                    async for key in redis.scan_iter(match=pattern, count=1000)
                    if not pattern.startswith("saq:abort:") or key.decode().rsplit(":", 1)[-1] in our_ids
                ]
                for start in range(0, len(keys), 500):
                    await redis.delete(*keys[start : start + 500])
        finally:
            await redis.aclose()


async def remove_run_data(ids: RunIds, tmp: Path, *, database_created: bool, keep_logs: bool) -> None:
    """A bench's own database, Redis keys (ours and SAQ's for our queue) and temporary folder."""
    if database_created:
        from app.db.bootstrap import drop_database

        try:
            await drop_database(ADMIN_URL, ids.database)
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning
            log(f"! could not drop database {ids.database}: {exc}")
    try:
        from redis.asyncio import Redis

        redis = Redis.from_url(REDIS_URL)
        try:
            for pattern in (f"{ids.prefix}*", f"saq:{ids.prefix}:*", f"saq:job:{ids.prefix}:*"):
                keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
                for start in range(0, len(keys), 500):
                    await redis.delete(*keys[start : start + 500])
        finally:
            await redis.aclose()
    except Exception as exc:  # noqa: BLE001
        log(f"! could not delete Redis keys {ids.prefix}*: {exc}")
    if keep_logs:
        log(f"logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def describe_phase(phase: PhaseResult) -> list[str]:
    cpu = phase.cpu
    wall = phase.seconds
    per = 1000 / max(phase.done, 1)
    others = cpu["machine_busy"] - cpu["worker"] - cpu["feed_server"] - cpu["postgres"] - cpu["bench"]
    cores = cpu["machine_total"] / wall if wall else 0
    lines = [
        f"{phase.name}: {phase.done}/{phase.sources} sources in {wall:.2f} s = {phase.per_second:.1f} sources/s"
        + ("  (TIMED OUT)" if phase.timed_out else ""),
        f"  CPU in the phase: worker {cpu['worker']:.2f} s ({cpu['worker'] / wall:.0%} of one core, "
        f"{cpu['worker'] * per:.2f} ms/source), postgres backends {cpu['postgres']:.2f} s "
        f"({cpu['postgres'] * per:.2f} ms/source), feed server {cpu['feed_server']:.2f} s "
        f"({cpu['feed_server'] * per:.2f} ms/source), bench {cpu['bench']:.2f} s, "
        f"everything else {max(others, 0):.2f} s; "
        f"machine busy {cpu['machine_busy'] / max(cpu['machine_total'], 1e-9):.0%} of {cores:.0f} cores",
        "  checks: " + ", ".join(f"{k}={v}" for k, v in phase.checks.items()),
    ]
    return lines


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    log(f"bench run {bench.ids.run_id}: database {bench.ids.database}, Redis prefix {bench.ids.prefix}")
    try:
        started = time.perf_counter()
        await bench.create_database()
        await bench.start_feed_server()
        log(
            f"feed server on 127.0.0.1-127.0.0.{HOSTS + 1}:{bench.port} (pid {bench.server.pid}), "
            f"{args.sources + WARMUP_SOURCES} feeds x {args.items} items" + (", gzip" if args.gzip else "")
        )
        server = await bench.measure_feed_server()
        log(
            "feed server alone (httpx, 32 concurrent, client-bound): "
            f"200: {server['server_200_req_per_s']:.0f} req/s, "
            f"server CPU {server['server_200_cpu_ms_per_req']:.3f} ms/req; "
            f"304: {server['server_304_req_per_s']:.0f} req/s, "
            f"server CPU {server['server_304_cpu_ms_per_req']:.3f} ms/req"
        )
        await bench.insert_sources()
        setup_s = time.perf_counter() - started
        log(f"{args.sources} sources inserted (+{WARMUP_SOURCES} warm-up); set-up took {setup_s:.1f} s")
        await bench.start_worker()
        await bench.warm_up()

        fresh = await bench.run_phase(
            "(b) fresh",
            bench.source_ids,
            bench.client_id,
            "bench-fresh",
            bench.fresh_progress(bench.client_id, args.sources),
            limit_s=args.timeout,
        )
        for line in describe_phase(fresh):
            log(line)
        cached = await bench.run_phase(
            "(a) 304",
            bench.source_ids,
            bench.client_id,
            "bench-304",
            await bench.not_modified_progress(bench.client_id, args.sources),
            limit_s=args.timeout,
        )
        for line in describe_phase(cached):
            log(line)
        if cached.done and cached.checks.get("not_modified") != cached.done:
            log(
                f"  ! only {cached.checks.get('not_modified')} of {cached.done} fetches were recorded as "
                "304 with no new items"
            )

        peak_rss = status_mb(bench.worker.pid, "VmHWM")
        rss_now = status_mb(bench.worker.pid, "VmRSS")
        log(f"worker memory: peak RSS (VmHWM) {peak_rss:.1f} MB, RSS now {rss_now:.1f} MB")
        (errors,) = await bench.scalar_row(
            "SELECT count(*) FROM sources WHERE client_id = :c AND last_error IS NOT NULL", c=bench.client_id
        )
        for message, count in await bench.error_summary(bench.client_id):
            log(f"  error x{count}: {message}")
        worker_log = tail(bench.tmp / "worker.log", 2000)
        tracebacks = worker_log.count("Traceback")
        if tracebacks:
            log(f"  ! the worker logged {tracebacks} tracebacks; last lines:\n{tail(bench.tmp / 'worker.log', 20)}")
        targets = [
            ("(a) 304", cached.per_second, ">=", 300),
            ("(b) fresh", fresh.per_second, ">=", 65),
            ("peak memory MB", peak_rss, "<", 300),
        ]
        for label, value, op, target in targets:
            ok = value >= target if op == ">=" else value < target
            log(f"target {label}: {value:.1f} {op} {target}: {'met' if ok else 'MISSED'}")
        return {
            "sources_304_per_s": round(cached.per_second, 1),
            "sources_fresh_per_s": round(fresh.per_second, 1),
            "peak_rss_mb": round(peak_rss, 1),
            "sources": args.sources,
            "items_per_feed": args.items,
            "errors": errors,
            "complete": not (fresh.timed_out or cached.timed_out),
            "fresh_seconds": round(fresh.seconds, 3),
            "not_modified_seconds": round(cached.seconds, 3),
            "worker_cpu_ms_per_source_fresh": round(fresh.cpu["worker"] * 1000 / max(fresh.done, 1), 2),
            "worker_cpu_ms_per_source_304": round(cached.cpu["worker"] * 1000 / max(cached.done, 1), 2),
            "postgres_cpu_ms_per_source_fresh": round(fresh.cpu["postgres"] * 1000 / max(fresh.done, 1), 2),
            "postgres_cpu_ms_per_source_304": round(cached.cpu["postgres"] * 1000 / max(cached.done, 1), 2),
            "server_304_req_per_s": round(server["server_304_req_per_s"]),
            "server_200_req_per_s": round(server["server_200_req_per_s"]),
            "worker_concurrency": args.concurrency or "app default",
            "worker_uvloop": args.uvloop,
            "analyze_every_s": args.analyze_every,
            "gzip": args.gzip,
        }
    except Exception:
        if bench.worker is not None and tail(bench.tmp / "worker.log"):
            log(f"worker log (last lines):\n{tail(bench.tmp / 'worker.log')}")
        raise
    finally:
        await bench.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Zavod collection benchmark (issue 3).")
    parser.add_argument("--sources", type=int, default=1000, help="number of feed sources (default 1000)")
    parser.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    parser.add_argument("--timeout", type=float, default=150, help="seconds allowed per phase (default 150)")
    parser.add_argument("--gzip", action="store_true", help="serve the feeds gzip-compressed")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="override the worker's SAQ concurrency (experiments only)"
    )
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=0,
        help="run ANALYZE source_items every so many seconds during the phases, as autovacuum would "
        "(experiments only; off by default)",
    )
    parser.add_argument("--uvloop", action="store_true", help="run the worker on uvloop (experiments only)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the worker and feed server logs")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(args)

    try:
        summary = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; the bench database and Redis keys were removed")
        raise SystemExit(130) from None
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
