"""The walking skeleton through the web layer and a real SAQ worker: feed → item → generated
draft (text + stored card) → approve → schedule → published on the Reader → read by a viewer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.db.session import scoped_session
from app.generation.models import Job, JobStatus
from app.publishing.models import Publication, PublicationStatus
from app.publishing.services import sweep_publications
from app.sources.models import SourceItem
from app.stories.models import Asset, Story, StoryStatus
from tests.conftest import World, wait_for


async def test_the_whole_path(web, world: World, feed_server, worker, session_maker, redis, settings, app) -> None:
    slug = world.a.client.slug
    client_id = world.a.client.id

    # 1. The owner adds a feed; its items land once.
    await web.sign_in(world.a.owner)
    response = await web.post(f"/c/{slug}/sources", {"url": f"{feed_server}/feeds/northwind.xml"})
    assert response.status_code == 303, response.text
    sources_page = await web.get(f"/c/{slug}/sources")
    assert "Northwind Harbour Gazette" in sources_page.text
    async with scoped_session(session_maker, client_id=client_id) as session:
        items = (await session.execute(select(SourceItem).order_by(SourceItem.published_at.desc()))).scalars().all()
    assert [i.title for i in items][:1] == ["Harbour ferry returns after a winter of repairs"]
    assert len(items) == 3
    source_id = items[0].source_id
    await web.post(f"/c/{slug}/sources/{source_id}/fetch")
    async with scoped_session(session_maker, client_id=client_id) as session:
        assert (await session.execute(select(func.count()).select_from(SourceItem))).scalar_one() == 3

    # 2. The editor generates from the first item: a job the worker runs.
    await web.sign_in(world.a.editor)
    inbox = await web.get(f"/c/{slug}/inbox")
    assert "Harbour ferry returns" in inbox.text and "sse-connect" in inbox.text
    response = await web.post(f"/c/{slug}/items/{items[0].id}/generate", htmx=True)
    assert response.status_code == 200
    assert 'sse-swap="job-' in response.text
    # A double click gives the same job, not a second story.
    again = await web.post(f"/c/{slug}/items/{items[0].id}/generate", htmx=True)
    assert again.status_code == 200

    async def completed_job():
        async with scoped_session(session_maker, client_id=client_id) as session:
            job = (await session.execute(select(Job).where(Job.pipeline_id.is_(None)))).scalar_one()
            return job if job.status in (JobStatus.COMPLETED, JobStatus.FAILED) else None

    job = await wait_for(completed_job)
    assert job.status == JobStatus.COMPLETED, job.error
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = (await session.execute(select(Story))).unique().scalar_one()
        asset = (await session.execute(select(Asset).order_by(Asset.scene_position).limit(1))).scalar_one()
    assert story.status == StoryStatus.DRAFT and story.id == job.story_id
    assert asset.width == 1080 and asset.height == 1350
    stored = await app.state.storage.get(asset.storage_key)
    assert stored[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb") and len(stored) == asset.size_bytes
    assert asset.storage_key.startswith(f"clients/{client_id}/")

    # The job's events are in the client's stream, for the SSE endpoint to replay.
    entries = await redis.xrange(f"{settings.redis_prefix}:events:{client_id}")
    statuses_seen = [e[1][b"kind"] for e in entries]
    assert statuses_seen.count(b"job") >= 3

    # 3. Approve and schedule at a time typed in the client's zone (Moscow).
    story_page = await web.get(f"/c/{slug}/stories/{story.id}")
    assert "Harbour ferry returns" in story_page.text
    await web.post(f"/c/{slug}/stories/{story.id}/approve")
    when_utc = datetime.now(UTC) + timedelta(hours=2)
    local_value = when_utc.astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%dT%H:%M:%S")
    response = await web.post(f"/c/{slug}/stories/{story.id}/publications", {"scheduled_at": local_value})
    assert response.status_code == 303, response.text
    async with scoped_session(session_maker, client_id=client_id) as session:
        publication = (await session.execute(select(Publication))).unique().scalar_one()
    assert abs((publication.scheduled_at - when_utc).total_seconds()) < 1
    assert publication.status == PublicationStatus.SCHEDULED

    # Viewers see nothing before it is published.
    await web.sign_in(world.a.viewer)
    assert "Harbour ferry" not in (await web.get(f"/c/{slug}/reader")).text
    assert (await web.get(f"/c/{slug}/reader/{story.id}")).status_code == 404

    # 4. The sweep publishes it when due; running it twice publishes nothing twice. (The sweep serves
    # every client: other tests' due publications may go out with it, so count only ours.)
    later = when_utc + timedelta(seconds=1)
    first = await sweep_publications(session_maker=session_maker, redis=redis, settings=settings, now=later)
    second = await sweep_publications(session_maker=session_maker, redis=redis, settings=settings, now=later)
    assert first["published"] >= 1 and second["published"] == 0
    async with scoped_session(session_maker, client_id=client_id) as session:
        publication = (await session.execute(select(Publication))).unique().scalar_one()
        story = (await session.execute(select(Story))).unique().scalar_one()
    assert publication.status == PublicationStatus.PUBLISHED and publication.attempts == 1
    assert story.status == StoryStatus.PUBLISHED

    # 5. The viewer reads it, with its image; never the moderation pages.
    reader = await web.get(f"/c/{slug}/reader")
    assert "Harbour ferry returns" in reader.text
    page = await web.get(f"/c/{slug}/reader/{story.id}")
    assert page.status_code == 200 and "/media/clients/" in page.text
    assert (await web.get(f"/c/{slug}/stories/{story.id}")).status_code == 403
    assert (await web.get(f"/c/{slug}/inbox")).status_code == 403


async def test_the_story_panel_renders_alone_for_its_live_refresh(web, world: World, session_maker) -> None:
    from tests.web.test_tenancy import make_tenant_rows

    rows = await make_tenant_rows(session_maker, world.a)
    await web.sign_in(world.a.editor)
    response = await web.get(
        f"/c/{world.a.client.slug}/stories/{rows['story_id']}/panel", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'id="story-panel"' in response.text and "Approved" in response.text and "<html" not in response.text
