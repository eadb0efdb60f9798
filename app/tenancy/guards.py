"""The first tenancy wall: every page under /c/{client_slug}/ declares the role it needs.

Controllers put `guards=[requires(Role.EDITOR)]` on the whole controller, never route by route.
A signed-in user with no membership of the client gets 404 (we do not reveal that the client
exists); a member whose role is too low gets 403. The agency admin acts as owner everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.db.session import scoped_session
from app.i18n import gettext as _
from app.tenancy.models import Client, Membership, Role


@dataclass(frozen=True)
class TenantContext:
    client: Client
    role: Role
    user: User

    def can(self, role: Role) -> bool:
        return self.role.allows(role)


# Where SessionUserMiddleware leaves the client + role it read with the user (one transaction
# for both instead of two per request); absent when the middleware did not look.
PRELOADED_TENANT = "preloaded_tenant"


async def load_client_and_role(session: AsyncSession, slug: str, user_id: UUID) -> tuple[Client, str | None] | None:
    """The client with this slug and the user's role in it (None: no membership); None if no such client.

    The session must be scoped to the user: memberships are tenant rows, and RLS lets a user read
    their own across clients.
    """
    row = (
        await session.execute(
            select(Client, Membership.role)
            .outerjoin(Membership, (Membership.client_id == Client.id) & (Membership.user_id == user_id))
            .where(Client.slug == slug)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def resolve_tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> TenantContext:
    """Look up the client of the URL and the signed-in user's role in it (cached per request)."""
    cached = connection.state.get("tenant")
    if cached is not None:
        return cached
    user: User | None = connection.scope.get("user")
    if user is None:
        raise NotAuthorizedException()
    slug = connection.path_params.get("client_slug", "")
    preloaded = connection.state.get(PRELOADED_TENANT)
    if preloaded is not None and preloaded[0] == slug:
        row = preloaded[1]
    else:
        async with scoped_session(connection.app.state.session_maker, user_id=user.id) as session:
            row = await load_client_and_role(session, slug, user.id)
    if row is None:
        raise NotFoundException()
    client, role_name = row
    if role_name is None and not user.is_agency_admin:
        raise NotFoundException()
    role = Role.OWNER if user.is_agency_admin else Role(role_name)
    tenant = TenantContext(client=client, role=role, user=user)
    connection.state.tenant = tenant
    return tenant


def requires(role: Role) -> Guard:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        tenant = await resolve_tenant(connection)
        if not tenant.can(role):
            raise PermissionDeniedException(_("Your role in this client does not allow this page."))

    guard.__name__ = f"requires_{role.value}"
    return guard


async def requires_agency_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    user: User | None = connection.scope.get("user")
    if user is None:
        raise NotAuthorizedException()
    if not user.is_agency_admin:
        raise PermissionDeniedException(_("Only the agency admin can do this."))
