"""The tenant-scoped repository base: the second wall of tenancy.

A `TenantRepository` is built with a `client_id`; every select, update and delete it issues is
filtered by it and every row it adds gets it. Looking up another tenant's id gives NotFound, never
the row. Row-level security in PostgreSQL stands behind it as the third wall.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.interfaces import ORMOption

from app.db.base import TenantMixin

ModelT = TypeVar("ModelT", bound=TenantMixin)


class TenantRepository(Generic[ModelT]):
    model_type: type[ModelT]

    def __init__(self, session: AsyncSession, client_id: UUID) -> None:
        if client_id is None:
            raise ValueError("A tenant repository needs a client_id.")
        self.session = session
        self.client_id = client_id

    def select(self, *options: ORMOption) -> Select[tuple[ModelT]]:
        """The base query of this tenant; every read starts here."""
        stmt = select(self.model_type).where(self.model_type.client_id == self.client_id)
        return stmt.options(*options) if options else stmt

    async def get(self, item_id: UUID, *options: ORMOption, for_update: bool = False) -> ModelT:
        stmt = self.select(*options).where(self.model_type.id == item_id)  # type: ignore[attr-defined]
        if for_update:
            # OF the model only: joined-eager relationships must not be locked (nor can they be).
            stmt = stmt.with_for_update(of=self.model_type)
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"{self.model_type.__name__} not found")
        return row

    async def get_one_or_none(self, *where: Any, options: Sequence[ORMOption] = ()) -> ModelT | None:
        stmt = self.select(*options).where(*where)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(
        self, *where: Any, order_by: Any = None, limit: int | None = None, options: Sequence[ORMOption] = ()
    ) -> list[ModelT]:
        stmt = self.select(*options).where(*where)
        if order_by is not None:
            stmt = stmt.order_by(*(order_by if isinstance(order_by, (list, tuple)) else [order_by]))
        if limit is not None:
            stmt = stmt.limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def count(self, *where: Any) -> int:
        stmt = (
            select(func.count()).select_from(self.model_type).where(self.model_type.client_id == self.client_id, *where)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def add(self, item: ModelT) -> ModelT:
        if item.client_id is not None and item.client_id != self.client_id:
            raise ValueError("Refusing to add a row of another tenant.")
        item.client_id = self.client_id
        self.session.add(item)
        await self.session.flush()
        return item

    async def delete(self, item: ModelT) -> None:
        if item.client_id != self.client_id:
            raise NotFoundError(f"{self.model_type.__name__} not found")
        await self.session.delete(item)
        await self.session.flush()
