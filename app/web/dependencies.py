"""Per-request dependencies shared by every controller."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.di import Provide
from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.session import scoped_session
from app.events.bus import publish_pending
from app.storage import MediaStorage
from app.tenancy.guards import TenantContext, resolve_tenant

logger = logging.getLogger("zavod.web")


async def provide_db_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request, scoped to the request's tenant and user for RLS; the events it
    noted (app.events.bus.publish_after_commit) go out once it has committed."""
    tenant: TenantContext | None = request.state.get("tenant")
    user = request.scope.get("user")
    async with scoped_session(
        request.app.state.session_maker,
        client_id=tenant.client.id if tenant else None,
        user_id=user.id if user else None,
    ) as session:
        yield session
    try:
        await publish_pending(session, request.app.state.redis, request.app.state.settings)
    except RedisError:
        # The change is saved; only the live refresh of other open pages is lost.
        logger.warning("Could not publish the request's events", exc_info=True)


async def provide_tenant(request: Request[Any, Any, Any]) -> TenantContext:
    return await resolve_tenant(request)


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


def provide_storage(request: Request[Any, Any, Any]) -> MediaStorage:
    return request.app.state.storage


def provide_queue(request: Request[Any, Any, Any]) -> Queue:
    return request.app.state.queue


def provide_redis(request: Request[Any, Any, Any]) -> Redis:
    return request.app.state.redis


DEPENDENCIES = {
    "db_session": Provide(provide_db_session),
    "tenant": Provide(provide_tenant),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "storage": Provide(provide_storage, sync_to_thread=False),
    "queue": Provide(provide_queue, sync_to_thread=False),
    "redis": Provide(provide_redis, sync_to_thread=False),
}
