from __future__ import annotations

from typing import Any
from uuid import UUID
from zoneinfo import available_timezones

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.session import scoped_session
from app.i18n import gettext as _
from app.tenancy import services
from app.tenancy.guards import TenantContext, requires, requires_agency_admin
from app.tenancy.models import Membership, Role
from app.web.responses import flash, redirect

COMMON_TIMEZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def landing_path(slug: str, role: Role) -> str:
    """Where a person lands in a client: viewers read, everyone else works the inbox."""
    return f"/c/{slug}/reader" if role == Role.VIEWER else f"/c/{slug}/inbox"


class HomeController(Controller):
    @get("/", name="home")
    async def home(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Response[Any]:
        user = request.user
        clients = await services.clients_of(db_session, user)
        if len(clients) == 1 and not user.is_agency_admin:
            roles = await services.roles_of(db_session, user)
            return redirect(request, landing_path(clients[0].slug, roles[clients[0].id]))
        return redirect(request, "/clients")

    @get("/clients", name="clients")
    async def clients(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        user = request.user
        clients = await services.clients_of(db_session, user)
        roles = await services.roles_of(db_session, user)
        return Template(
            "tenancy/clients.html",
            context={
                "clients": [(c, roles.get(c.id, Role.OWNER)) for c in clients],
                "landing_path": landing_path,
                "form": {"timezone": "Europe/Moscow", "language": "ru"},
                "errors": {},
                "timezones": COMMON_TIMEZONES,
            },
        )

    @get("/clients/switcher", name="client_switcher")
    async def switcher(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        """The client switcher's list, loaded when the menu is first opened (no query on every page)."""
        return Template(
            "tenancy/_switcher.html", context={"clients": await services.clients_of(db_session, request.user)}
        )

    @post("/clients", guards=[requires_agency_admin])
    async def create_client(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[Any]:
        form = dict(await request.form())
        try:
            client = await services.create_client(
                db_session,
                name=str(form.get("name", "")),
                slug=str(form.get("slug", "")),
                timezone=str(form.get("timezone", "UTC")),
                language=str(form.get("language", "en")),
            )
        except services.FormErrors as exc:
            user = request.user
            clients = await services.clients_of(db_session, user)
            return Template(
                "tenancy/clients.html",
                context={
                    "clients": [(c, Role.OWNER) for c in clients],
                    "landing_path": landing_path,
                    "form": form,
                    "errors": exc.errors,
                    "timezones": COMMON_TIMEZONES,
                },
                status_code=422,
            )
        flash(request, _("Client %(name)s created. Invite its owner from Members.", name=client.name), "success")
        return redirect(request, f"/c/{client.slug}/members")


class ClientHomeController(Controller):
    path = "/c/{client_slug:str}"
    guards = [requires(Role.VIEWER)]

    @get("/", name="client_home")
    async def client_home(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[TenantContext]
    ) -> Response[Any]:
        return redirect(request, landing_path(tenant.client.slug, tenant.role))


class MembersController(Controller):
    path = "/c/{client_slug:str}/members"
    guards = [requires(Role.OWNER)]

    async def _page(
        self,
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        *,
        form: dict | None = None,
        errors: dict | None = None,
        invite_link: str | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "tenancy/members.html",
            context={
                "members": await services.members(db_session, tenant.client),
                "invitations": await services.pending_invitations(db_session, tenant.client),
                "roles": list(Role),
                "form": form or {"role": Role.EDITOR.value},
                "errors": errors or {},
                "invite_link": invite_link,
            },
            status_code=status_code,
        )

    @get("/", name="members")
    async def members(
        self, db_session: NamedDependency[AsyncSession], tenant: NamedDependency[TenantContext]
    ) -> Template:
        return await self._page(db_session, tenant)

    @post("/invitations")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        settings: NamedDependency[Settings],
    ) -> Template:
        form = dict(await request.form())
        try:
            created = await services.invite(
                db_session,
                tenant.client,
                email=str(form.get("email", "")),
                role=str(form.get("role", "")),
                invited_by=tenant.user,
                ttl_hours=settings.invite_ttl_hours,
            )
        except services.FormErrors as exc:
            return await self._page(db_session, tenant, form=form, errors=exc.errors, status_code=422)
        link = f"{settings.base_url}/invite/{created.token}"
        return await self._page(db_session, tenant, invite_link=link)

    @post("/invitations/{invitation_id:uuid}/revoke")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        invitation_id: FromPath[UUID],
    ) -> Response[Any]:
        repo = services.InvitationRepository(db_session, tenant.client.id)
        await repo.delete(await repo.get(invitation_id))
        flash(request, _("Invitation revoked: its link no longer works."), "success")
        return redirect(request, f"/c/{tenant.client.slug}/members")

    @post("/{membership_id:uuid}/role")
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        membership_id: FromPath[UUID],
    ) -> Response[Any]:
        form = await request.form()
        role = str(form.get("role", ""))
        repo = services.MembershipRepository(db_session, tenant.client.id)
        membership = await repo.get(membership_id)
        if role not in {r.value for r in Role}:
            flash(request, _("Pick a role."), "error")
        elif membership.user_id == tenant.user.id and role != Role.OWNER:
            flash(request, _("You cannot lower your own role; ask another owner."), "error")
        else:
            membership.role = role
            flash(
                request,
                _("Role of %(who)s is now %(role)s.", who=membership.user.display_name, role=_(role)),
                "success",
            )
        return redirect(request, f"/c/{tenant.client.slug}/members")

    @post("/{membership_id:uuid}/remove")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        tenant: NamedDependency[TenantContext],
        membership_id: FromPath[UUID],
    ) -> Response[Any]:
        repo = services.MembershipRepository(db_session, tenant.client.id)
        membership = await repo.get(membership_id)
        if membership.user_id == tenant.user.id:
            flash(request, _("You cannot remove yourself; ask another owner."), "error")
        else:
            await repo.delete(membership)
            flash(request, _("%(who)s no longer has access.", who=membership.user.display_name), "success")
        return redirect(request, f"/c/{tenant.client.slug}/members")


class InvitationController(Controller):
    """The invitee's side: public, found by the token in the link."""

    path = "/invite/{token:str}"
    opt = {"exclude_from_auth": True}

    @get("/", name="invitation")
    async def show(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
        async with scoped_session(request.app.state.session_maker, system=True) as session:
            try:
                invitation = await services.find_invitation(session, token)
            except services.InvitationProblem as exc:
                return Template("tenancy/invitation.html", context={"problem": exc.message}, status_code=410)
        return Template(
            "tenancy/invitation.html",
            context={"invitation": invitation, "errors": {}, "form": {}, "problem": None},
        )

    @post("/")
    async def accept(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Response[Any]:
        form = dict(await request.form())
        signed_in = request.scope.get("user")
        # Invitations span tenants by nature (found by token): a system-scoped transaction, narrowly.
        async with scoped_session(request.app.state.session_maker, system=True) as session:
            try:
                invitation = await services.find_invitation(session, token)
            except services.InvitationProblem as exc:
                return Template("tenancy/invitation.html", context={"problem": exc.message}, status_code=410)
            try:
                user = await services.accept_invitation(
                    session,
                    invitation,
                    name=str(form.get("name", "")),
                    password=str(form.get("password", "")),
                    signed_in=signed_in,
                )
            except services.FormErrors as exc:
                return Template(
                    "tenancy/invitation.html",
                    context={"invitation": invitation, "errors": exc.errors, "form": form, "problem": None},
                    status_code=422,
                )
            slug, role = invitation.client.slug, Role(invitation.role)
        request.set_session({"user_id": str(user.id)})
        flash(request, _("Welcome to %(client)s.", client=invitation.client.name), "success")
        return redirect(request, landing_path(slug, role))


def membership_label(membership: Membership) -> str:
    return membership.user.display_name
