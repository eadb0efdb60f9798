"""The app's SAQ worker settings with experiment knobs, for the benchmark only.

    BENCH_WORKER_CONCURRENCY=20 BENCH_WORKER_UVLOOP=1 saq bench.worker_settings.settings

collect_bench.py uses this module only when given --concurrency or --uvloop; by default it runs the
app's own `tasks.worker.settings` unchanged. SAQ's CLI imports the settings before it creates its
event loop, so installing uvloop's policy here makes the worker run on uvloop.
"""

from __future__ import annotations

import asyncio
import os

from tasks.worker import settings as app_settings

if os.environ.get("BENCH_WORKER_UVLOOP") == "1":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

settings = {**app_settings}
if os.environ.get("BENCH_WORKER_CONCURRENCY"):
    settings["concurrency"] = int(os.environ["BENCH_WORKER_CONCURRENCY"])
