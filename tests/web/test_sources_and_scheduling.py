"""Bad input where the person is: feed URLs, schedule times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.db.session import scoped_session
from app.publishing.services import ScheduleError, parse_local_datetime
from app.sources.models import Source
from tests.conftest import World, free_port, wait_for
from tests.web.test_tenancy import make_tenant_rows


async def _source_count(session_maker, client_id) -> int:
    async with scoped_session(session_maker, client_id=client_id) as session:
        return (await session.execute(select(func.count()).select_from(Source))).scalar_one()


async def test_a_page_that_is_not_a_feed_is_explained_in_the_form(web, world: World, feed_server, session_maker):
    await web.sign_in(world.a.owner)
    before = await _source_count(session_maker, world.a.client.id)
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": f"{feed_server}/feeds/not-a-feed.html"})
    assert response.status_code == 422
    assert "links to no RSS, Atom or JSON feed" in response.text
    assert f"{feed_server}/feeds/not-a-feed.html" in response.text  # the typed URL stays
    assert await _source_count(session_maker, world.a.client.id) == before


async def test_an_unreachable_feed_is_explained_in_the_form(web, world: World, session_maker):
    await web.sign_in(world.a.owner)
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": f"http://127.0.0.1:{free_port()}/feed"})
    assert response.status_code == 422
    assert "Could not fetch the address" in response.text


async def test_a_missing_feed_reports_the_404(web, world: World, feed_server):
    await web.sign_in(world.a.owner)
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": f"{feed_server}/feeds/gone.xml"})
    assert response.status_code == 422 and "404" in response.text


async def test_not_a_web_address_is_explained(web, world: World):
    await web.sign_in(world.a.owner)
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": "file:///etc/passwd"})
    assert response.status_code == 422 and "http://" in response.text


async def test_the_same_feed_twice_is_refused(web, world: World, feed_server):
    await web.sign_in(world.a.owner)
    url = f"{feed_server}/feeds/northwind.xml"
    assert (await web.post(f"/c/{world.a.client.slug}/sources", {"url": url})).status_code == 303
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": url})
    assert response.status_code == 422 and "already a source" in response.text


async def test_fetch_now_queues_and_the_worker_records_the_failure(
    web, world: World, feed_server, worker, session_maker
):
    await web.sign_in(world.a.owner)
    url = f"{feed_server}/feeds/northwind.xml"
    await web.post(f"/c/{world.a.client.slug}/sources", {"url": url})
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        source = (await session.execute(select(Source))).scalar_one()
        source.url = f"{feed_server}/feeds/vanished.xml"
    response = await web.post(f"/c/{world.a.client.slug}/sources/{source.id}/fetch", htmx=True)
    assert response.status_code == 200 and "fetching…" in response.text

    async def failed():
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            found = await session.get(Source, source.id)
            return found if found.error_count else None

    source = await wait_for(failed)
    assert source.last_status_code == 404 and source.enabled and source.not_found_since is not None
    assert (source.next_fetch_at - datetime.now(UTC)).total_seconds() > 25 * 60  # 15 min × 2¹ minus jitter
    row = await web.get(f"/c/{world.a.client.slug}/sources/{source.id}/row")
    assert "404" in row.text and "failing" in row.text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2020-01-01T10:00", "already passed"),
        ("not a date", "Enter a date and time"),
    ],
)
async def test_bad_schedule_times_are_explained_beside_the_field(web, world: World, session_maker, value, message):
    rows = await make_tenant_rows(session_maker, world.a)
    await web.sign_in(world.a.editor)
    response = await web.post(
        f"/c/{world.a.client.slug}/stories/{rows['story_id']}/publications", {"scheduled_at": value}
    )
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{value}"' in response.text


def test_a_local_time_is_stored_in_utc_across_dst() -> None:
    winter = parse_local_datetime("2026-01-15T09:00", "Europe/Berlin")
    summer = parse_local_datetime("2026-07-15T09:00", "Europe/Berlin")
    assert (winter.hour, summer.hour) == (8, 7)


def test_a_time_skipped_by_dst_is_refused() -> None:
    with pytest.raises(ScheduleError, match="does not exist"):
        parse_local_datetime("2026-03-29T02:30", "Europe/Berlin")


async def test_scheduling_needs_an_approved_story(web, world: World, session_maker):
    rows = await make_tenant_rows(session_maker, world.a)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        from app.stories.models import Story

        story = await session.get(Story, rows["story_id"])
        story.status = "draft"
    await web.sign_in(world.a.editor)
    response = await web.post(
        f"/c/{world.a.client.slug}/stories/{rows['story_id']}/publications", {"scheduled_at": "2030-01-01T10:00"}
    )
    assert response.status_code == 422 and "Approve the story" in response.text


async def _upload(web, slug: str, filename: str, data: bytes, content_type: str = "text/plain"):
    await web.client.get(f"/c/{slug}/sources")
    return await web.client.post(
        f"/c/{slug}/sources/upload",
        data={"_csrf_token": web.csrf()},
        files={"file": (filename, data, content_type)},
    )


async def test_an_uploaded_russian_text_becomes_one_whole_item(web, world: World, session_maker):
    from app.sources.models import SourceItem

    await web.sign_in(world.a.owner)
    paragraph = "Длинный рассказ о городе, его улицах и людях. " * 2000
    data = ("Городские истории\n\n" + paragraph).encode("windows-1251")
    response = await _upload(web, world.a.client.slug, "istorii.txt", data)
    assert response.status_code == 303, response.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        item = (await session.execute(select(SourceItem))).scalar_one()
    assert item.title == "Городские истории"
    assert item.content_text.count("Длинный рассказ") == 2000  # kept whole
    again = await _upload(web, world.a.client.slug, "copy.txt", data)
    assert again.status_code == 422 and "uploaded already" in again.text


async def test_a_file_that_is_not_text_is_explained_in_the_form(web, world: World, session_maker):
    await web.sign_in(world.a.owner)
    response = await _upload(
        web,
        world.a.client.slug,
        "photo.docx",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    assert response.status_code == 422 and "not a real .docx" in response.text
    response = await _upload(web, world.a.client.slug, "slides.pptx", b"PK\x03\x04")
    assert response.status_code == 422 and "Upload a .txt, .md or .docx file." in response.text


async def test_a_feed_is_previewed_before_it_is_saved(web, world: World, feed_server, session_maker):
    await web.sign_in(world.a.owner)
    response = await web.post(
        f"/c/{world.a.client.slug}/sources", {"url": f"{feed_server}/feeds/northwind.xml", "action": "preview"}
    )
    assert response.status_code == 200
    assert "Harbour ferry returns after a winter of repairs" in response.text and "Add this source" in response.text
    assert await _source_count(session_maker, world.a.client.id) == 0


async def test_a_site_address_offers_the_feeds_it_links_to(web, world: World, feed_server):
    await web.sign_in(world.a.owner)
    response = await web.post(
        f"/c/{world.a.client.slug}/sources",
        {"url": f"{feed_server}/feeds/corpus/page-with-links.html", "action": "preview"},
    )
    assert response.status_code == 200 and "Feeds found on this site" in response.text


async def test_a_youtube_handle_becomes_the_channel_feed(
    web, world: World, feed_server, session_maker, app, monkeypatch
):
    from dataclasses import replace

    monkeypatch.setattr(app.state, "settings", replace(app.state.settings, youtube_base_url=feed_server))
    await web.sign_in(world.a.owner)
    response = await web.post(f"/c/{world.a.client.slug}/sources", {"url": "@masterskaya", "action": "save"})
    assert response.status_code == 303, response.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        source = (await session.execute(select(Source))).scalar_one()
        from app.sources.models import SourceItem

        item = (await session.execute(select(SourceItem).limit(1))).scalar_one()
    assert source.kind == "youtube" and "channel_id=UCq3Wcx7pWZ3kd9Nh8fXqg5A" in source.url
    assert item.extra.get("video_id")
