"""Status events: a bounded Redis stream per client.

Workers and web handlers append small events (kind + ids); the SSE endpoint reads the stream from
the browser's Last-Event-ID, so a reconnect loses nothing, and renders each event into a fragment
for the reader's own locale and access at send time.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.config import Settings

STREAM_MAXLEN = 1000
# Events noted during a web request's transaction, sent once it has committed (see
# app.web.dependencies): a page that refetches on the event must find the new state.
PENDING_EVENTS = "pending_events"


def stream_key(settings: Settings, client_id: UUID) -> str:
    return f"{settings.redis_prefix}:events:{client_id}"


async def publish_event(redis: Redis, settings: Settings, client_id: UUID, kind: str, **fields: Any) -> str:
    payload = {"kind": kind, **{k: str(v) for k, v in fields.items()}}
    event_id = await redis.xadd(stream_key(settings, client_id), payload, maxlen=STREAM_MAXLEN, approximate=True)
    return event_id.decode() if isinstance(event_id, bytes) else str(event_id)


def publish_after_commit(session: AsyncSession, client_id: UUID, kind: str, **fields: Any) -> None:
    """Send this event when the session's transaction commits; a rollback drops it."""
    session.info.setdefault(PENDING_EVENTS, []).append((client_id, kind, fields))


async def publish_pending(session: AsyncSession, redis: Redis, settings: Settings) -> None:
    for client_id, kind, fields in session.info.pop(PENDING_EVENTS, []):
        await publish_event(redis, settings, client_id, kind, **fields)


@event.listens_for(Session, "after_rollback")
def _drop_pending_on_rollback(session: Session) -> None:
    session.info.pop(PENDING_EVENTS, None)


async def last_event_id(redis: Redis, settings: Settings, client_id: UUID) -> str:
    """The id to resume from for a page being rendered now: read it BEFORE loading the page's state."""
    entries = await redis.xrevrange(stream_key(settings, client_id), count=1)
    if not entries:
        return "0-0"
    event_id = entries[0][0]
    return event_id.decode() if isinstance(event_id, bytes) else str(event_id)


async def read_events(
    redis: Redis, settings: Settings, client_id: UUID, after_id: str, block_ms: int
) -> list[tuple[str, dict[str, str]]]:
    result = await redis.xread({stream_key(settings, client_id): after_id}, count=100, block=block_ms)
    events: list[tuple[str, dict[str, str]]] = []
    for _stream, entries in result or []:
        for event_id, data in entries:
            decoded = {
                (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in data.items()
            }
            events.append((event_id.decode() if isinstance(event_id, bytes) else event_id, decoded))
    return events
