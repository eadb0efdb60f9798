"""Where the worker's time goes: the collection bench run in ONE process under cProfile.

    cd /work/main && uv run python bench/profile_collect.py [--sources 300] [--items 50] [--top 30]

Same set-up as collect_bench.py (own database and Redis prefix, local feed server, warm-up), but the
SAQ worker (tasks.worker settings, without its cron jobs) runs inside this process, in the event
loop that cProfile watches. For the fresh and the 304 phase it prints:

* time by package (own time of every function, summed per library, and C functions by name);
* the functions with the most own time.

Read the shares, not the absolute numbers: cProfile slows pure-Python code more than C code, and
its clock is wall time (another process taking the core shows up too). Cumulative times are not
printed: SQLAlchemy's asyncio layer runs on greenlets, which cProfile attributes wrongly; for the
cost of each stage use bench/stages.py. collect_bench.py gives the real rates.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect_bench import Bench, describe_phase, log  # noqa: E402

PACKAGES = [
    "sqlalchemy",
    "asyncpg",
    "advanced_alchemy",
    "feedparser",
    "sgmllib",
    "nh3",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "saq",
    "redis",
    "asyncio",
    "uvloop",
    "json",
    "re",
    "html",
    "xml",
    "urllib",
    "logging",
    "uuid",
    "datetime",
    "app/sources/parsing",
    "app/sources",
    "app/net",
    "app/db",
    "app",
    "tasks",
]


class InProcessWorker:
    """Looks like a Popen to Bench.run_phase: pid is this process, poll() tells if the task died."""

    def __init__(self, task: asyncio.Task) -> None:
        self.task = task
        self.pid = os.getpid()
        self.returncode = None

    def poll(self) -> int | None:
        if self.task.done():
            self.returncode = 1
            return 1
        return None


def package_of(filename: str) -> str:
    path = filename.replace("\\", "/")
    if filename.startswith("<") or filename == "~":
        return "builtins/C"
    for name in PACKAGES:
        if f"/{name}/" in path or path.endswith(f"/{name}.py"):
            return name
    if "/lib/python3" in path and "site-packages" not in path:
        return "stdlib (other)"
    return "other"


def report(profile: cProfile.Profile, label: str, jobs: int, top: int) -> None:
    stats = pstats.Stats(profile)
    raw = stats.stats  # (file, line, func) -> (cc, nc, tt, ct, callers)
    total = sum(v[2] for v in raw.values())
    log(f"\n=== {label}: {jobs} jobs, profiled CPU {total:.2f} s = {total * 1000 / jobs:.2f} ms/job ===")
    by_package: dict[str, float] = {}
    for (filename, _line, name), value in raw.items():
        key = package_of(filename)
        if key == "builtins/C":
            key = f"C: {name.split(' of ')[0][:60]}"
        by_package[key] = by_package.get(key, 0.0) + value[2]
    log("own time by package or C function (ms/job):")
    for key, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:25]:
        log(f"  {key:<62} {seconds * 1000 / jobs:8.2f}  ({seconds / total:5.1%})")
    log(f"top {top} functions by own time:")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in rows:
        short = "/".join(filename.split("/")[-3:])
        log(
            f"  {own * 1000 / jobs:7.3f} ms/job own, {cumulative * 1000 / jobs:7.3f} cum, "
            f"{calls / jobs:7.1f} calls/job  {short}:{line} {name}"
        )


async def run(args: argparse.Namespace) -> None:
    bench = Bench(args)
    log(f"profile run {bench.ids.run_id}: database {bench.ids.database}")
    worker = None
    task = None
    try:
        await bench.create_database()
        await bench.start_feed_server()
        await bench.insert_sources()

        from saq import Queue, Worker

        import tasks.worker as worker_module

        options = {k: v for k, v in worker_module.settings.items() if k != "cron_jobs"}
        if args.concurrency:
            options["concurrency"] = args.concurrency
        worker = Worker(**options)
        task = asyncio.create_task(worker.start())
        bench.worker = InProcessWorker(task)
        bench.queue = Queue.from_url(os.environ["REDIS_URL"], name=f"{bench.ids.prefix}:jobs")
        await bench.queue.connect()
        await bench.warm_up()

        for name, key, progress in (
            ("(b) fresh", "bench-fresh", bench.fresh_progress(bench.client_id, args.sources)),
            ("(a) 304", "bench-304", None),
        ):
            if progress is None:
                progress = await bench.not_modified_progress(bench.client_id, args.sources)
            profile = cProfile.Profile()
            profile.enable()
            phase = await bench.run_phase(name, bench.source_ids, bench.client_id, key, progress, args.timeout)
            profile.disable()
            for line in describe_phase(phase):
                log(line)
            report(profile, f"{name} under cProfile", phase.done, args.top)
    finally:
        if worker is not None:
            await worker.stop()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        bench.worker = None
        await bench.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="Profile the collection path in one process.")
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=150)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--analyze-every", type=float, default=0)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    args.uvloop = False
    # As `saq` (the CLI) does before the worker's own start-up: WARNING, so no log line per job.
    logging.basicConfig(level=logging.WARNING)

    async def guarded() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        await run(args)

    started = time.perf_counter()
    try:
        asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; the bench database and Redis keys were removed")
        raise SystemExit(130) from None
    log(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
