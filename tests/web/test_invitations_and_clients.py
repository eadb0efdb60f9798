"""Clients (created by the agency admin) and invitations (made by owners, accepted by invitees)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from app.auth.models import User
from app.db.session import scoped_session
from app.tenancy.models import Client, Invitation
from tests.conftest import World


async def _invite(web, world: World, email: str, role: str = "editor") -> str:
    await web.sign_in(world.a.owner)
    response = await web.post(f"/c/{world.a.client.slug}/members/invitations", {"email": email, "role": role})
    assert response.status_code == 200, response.text
    match = re.search(r'value="(http://testserver\.local/invite/[^"]+)"', response.text)
    assert match, "the invite link is shown to copy"
    return match.group(1).replace("http://testserver.local", "")


async def test_an_owner_invites_and_the_invitee_lands_in_the_client(web, world: World) -> None:
    link = await _invite(web, world, "newbie@example.test", "editor")
    web.client.cookies.clear()
    page = await web.get(link)
    assert page.status_code == 200 and world.a.client.name in page.text
    response = await web.post(link, {"name": "New Person", "password": "a-good-long-password"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{world.a.client.slug}/inbox"
    inbox = await web.get(f"/c/{world.a.client.slug}/inbox")
    assert inbox.status_code == 200
    # The link works once.
    web.client.cookies.clear()
    again = await web.get(link)
    assert again.status_code == 410 and "already been used" in again.text


async def test_a_short_password_is_refused_beside_the_field(web, world: World) -> None:
    link = await _invite(web, world, "shorty@example.test")
    web.client.cookies.clear()
    response = await web.post(link, {"name": "S", "password": "short"})
    assert response.status_code == 422
    assert "Use at least 10 characters." in response.text


async def test_an_expired_invitation_says_so_and_creates_nobody(web, world: World, session_maker) -> None:
    link = await _invite(web, world, "late@example.test")
    async with scoped_session(session_maker, system=True) as session:
        await session.execute(
            text("UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE email = 'late@example.test'")
        )
    web.client.cookies.clear()
    response = await web.post(link, {"name": "Late", "password": "a-good-long-password"})
    assert response.status_code == 410 and "expired" in response.text
    async with scoped_session(session_maker, system=True) as session:
        assert (await session.execute(select(User).where(User.email == "late@example.test"))).first() is None


async def test_an_unknown_invitation_token_is_explained(web) -> None:
    response = await web.get("/invite/not-a-real-token")
    assert response.status_code == 410 and "not valid" in response.text


async def test_inviting_a_member_again_is_refused_in_the_form(web, world: World) -> None:
    await web.sign_in(world.a.owner)
    response = await web.post(
        f"/c/{world.a.client.slug}/members/invitations", {"email": world.a.editor.email, "role": "viewer"}
    )
    assert response.status_code == 422 and "already a member" in response.text


async def test_a_revoked_invitation_stops_working_at_once(web, world: World, session_maker) -> None:
    link = await _invite(web, world, "revoked@example.test")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        invitation_id = (
            await session.execute(select(Invitation.id).where(Invitation.email == "revoked@example.test"))
        ).scalar_one()
    await web.post(f"/c/{world.a.client.slug}/members/invitations/{invitation_id}/revoke")
    web.client.cookies.clear()
    assert (await web.get(link)).status_code == 410


async def test_an_owner_changes_a_role_and_cannot_demote_themselves(web, world: World, session_maker) -> None:
    await web.sign_in(world.a.owner)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        rows = dict((await session.execute(text("SELECT user_id, id FROM memberships"))).all())
    await web.post(f"/c/{world.a.client.slug}/members/{rows[world.a.viewer.id]}/role", {"role": "editor"})
    await web.post(f"/c/{world.a.client.slug}/members/{rows[world.a.owner.id]}/role", {"role": "viewer"})
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        roles = dict((await session.execute(text("SELECT user_id, role FROM memberships"))).all())
    assert roles[world.a.viewer.id] == "editor"
    assert roles[world.a.owner.id] == "owner"


async def test_the_agency_admin_creates_a_client_with_a_reader_channel(web, world: World, session_maker) -> None:
    await web.sign_in(world.admin)
    slug = f"gamma-{world.a.client.slug[-6:]}"
    response = await web.post(
        "/clients", {"name": "Gamma", "slug": slug, "timezone": "Europe/Berlin", "language": "en"}
    )
    assert response.status_code == 303 and response.headers["location"] == f"/c/{slug}/members"
    async with scoped_session(session_maker, system=True) as session:
        client = (await session.execute(select(Client).where(Client.slug == slug))).scalar_one()
        channels = (
            (await session.execute(text("SELECT kind FROM channels WHERE client_id = :c"), {"c": client.id}))
            .scalars()
            .all()
        )
    assert client.timezone == "Europe/Berlin" and channels == ["reader"]


async def test_a_duplicate_slug_is_refused_beside_the_field(web, world: World) -> None:
    await web.sign_in(world.admin)
    response = await web.post(
        "/clients", {"name": "Copy", "slug": world.a.client.slug, "timezone": "UTC", "language": "en"}
    )
    assert response.status_code == 422
    assert f"The address {world.a.client.slug} is taken" in response.text
    assert 'value="Copy"' in response.text  # what was typed stays in the form


async def test_bad_client_fields_are_explained(web, world: World) -> None:
    await web.sign_in(world.admin)
    response = await web.post(
        "/clients", {"name": "", "slug": "Bad Slug!", "timezone": "Mars/Olympus", "language": "de"}
    )
    assert response.status_code == 422
    for message in ("Give the client a name.", "Use lowercase letters", "Pick a time zone", "Content language"):
        assert message in response.text


async def test_only_the_agency_admin_creates_clients(web, world: World) -> None:
    await web.sign_in(world.a.owner)
    response = await web.post("/clients", {"name": "Mine", "slug": "mine-x", "timezone": "UTC", "language": "en"})
    assert response.status_code == 403


async def test_expired_invitations_are_not_listed_as_pending(web, world: World, session_maker) -> None:
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        session.add(
            Invitation(
                client_id=world.a.client.id,
                email="old@example.test",
                role="viewer",
                token_hash="f" * 64,
                expires_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
    await web.sign_in(world.a.owner)
    page = await web.get(f"/c/{world.a.client.slug}/members")
    assert "old@example.test" not in page.text
