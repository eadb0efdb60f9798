"""Clients, memberships and invitations."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.services import create_user, get_user_by_email, normalise_email, password_problem
from app.db.repository import TenantRepository
from app.db.session import within_client
from app.i18n import gettext as _
from app.publishing.models import Channel, ChannelKind
from app.tenancy.models import Client, Invitation, Membership, Role

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class MembershipRepository(TenantRepository[Membership]):
    model_type = Membership


class InvitationRepository(TenantRepository[Invitation]):
    model_type = Invitation


class FormErrors(Exception):
    """Field name → message, shown beside the fields."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


async def clients_of(session: AsyncSession, user: User) -> list[Client]:
    """The clients a user can switch to: all of them for the agency admin."""
    stmt = select(Client).order_by(Client.name)
    if not user.is_agency_admin:
        stmt = stmt.join(Membership, Membership.client_id == Client.id).where(Membership.user_id == user.id)
    return list((await session.execute(stmt)).scalars())


async def roles_of(session: AsyncSession, user: User) -> dict[UUID, Role]:
    rows = await session.execute(select(Membership.client_id, Membership.role).where(Membership.user_id == user.id))
    return {client_id: Role(role) for client_id, role in rows}


def validate_client_form(name: str, slug: str, timezone: str, language: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = _("Give the client a name.")
    if not SLUG_RE.match(slug):
        errors["slug"] = _("Use lowercase letters, digits and dashes (up to 63), e.g. northwind-news.")
    if timezone not in available_timezones():
        errors["timezone"] = _("Pick a time zone from the list, e.g. Europe/Moscow.")
    if language not in ("en", "ru"):
        errors["language"] = _("Content language must be English or Russian.")
    return errors


async def create_client(
    session: AsyncSession, *, name: str, slug: str, timezone: str = "UTC", language: str = "en"
) -> Client:
    slug = slug.strip().lower()
    errors = validate_client_form(name, slug, timezone, language)
    if not errors and (await session.execute(select(Client.id).where(Client.slug == slug))).first():
        errors["slug"] = _("The address %(slug)s is taken by another client.", slug=slug)
    if errors:
        raise FormErrors(errors)
    client = Client(name=name.strip(), slug=slug, timezone=timezone, language=language)
    session.add(client)
    await session.flush()
    # Every client can publish to its own reader from the start.
    async with within_client(session, client.id):
        session.add(Channel(client_id=client.id, kind=ChannelKind.READER, name="Reader"))
        await session.flush()
    return client


def client_zone(client: Client) -> ZoneInfo:
    return ZoneInfo(client.timezone)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class NewInvitation:
    invitation: Invitation
    token: str


async def invite(
    session: AsyncSession, client: Client, *, email: str, role: str, invited_by: User, ttl_hours: int
) -> NewInvitation:
    email = normalise_email(email)
    errors: dict[str, str] = {}
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        errors["email"] = _("Enter an email address, e.g. anna@example.com.")
    if role not in {r.value for r in Role}:
        errors["role"] = _("Pick a role.")
    if not errors:
        existing = await get_user_by_email(session, email)
        if existing is not None:
            member = await MembershipRepository(session, client.id).get_one_or_none(Membership.user_id == existing.id)
            if member is not None:
                errors["email"] = _("%(email)s is already a member of this client.", email=email)
    if errors:
        raise FormErrors(errors)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        email=email,
        role=role,
        token_hash=_hash_token(token),
        expires_at=datetime.now(UTC) + timedelta(hours=ttl_hours),
        invited_by_id=invited_by.id,
    )
    await InvitationRepository(session, client.id).add(invitation)
    return NewInvitation(invitation=invitation, token=token)


class InvitationProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def find_invitation(session: AsyncSession, token: str) -> Invitation:
    """Invitations are opened by people with no account yet: the caller runs this in system scope."""
    invitation = (
        await session.execute(select(Invitation).where(Invitation.token_hash == _hash_token(token)))
    ).scalar_one_or_none()
    if invitation is None:
        raise InvitationProblem(_("This invitation link is not valid. Ask the client owner for a new one."))
    if invitation.accepted_at is not None:
        raise InvitationProblem(_("This invitation has already been used. Sign in instead."))
    if invitation.expires_at < datetime.now(UTC):
        raise InvitationProblem(_("This invitation has expired. Ask the client owner for a new one."))
    return invitation


async def accept_invitation(
    session: AsyncSession, invitation: Invitation, *, name: str, password: str, signed_in: User | None
) -> User:
    user = signed_in if signed_in is not None and signed_in.email == invitation.email else None
    if user is None:
        user = await get_user_by_email(session, invitation.email)
        if user is not None:
            raise FormErrors(
                {"password": _("An account with this email exists: sign in first, then open the link again.")}
            )
        problem = password_problem(password)
        if problem:
            raise FormErrors({"password": problem})
        user = await create_user(session, email=invitation.email, password=password, name=name)
    repo = MembershipRepository(session, invitation.client_id)
    existing = await repo.get_one_or_none(Membership.user_id == user.id)
    if existing is None:
        await repo.add(Membership(user_id=user.id, role=invitation.role))
    invitation.accepted_at = datetime.now(UTC)
    return user


async def pending_invitations(session: AsyncSession, client: Client) -> list[Invitation]:
    return await InvitationRepository(session, client.id).list(
        Invitation.accepted_at.is_(None), Invitation.expires_at > func.now(), order_by=Invitation.created_at.desc()
    )


async def members(session: AsyncSession, client: Client) -> list[Membership]:
    return await MembershipRepository(session, client.id).list(order_by=Membership.created_at)
