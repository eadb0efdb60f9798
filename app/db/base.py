"""Declarative bases shared by every domain.

Every tenant table carries `client_id`; the initial migration enables and forces row-level
security on each of them (see `tenant_tables()`), and `TenantRepository` scopes every query.
"""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

Base = UUIDv7AuditBase


class TenantMixin:
    """Marks a model as tenant data: owned by exactly one client."""

    @declared_attr
    def client_id(cls) -> Mapped[UUID]:  # noqa: N805 - SQLAlchemy declared_attr
        return mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True, nullable=False)


def tenant_tables() -> list[str]:
    """Names of all tables holding tenant data, for RLS and for the isolation tests."""
    mapped = {mapper.local_table.name for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantMixin)}
    # Plain tables (no ORM class) that hold tenant data say so in their `info`.
    plain = {table.name for table in Base.metadata.tables.values() if table.info.get("tenant")}
    return sorted(mapped | plain)
