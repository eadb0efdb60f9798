"""Database engine, sessions and the row-level-security scope of each transaction.

PostgreSQL policies read three transaction-local settings:
- `app.client_id`: the tenant whose rows are visible;
- `app.user_id`: the signed-in user (a user may read their own memberships in every client);
- `app.system`: 'on' for jobs that legitimately span tenants (sweeps, schedulers).
A session carries its scope in `session.info`; the `after_begin` listener applies it with
`set_config(..., true)` at the start of every transaction, so a commit never drops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from app.config import Settings

_SCOPE_SQL = text(
    "SELECT set_config('app.client_id', :client_id, true), "
    "set_config('app.user_id', :user_id, true), "
    "set_config('app.system', :system, true)"
)


def _scope_params(info: dict) -> dict[str, str]:
    client_id = info.get("client_id")
    user_id = info.get("user_id")
    return {
        "client_id": str(client_id) if client_id else "",
        "user_id": str(user_id) if user_id else "",
        "system": "on" if info.get("system") else "off",
    }


@event.listens_for(Session, "after_begin")
def _apply_scope_on_begin(session: Session, transaction, connection) -> None:  # noqa: ANN001
    connection.execute(_SCOPE_SQL, _scope_params(session.info))


async def set_scope(
    session: AsyncSession,
    *,
    client_id: UUID | None = None,
    user_id: UUID | None = None,
    system: bool = False,
) -> None:
    """Change the scope of a session, applying it to the open transaction at once."""
    session.info.update(client_id=client_id, user_id=user_id, system=system)
    if session.in_transaction():
        await session.execute(_SCOPE_SQL, _scope_params(session.info))


@asynccontextmanager
async def within_client(session: AsyncSession, client_id: UUID) -> AsyncIterator[AsyncSession]:
    """Act as one client for a moment (e.g. a just-created client's first rows), then restore the scope."""
    previous = dict(session.info)
    await set_scope(session, client_id=client_id, user_id=previous.get("user_id"), system=bool(previous.get("system")))
    try:
        yield session
    finally:
        await set_scope(
            session,
            client_id=previous.get("client_id"),
            user_id=previous.get("user_id"),
            system=bool(previous.get("system")),
        )


@asynccontextmanager
async def within_all_clients(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Lower the row-level wall for a moment, for agency-wide work only (re-encrypting every
    client's stored credentials), then restore the scope."""
    previous = dict(session.info)
    await set_scope(session, client_id=None, user_id=previous.get("user_id"), system=True)
    try:
        yield session
    finally:
        await set_scope(
            session,
            client_id=previous.get("client_id"),
            user_id=previous.get("user_id"),
            system=bool(previous.get("system")),
        )


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
    )


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: templates render after the handler's transaction has committed.
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def scoped_session(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    client_id: UUID | None = None,
    user_id: UUID | None = None,
    system: bool = False,
) -> AsyncIterator[AsyncSession]:
    """A session in one scope that commits on success and rolls back on error."""
    async with session_maker() as session:
        session.info.update(client_id=client_id, user_id=user_id, system=system)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
