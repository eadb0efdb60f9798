"""Publishing benchmark: N publications due in the same minute across K clients, SAQ workers racing.

    cd /work/main && uv run python bench/publish_bench.py [--publications 1000] [--clients 100]
        [--workers 2] [--lead 20]

What it does (issue 6, "Benchmark"):

1. Creates its own database `zavod_bench_<random>` (app role, Alembic migrations) and Redis prefix
   `zavodbench:<random>`; both are removed at the end, also on failure or Ctrl-C.
2. Makes K clients, each with its Reader channel, and N approved stories spread over them, each with
   a publication on the Reader due at the same instant T (now + `--lead` seconds), and enqueues one
   SAQ job per publication, scheduled for T, as scheduling in the app does. Channels that talk to a
   network (Telegram, Instagram, YouTube) are measured against their fakes in their own tests; the
   Reader is the transport every client has, so this measures Zavod's own path: SAQ scheduling,
   the claim (one conditional UPDATE), the transport, the result, the event.
3. Starts `--workers` worker processes (`saq tasks.worker.settings`): they race for the same jobs,
   and each runs the every-minute sweep, which also publishes whatever is due. Exactly once must
   hold anyway.
4. Waits until every publication is settled, then reads from the database: lateness per
   publication (published_at - scheduled_at), the time from T to the last one (drain), failures;
   and from the client's event stream the "published" events per story: more than one for a story
   is a duplicate publication.
5. Last line: one JSON object {"drain_s", "lateness_p95_s", "duplicates", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect_bench import (  # noqa: E402 - the same database / process helpers as the collection bench
    ADMIN_URL,
    PG_HOSTPORT,
    REDIS_URL,
    RunIds,
    configure_environment,
    log,
    remove_run_data,
    run_migrations,
    spawn,
    stop_process,
    tail,
)

VENV_BIN = Path(sys.executable).parent


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class PublishBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ids = RunIds()
        self.tmp = Path(tempfile.mkdtemp(prefix="zavod-publish-bench-"))
        self.env = configure_environment(self.ids, self.tmp / "media")
        self.database_created = False
        self.workers: list[Any] = []

    async def create_database(self) -> None:
        from app.db.bootstrap import ensure_role_and_database

        await ensure_role_and_database(ADMIN_URL, self.ids.database_url)
        self.database_created = True
        await asyncio.to_thread(run_migrations, self.ids.database_url)

    async def make_publications(self, due: datetime) -> list[tuple[str, str]]:
        """K clients, N approved stories with a Reader publication due at `due`; (client, publication) ids."""
        from app.config import get_settings
        from app.db.session import create_engine, create_session_maker, scoped_session, within_client
        from app.publishing.models import Publication
        from app.publishing.services import reader_channel
        from app.stories.models import Story, StoryStatus, StoryVersion
        from app.tenancy.services import create_client

        engine = create_engine(get_settings())
        made: list[tuple[str, str]] = []
        try:
            async with scoped_session(create_session_maker(engine), system=True) as session:
                for n in range(self.args.clients):
                    client = await create_client(session, name=f"Client {n}", slug=f"c{n}-{self.ids.run_id}")
                    async with within_client(session, client.id):
                        channel = await reader_channel(session, client.id)
                        share = self.args.publications // self.args.clients + (
                            1 if n < self.args.publications % self.args.clients else 0
                        )
                        for k in range(share):
                            story = Story(client_id=client.id, status=StoryStatus.SCHEDULED)
                            session.add(story)
                            await session.flush()
                            version = StoryVersion(
                                client_id=client.id, story_id=story.id, title=f"Story {n}.{k}", body="Text."
                            )
                            session.add(version)
                            await session.flush()
                            story.current_version_id = version.id
                            publication = Publication(
                                client_id=client.id,
                                story_id=story.id,
                                story_version_id=version.id,
                                channel_id=channel.id,
                                scheduled_at=due,
                            )
                            session.add(publication)
                            await session.flush()
                            made.append((str(client.id), str(publication.id)))
        finally:
            await engine.dispose()
        return made

    async def enqueue(self, made: list[tuple[str, str]], due: datetime) -> None:
        """One SAQ job per publication, scheduled for `due`, as the app's scheduling does."""
        from uuid import UUID

        from saq import Queue

        from app.config import get_settings
        from app.publishing.models import Publication
        from app.publishing.services import enqueue_publication

        settings = get_settings()
        queue = Queue.from_url(settings.redis_url, name=settings.queue_name)
        await queue.connect()
        try:
            for client_id, publication_id in made:
                publication = Publication(
                    id=UUID(publication_id), client_id=UUID(client_id), scheduled_at=due, attempts=0
                )
                await enqueue_publication(queue, publication)
        finally:
            await queue.disconnect()

    def start_workers(self) -> None:
        for n in range(self.args.workers):
            args = [str(VENV_BIN / "saq"), "tasks.worker.settings"]
            self.workers.append(spawn(args, self.env, self.tmp / f"worker-{n}.log"))

    async def settled(self) -> tuple[int, int]:
        """(publications still scheduled or publishing, total)."""
        import asyncpg

        connection = await asyncpg.connect(self.admin_dsn)
        try:
            row = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE status IN ('scheduled', 'publishing')) AS open, count(*) AS total "
                "FROM publications"
            )
            return row["open"], row["total"]
        finally:
            await connection.close()

    @property
    def admin_dsn(self) -> str:
        return f"{ADMIN_URL.rsplit('/', 1)[0]}/{self.ids.database}"

    async def results(self, due: datetime) -> dict[str, Any]:
        import asyncpg
        from redis.asyncio import Redis

        connection = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await connection.fetch("SELECT client_id, status, published_at, scheduled_at FROM publications")
            clients = [r["id"] for r in await connection.fetch("SELECT id FROM clients")]
        finally:
            await connection.close()
        published = [r for r in rows if r["status"] == "published"]
        lateness = [(r["published_at"] - due).total_seconds() for r in published]
        last = max((r["published_at"] for r in published), default=due)

        # A duplicate publication shows as a second "published" event for the same story.
        redis = Redis.from_url(REDIS_URL)
        events: Counter[str] = Counter()
        try:
            for client_id in clients:
                key = f"{self.ids.prefix}:events:{client_id}"
                for _id, data in await redis.xrange(key):
                    if data.get(b"kind") == b"publication" and data.get(b"status") == b"published":
                        events[data[b"story_id"].decode()] += 1
        finally:
            await redis.aclose()
        return {
            "published": len(published),
            "failed": sum(1 for r in rows if r["status"] != "published"),
            "drain_s": round((last - due).total_seconds(), 2),
            "lateness_p50_s": round(percentile(lateness, 0.5), 2),
            "lateness_p95_s": round(percentile(lateness, 0.95), 2),
            "lateness_max_s": round(max(lateness, default=0.0), 2),
            "duplicates": sum(n - 1 for n in events.values() if n > 1),
        }

    async def cleanup(self) -> None:
        for worker in self.workers:
            stop_process(worker)
        await remove_run_data(self.ids, self.tmp, database_created=self.database_created, keep_logs=self.args.keep_logs)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = PublishBench(args)
    try:
        log(f"database {bench.ids.database} on {PG_HOSTPORT}")
        await bench.create_database()
        started = time.perf_counter()
        due = (datetime.now(UTC) + timedelta(seconds=args.lead)).replace(microsecond=0)
        made = await bench.make_publications(due)
        await bench.enqueue(made, due)
        log(
            f"{len(made)} publications in {args.clients} clients, due {due:%H:%M:%S} UTC "
            f"(made and enqueued in {time.perf_counter() - started:.1f} s)"
        )
        if datetime.now(UTC) > due - timedelta(seconds=3):
            raise RuntimeError("setting up took longer than --lead: raise it")
        bench.start_workers()
        deadline = due + timedelta(seconds=args.timeout)
        while datetime.now(UTC) < deadline:
            await asyncio.sleep(0.5)
            for n, worker in enumerate(bench.workers):
                if worker.poll() is not None:
                    raise RuntimeError(tail(bench.tmp / f"worker-{n}.log"))
            if datetime.now(UTC) > due:
                open_count, _total = await bench.settled()
                if open_count == 0:
                    break
        results = await bench.results(due)
        log(f"published {results['published']}, failed {results['failed']}, duplicates {results['duplicates']}")
        log(
            f"drain {results['drain_s']} s after the due time; lateness p50 {results['lateness_p50_s']} s, "
            f"p95 {results['lateness_p95_s']} s, max {results['lateness_max_s']} s"
        )
        return {**results, "publications": len(made), "clients": args.clients, "workers": args.workers}
    finally:
        await bench.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publications", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="worker processes racing for the jobs")
    parser.add_argument("--lead", type=float, default=40.0, help="seconds from setup to the due time")
    parser.add_argument("--timeout", type=float, default=180.0, help="give up this long after the due time")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(args)

    try:
        summary = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; the bench database and Redis keys were removed")
        raise SystemExit(130) from None
    log(json.dumps(summary))


if __name__ == "__main__":
    main()
