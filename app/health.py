"""/health: database, Redis and media storage, each checked for real."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, Response, get
from sqlalchemy import text

from app.db.session import scoped_session

CHECK_TIMEOUT = 3.0


class HealthController(Controller):
    path = "/health"
    opt = {"exclude_from_auth": True}

    @get("/", name="health")
    async def health(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        state = request.app.state

        async def database() -> None:
            async with scoped_session(state.session_maker) as session:
                await session.execute(text("SELECT 1"))

        async def redis() -> None:
            await state.redis.ping()

        async def storage() -> None:
            await state.storage.check()

        checks: dict[str, str] = {}
        for name, check in (("database", database), ("redis", redis), ("storage", storage)):
            try:
                await asyncio.wait_for(check(), CHECK_TIMEOUT)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - health reports every failure, it never raises
                checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        healthy = all(value == "ok" for value in checks.values())
        return Response({"status": "ok" if healthy else "error", "checks": checks}, status_code=200 if healthy else 503)
