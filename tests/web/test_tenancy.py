"""The three tenancy walls, and who may see what."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import text

from app.audit.models import AuditEvent
from app.db.base import tenant_tables
from app.db.session import scoped_session
from app.generation.models import CreditCharge, Job, JobKind, JobStatus, StylePreset
from app.publishing.models import ChannelSlot, Publication
from app.publishing.services import reader_channel
from app.sharing.models import Comment, ShareLink
from app.sources.models import Source, SourceItem
from app.stories.models import Asset, Scene, Story, StoryVersion
from app.tenancy.models import Invitation, Membership
from tests.conftest import World

UUID_PARAM = re.compile(r"\{(\w+):uuid\}")


async def make_tenant_rows(session_maker, tenant) -> dict[str, UUID]:
    """One row of every tenant table for a client, as the owner would have them."""
    client_id = tenant.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        source = Source(client_id=client_id, url=f"https://feeds.example/{client_id}.xml", title="Feed")
        session.add(source)
        await session.flush()
        item = SourceItem(
            client_id=client_id,
            source_id=source.id,
            dedup_key=str(client_id)[:32],
            title="Item",
            published_at=datetime.now(UTC),
        )
        session.add(item)
        await session.flush()
        story = Story(client_id=client_id, source_item_id=item.id, status="approved")
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id, story_id=story.id, number=1, title="Secret draft of " + tenant.client.name
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        scene = Scene(client_id=client_id, story_version_id=version.id, position=0, text="Scene one")
        session.add(scene)
        await session.flush()
        asset = Asset(
            client_id=client_id,
            story_version_id=version.id,
            scene_id=scene.id,
            storage_key=f"clients/{client_id}/x.png",
            mime="image/png",
            size_bytes=1,
            idempotency_key=f"{version.id}:scene-0",
        )
        session.add(asset)
        session.add(AuditEvent(client_id=client_id, story_id=story.id, action="approved", details={}))
        preset = StylePreset(client_id=client_id, name="House style", is_default=True)
        session.add(preset)
        channel = await reader_channel(session, client_id)
        publication = Publication(
            client_id=client_id,
            story_id=story.id,
            story_version_id=version.id,
            channel_id=channel.id,
            scheduled_at=datetime.now(UTC) + timedelta(days=1),
        )
        session.add(publication)
        session.add(ChannelSlot(client_id=client_id, channel_id=channel.id, weekday=0, local_time=time(9)))
        job = Job(
            client_id=client_id,
            kind=JobKind.GENERATE_STORY,
            status=JobStatus.QUEUED,
            idempotency_key=f"generate:{item.id}",
            source_item_id=item.id,
        )
        session.add(job)
        await session.flush()
        session.add(CreditCharge(client_id=client_id, job_id=job.id, amount=1, description="Image"))
        invitation = Invitation(
            client_id=client_id,
            email="new@example.test",
            role="editor",
            token_hash=str(client_id).replace("-", "") * 2,
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
        session.add(invitation)
        share_link = ShareLink(
            client_id=client_id, story_id=story.id, token_hash=str(client_id).replace("-", "")[::-1] * 2
        )
        session.add(share_link)
        await session.flush()
        session.add(
            Comment(client_id=client_id, story_id=story.id, share_link_id=share_link.id, author_name="Guest", body="Hi")
        )
        await session.flush()
        membership_id = (
            await session.execute(
                text("SELECT id FROM memberships WHERE client_id = :c AND user_id = :u"),
                {"c": client_id, "u": tenant.editor.id},
            )
        ).scalar_one()
        return {
            "source_id": source.id,
            "item_id": item.id,
            "story_id": story.id,
            "publication_id": publication.id,
            "channel_id": channel.id,
            "invitation_id": invitation.id,
            "membership_id": membership_id,
            "job_id": job.id,
            "scene_id": scene.id,
            "asset_id": asset.id,
            "preset_id": preset.id,
            "link_id": share_link.id,
        }


def tenant_routes_with_ids(app) -> list[tuple[str, str]]:
    routes = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "{client_slug" not in route.path or not UUID_PARAM.search(route.path):
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, route.path))
    return routes


async def test_every_tenant_route_with_an_id_answers_404_for_another_clients_id(
    web, world: World, app, session_maker
) -> None:
    b_rows = await make_tenant_rows(session_maker, world.b)
    await make_tenant_rows(session_maker, world.a)
    routes = tenant_routes_with_ids(app)
    assert len(routes) >= 10, routes  # the list grows with the product; it must never be empty
    await web.sign_in(world.a.owner)
    for method, path in routes:
        url = path.replace("{client_slug:str}", world.a.client.slug)
        for name in UUID_PARAM.findall(path):
            assert name in b_rows, f"add a row for {name} to make_tenant_rows"
            url = url.replace(f"{{{name}:uuid}}", str(b_rows[name]))
        response = await (web.get(url) if method == "GET" else web.post(url, {"scheduled_at": "2030-01-01T10:00"}))
        assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
    # And B's data was left alone.
    async with scoped_session(session_maker, client_id=world.b.client.id) as session:
        status = (
            await session.execute(text("SELECT status FROM stories WHERE id = :id"), {"id": b_rows["story_id"]})
        ).scalar_one()
    assert status == "approved"


async def test_raw_sql_in_a_client_transaction_sees_no_other_clients_rows(world: World, session_maker) -> None:
    await make_tenant_rows(session_maker, world.a)
    await make_tenant_rows(session_maker, world.b)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        for table in tenant_tables():
            foreign = (
                await session.execute(
                    text(f"SELECT count(*) FROM {table} WHERE client_id = :b"), {"b": world.b.client.id}
                )
            ).scalar_one()
            assert foreign == 0, table
            visible = (await session.execute(text(f"SELECT DISTINCT client_id FROM {table}"))).scalars().all()
            assert set(visible) <= {world.a.client.id}, table
            own = (
                await session.execute(
                    text(f"SELECT count(*) FROM {table} WHERE client_id = :a"), {"a": world.a.client.id}
                )
            ).scalar_one()
            assert own >= 1, f"{table} has no row of client A: the test would prove nothing"


async def test_rls_refuses_writing_a_row_into_another_client(world: World, session_maker) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="row-level security"):
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            await session.execute(
                text(
                    "INSERT INTO sources (id, client_id, kind, url, title, enabled, interval_minutes, error_count, "
                    "items_found_last, items_new_last, created_at, updated_at) VALUES (gen_random_uuid(), :b, 'feed', "
                    "'https://x.example/f', 'x', true, 15, 0, 0, 0, now(), now())"
                ),
                {"b": world.b.client.id},
            )


async def test_a_transaction_without_a_client_sees_no_tenant_rows(world: World, session_maker) -> None:
    await make_tenant_rows(session_maker, world.a)
    async with scoped_session(session_maker) as session:
        for table in tenant_tables():
            assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0, table


async def test_the_application_role_cannot_bypass_rls(session_maker) -> None:
    async with scoped_session(session_maker) as session:
        row = (
            await session.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"))
        ).one()
        forced = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_class WHERE relname = ANY(:t) AND relrowsecurity AND relforcerowsecurity"
                ),
                {"t": tenant_tables()},
            )
        ).scalar_one()
    assert tuple(row) == (False, False)
    assert forced == len(tenant_tables())


@pytest.mark.parametrize("page", ["inbox", "stories", "sources", "members", "reader", ""])
async def test_an_outsider_gets_404_everywhere_in_a_client(web, world: World, page: str) -> None:
    await web.sign_in(world.outsider)
    response = await web.get(f"/c/{world.a.client.slug}/{page}")
    assert response.status_code == 404
    assert world.a.client.name not in response.text


async def test_a_member_of_b_gets_404_in_a(web, world: World) -> None:
    await web.sign_in(world.b.owner)
    assert (await web.get(f"/c/{world.a.client.slug}/inbox")).status_code == 404


@pytest.mark.parametrize("page", ["inbox", "stories", "sources", "members"])
async def test_a_viewer_gets_403_on_work_pages(web, world: World, page: str) -> None:
    await web.sign_in(world.a.viewer)
    assert (await web.get(f"/c/{world.a.client.slug}/{page}")).status_code == 403


@pytest.mark.parametrize("page", ["sources", "members"])
async def test_an_editor_gets_403_on_owner_pages(web, world: World, page: str) -> None:
    await web.sign_in(world.a.editor)
    assert (await web.get(f"/c/{world.a.client.slug}/{page}")).status_code == 403


async def test_a_viewer_cannot_post_to_editor_actions(web, world: World, session_maker) -> None:
    rows = await make_tenant_rows(session_maker, world.a)
    await web.sign_in(world.a.viewer)
    response = await web.post(f"/c/{world.a.client.slug}/stories/{rows['story_id']}/reject")
    assert response.status_code == 403


async def test_the_agency_admin_sees_every_client(web, world: World) -> None:
    await web.sign_in(world.admin)
    page = await web.get("/clients")
    assert world.a.client.name in page.text and world.b.client.name in page.text
    assert (await web.get(f"/c/{world.b.client.slug}/members")).status_code == 200


async def test_the_client_switcher_lists_only_my_clients(web, world: World, session_maker) -> None:
    async with scoped_session(session_maker, system=True) as session:
        session.add(Membership(client_id=world.b.client.id, user_id=world.a.editor.id, role="viewer"))
    await web.sign_in(world.a.editor)
    switcher = await web.get("/clients/switcher")
    assert world.a.client.name in switcher.text and world.b.client.name in switcher.text
    await web.sign_in(world.a.viewer)
    switcher = await web.get("/clients/switcher")
    assert world.b.client.name not in switcher.text


async def test_sse_stream_is_tenant_guarded(web, world: World) -> None:
    await web.sign_in(world.b.editor)
    assert (await web.get(f"/c/{world.a.client.slug}/events")).status_code == 404
