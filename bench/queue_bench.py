"""Moderation queue benchmark: the queue page and the story page with 100k stories in one client.

    cd /work/main && uv run python bench/queue_bench.py [--stories 100000] [--other-clients 0]
        [--other-stories 10000] [--no-indexes] [--seconds 10] [--concurrency 16]

What it does (issue 5, "Benchmark"):

1. Creates its own database `zavod_bench_<random>` (app role, Alembic migrations, as the tests do)
   and Redis prefix `zavodbench:<random>`; both are removed at the end, also on failure or Ctrl-C.
2. Inserts one client with an editor and N stories (each with a current version whose body holds a
   few words, Russian and English) in one INSERT ... SELECT generate_series per table, as the
   database superuser (row-level security does not apply to it); optionally M more clients with K
   stories each (the defaults, 99 × 9,091, give the issue's 1M across 100 clients).
3. Builds the search index (dropped during the load), compacts the tab counts the triggers
   appended during the load, marks `@@` LEAKPROOF as app.db.bootstrap does (unless
   `--no-leakproof`), VACUUM ANALYZE.
4. Starts ONE uvicorn process (the app as deployed, no access log), signs the editor in, then runs
   the load from a SECOND process (this script with `--load`, httpx on loopback):
   - latency: requests one after another (concurrency 1), p50 / p95 in ms, per URL;
   - throughput: `--concurrency` requests in flight for `--seconds`, requests per second.
5. Prints the figures, and as its LAST line one JSON object:
   {"queue_p95_ms", "queue_p50_ms", "queue_rps", "story_p95_ms", "story_p50_ms", "story_rps", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collect_bench import (  # noqa: E402 - the same database / process helpers as the collection bench
    ADMIN_URL,
    PG_HOSTPORT,
    RunIds,
    configure_environment,
    log,
    remove_run_data,
    run_migrations,
    spawn,
    stop_process,
)

PASSWORD = "bench-password-0123"
# The GIN index of the stored search column is dropped for the bulk load and built once after it
# (maintaining it row by row would make loading 1M stories take many minutes).
SEARCH_INDEX = "CREATE INDEX ix_story_versions_search ON story_versions USING gin (client_id, search)"
WORDS_EN = ["harbour", "ferry", "library", "market", "bakery", "museum", "bridge", "festival", "school", "tram"]
WORDS_RU = ["каток", "парк", "театр", "рынок", "мост", "библиотека", "выставка", "концерт", "школа", "трамвай"]
STATUSES = ["draft"] * 4 + ["approved", "scheduled", "rejected"] + ["published"] * 3


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


# --- the load: runs in a second process ------------------------------------------------------------


async def load(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    import httpx

    cookies = spec["cookies"]
    results: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=spec["base"], cookies=cookies, limits=limits, timeout=30) as client:
        for name, url in spec["latency"].items():
            for _ in range(10):  # warm-up: template cache, prepared statements, pool
                (await client.get(url)).raise_for_status()
            times = []
            # Search without a usable index takes seconds: fewer samples there keep the run short.
            for _ in range(args.requests if "search" not in name else max(10, args.requests // 10)):
                start = time.perf_counter()
                response = await client.get(url)
                times.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status_code}")
            results[name] = {
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(percentile(times, 0.95), 2),
                "bytes": len(response.content),
            }
        for name, url in spec["throughput"].items():
            done = errors = 0
            deadline = time.perf_counter() + args.seconds

            async def worker(url: str = url, deadline: float = deadline) -> None:
                nonlocal done, errors
                while time.perf_counter() < deadline:
                    response = await client.get(url)
                    if response.status_code == 200:
                        done += 1
                    else:
                        errors += 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            seconds = time.perf_counter() - start
            results[name]["rps"] = round(done / seconds, 1)
            results[name]["errors"] = errors
    return results


# --- the bench --------------------------------------------------------------------------------------


class QueueBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ids = RunIds()
        self.tmp = Path(tempfile.mkdtemp(prefix="zavod-queue-bench-"))
        self.env = configure_environment(self.ids, self.tmp / "media")
        self.database_created = False
        self.server: subprocess.Popen | None = None
        self.port = 0

    @property
    def admin_dsn(self) -> str:
        return f"{ADMIN_URL.rsplit('/', 1)[0]}/{self.ids.database}"

    async def create_database(self) -> None:
        from app.db.bootstrap import ensure_role_and_database

        await ensure_role_and_database(ADMIN_URL, self.ids.database_url)
        self.database_created = True
        await asyncio.to_thread(run_migrations, self.ids.database_url)
        import asyncpg

        connection = await asyncpg.connect(self.admin_dsn)
        try:
            await connection.execute("DROP INDEX ix_story_versions_search")
        finally:
            await connection.close()

    async def create_people(self) -> tuple[str, str, str]:
        """The bench client, its editor (email) and one client per `--other-clients`; returns ids as text."""
        from app.auth.models import User
        from app.auth.passwords import hash_password
        from app.config import get_settings
        from app.db.session import create_engine, create_session_maker, scoped_session
        from app.tenancy.models import Membership
        from app.tenancy.services import create_client

        engine = create_engine(get_settings())
        try:
            async with scoped_session(create_session_maker(engine), system=True) as session:
                client = await create_client(session, name="Bench", slug=f"bench-{self.ids.run_id}", language="en")
                user = User(
                    email=f"editor-{self.ids.run_id}@bench.test", name="Editor", password_hash=hash_password(PASSWORD)
                )
                session.add(user)
                await session.flush()
                session.add(Membership(client_id=client.id, user_id=user.id, role="editor"))
                self.others = []
                for n in range(self.args.other_clients):
                    other = await create_client(session, name=f"Other {n}", slug=f"other-{n}-{self.ids.run_id}")
                    self.others.append(str(other.id))
                return str(client.id), client.slug, user.email
        finally:
            await engine.dispose()

    async def insert_stories(self, client_id: str, count: int) -> None:
        """`count` stories with a current version each, two statements (superuser: no RLS)."""
        import asyncpg

        connection = await asyncpg.connect(self.admin_dsn)
        try:
            extra_story = await self.filler_columns(
                connection,
                "stories",
                {"id", "status", "client_id", "created_at", "updated_at", "current_version_id", "created_by_id"},
            )
            extra_version = await self.filler_columns(
                connection,
                "story_versions",
                {"id", "story_id", "number", "title", "lead", "body", "client_id", "created_at", "updated_at"},
            )
            en = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS_EN) + "]"
            ru = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS_RU) + "]"
            statuses = "ARRAY[" + ",".join(f"'{s}'" for s in STATUSES) + "]"
            await connection.execute(
                f"""
                CREATE TEMP TABLE ids AS
                SELECT g, gen_random_uuid() AS story_id, gen_random_uuid() AS version_id,
                       -- a year of stories, three at a time with the same instant (the keyset breaks ties by id)
                       now() - make_interval(secs => ((g / 3) * 945)::double precision) AS at
                FROM generate_series(1, {count}) AS g
                """
            )
            await connection.execute(
                f"""
                INSERT INTO stories (id, status, client_id, created_at, updated_at{extra_story[0]})
                SELECT story_id, ({statuses})[1 + g % {len(STATUSES)}], '{client_id}', at, at{extra_story[1]} FROM ids
                """
            )
            await connection.execute(
                f"""
                INSERT INTO story_versions
                    (id, story_id, number, title, lead, body, client_id, created_at, updated_at{extra_version[0]})
                SELECT version_id, story_id, 1,
                       'Story ' || g || ': the ' || ({en})[1 + g % 10] || ' and the ' || ({en})[1 + (g / 10) % 10],
                       'Lead of story ' || g || ' in the city.',
                       'Body of story ' || g || '. ' || ({ru})[1 + g % 10] || ' и ' || ({ru})[1 + (g / 7) % 10]
                         || ', ' || ({en})[1 + (g / 3) % 10] || '. '
                         || CASE WHEN g % 10000 = 7 THEN 'zeppelin' ELSE '' END
                         || repeat(' More words of the body text to make it a realistic length.', 8),
                       '{client_id}', at, at{extra_version[1]}
                FROM ids
                """
            )
            await connection.execute(
                "UPDATE stories s SET current_version_id = ids.version_id FROM ids WHERE s.id = ids.story_id"
            )
            await connection.execute("DROP TABLE ids")
        finally:
            await connection.close()

    @staticmethod
    async def filler_columns(connection: Any, table: str, given: set[str]) -> tuple[str, str]:
        """NOT NULL columns without a default that later migrations added: filled with a neutral value."""
        rows = await connection.fetch(
            """
            SELECT column_name, data_type FROM information_schema.columns
            WHERE table_name = $1 AND is_nullable = 'NO' AND column_default IS NULL
            """,
            table,
        )
        neutral = {"integer": "0", "bigint": "0", "boolean": "false", "jsonb": "'{}'::jsonb", "text": "''"}
        names, values = [], []
        for row in rows:
            if row["column_name"] in given:
                continue
            names.append(row["column_name"])
            if row["column_name"] in {"captions"}:
                values.append("'{}'::jsonb")
            elif row["column_name"] in {"hashtags"}:
                values.append("'[]'::jsonb")
            else:
                values.append(neutral.get(row["data_type"], "''"))
        return "".join(f", {n}" for n in names), "".join(f", {v}" for v in values)

    async def finish_schema(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.admin_dsn)
        try:
            await connection.execute(SEARCH_INDEX)
            await connection.execute("SELECT compact_story_status_counts()")
            if not self.args.no_leakproof:
                from app.db.bootstrap import allow_indexed_search_under_rls

                await allow_indexed_search_under_rls(ADMIN_URL, self.ids.database)
            # VACUUM too: a table that autovacuum has seen has its visibility map set (index-only scans).
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()

    async def start_server(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        args = [str(Path(sys.executable).parent / "uvicorn"), "app.main:create_app", "--factory"]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        self.server = spawn(args, self.env, self.tmp / "web.log")
        import httpx

        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.server.poll() is not None:
                    raise RuntimeError((self.tmp / "web.log").read_text()[-4000:])
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("uvicorn did not become healthy")

    async def sign_in(self, email: str) -> dict[str, str]:
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            await client.get("/login")
            response = await client.post(
                "/login",
                data={"email": email, "password": PASSWORD, "_csrf_token": client.cookies.get("csrftoken", "")},
            )
            if response.status_code not in (302, 303):
                raise RuntimeError(f"sign-in failed: HTTP {response.status_code}")
            return dict(client.cookies)

    async def first_ids(self, slug: str, cookies: dict[str, str]) -> tuple[str, str]:
        """A story id to open, and the cursor of the queue's second page."""
        import re

        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", cookies=cookies) as client:
            page = (await client.get(f"/c/{slug}/stories")).text
        story = re.search(r'data-story-id="([0-9a-f-]+)"', page)
        cursor = re.search(r'after=([A-Za-z0-9_-]+)" rel="next"', page)
        if not story or not cursor:
            raise RuntimeError("the queue page has no stories or no next page")
        return story.group(1), cursor.group(1)

    async def run_load(self, spec: dict[str, Any]) -> dict[str, Any]:
        spec_path = self.tmp / "load.json"
        spec_path.write_text(json.dumps(spec))
        args = [sys.executable, __file__, "--load", str(spec_path), "--seconds", str(self.args.seconds)]
        args += ["--concurrency", str(self.args.concurrency), "--requests", str(self.args.requests)]
        proc = spawn(args, self.env, self.tmp / "load.log", stdout_pipe=True)
        out, _ = await asyncio.to_thread(proc.communicate)
        if proc.returncode != 0:
            raise RuntimeError((self.tmp / "load.log").read_text()[-4000:])
        return json.loads(out.decode().strip().splitlines()[-1])

    async def cleanup(self) -> None:
        stop_process(self.server)
        await remove_run_data(self.ids, self.tmp, database_created=self.database_created, keep_logs=self.args.keep_logs)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = QueueBench(args)
    try:
        log(f"database {bench.ids.database} on {PG_HOSTPORT}")
        await bench.create_database()
        client_id, slug, email = await bench.create_people()
        started = time.perf_counter()
        await bench.insert_stories(client_id, args.stories)
        for other in bench.others:
            await bench.insert_stories(other, args.other_stories)
        total = args.stories + len(bench.others) * args.other_stories
        log(f"inserted {total} stories in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        await bench.finish_schema()
        log(f"search index + counts + ANALYZE in {time.perf_counter() - started:.1f} s")
        await bench.start_server()
        cookies = await bench.sign_in(email)
        story_id, cursor = await bench.first_ids(slug, cookies)
        base = f"/c/{slug}/stories"
        spec = {
            "base": f"http://127.0.0.1:{bench.port}",
            "cookies": cookies,
            "latency": {
                "queue": base,
                "queue_drafts": f"{base}?status=draft",
                "queue_page2": f"{base}?after={cursor}",
                "queue_search_common": f"{base}?q=ferry",
                "queue_search_rare": f"{base}?q=zeppelin",
                "queue_search_ru": f"{base}?q=каток",
                "story": f"{base}/{story_id}",
            },
            "throughput": {"queue": base, "story": f"{base}/{story_id}"},
        }
        results = await bench.run_load(spec)
        log(f"{'page':22} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
        for name, figures in results.items():
            log(f"{name:22} {figures['p50_ms']:8.1f} {figures['p95_ms']:8.1f} {figures.get('rps', ''):>8}")
        return {
            "queue_p50_ms": results["queue"]["p50_ms"],
            "queue_p95_ms": results["queue"]["p95_ms"],
            "queue_rps": results["queue"]["rps"],
            "story_p50_ms": results["story"]["p50_ms"],
            "story_p95_ms": results["story"]["p95_ms"],
            "story_rps": results["story"]["rps"],
            "queue_search_p95_ms": results["queue_search_common"]["p95_ms"],
            "queue_page2_p95_ms": results["queue_page2"]["p95_ms"],
            "stories_in_client": args.stories,
            "stories_total": total,
            "leakproof": not args.no_leakproof,
            "concurrency": args.concurrency,
            "details": results,
        }
    finally:
        await bench.cleanup()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=100_000, help="stories in the measured client")
    parser.add_argument("--other-clients", type=int, default=99, help="more clients (noise in the same tables)")
    parser.add_argument("--other-stories", type=int, default=9_091, help="stories per other client")
    parser.add_argument(
        "--no-leakproof",
        action="store_true",
        help="leave `@@` as shipped (RLS keeps search off its index)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight during throughput runs")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per latency figure")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load process
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.load:
        print(json.dumps(asyncio.run(load(args, json.loads(Path(args.load).read_text())))), flush=True)
        return

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(args)

    try:
        summary = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; the bench database and Redis keys were removed")
        raise SystemExit(130) from None
    log(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
