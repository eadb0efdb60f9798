"""Stories published to the client's Instagram account through `publish_publication`, against the
local fake of the Graph API (tests/fakes/instagram_graph.py): feed posts, carousels and Reels, the
publishing limit, failures told in words, exactly-once around media_publish, and the daily token renewal."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from PIL import Image
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.channels.base import PublishRequest, transport_for
from app.channels.instagram import InstagramCredentials
from app.channels.instagram_publish import (
    MEDIA_URL_TTL,
    InstagramPublishingClient,
    InstagramTransport,
    MetaApp,
    TokenRefresh,
    refresh_expiring_instagram_tokens,
    refresh_instagram_token,
)
from app.db.session import scoped_session
from app.publishing.models import Channel, Publication
from app.publishing.services import sweep_publications
from app.secrets import SecretBox
from app.storage import storage_from_settings
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.conftest import Tenant, World
from tests.fakes.instagram_graph import (
    APP_ID,
    APP_SECRET,
    EXPIRED_TOKEN,
    OWNER_IG_USER_ID,
    OWNER_USERNAME,
    QUOTA_TOTAL,
    REFRESHED_TOKEN_TTL,
    VALID_TOKEN,
)
from tests.web.publications import due_publication, publish, reload

APP = MetaApp(APP_ID, APP_SECRET)


@pytest.fixture(autouse=True)
def quick_polling(monkeypatch) -> None:
    # Meta's containers take seconds; the fake's take one status read.
    monkeypatch.setattr(InstagramTransport, "image_poll_delays", (0.01,) * 4)
    monkeypatch.setattr(InstagramTransport, "video_poll_delays", (0.01,) * 4)


def sealed(settings, token: str = VALID_TOKEN, **extra) -> str:
    return InstagramCredentials(OWNER_IG_USER_ID, token, **extra).seal(SecretBox.from_settings(settings))


async def connect_instagram(session_maker, settings, tenant: Tenant, token: str = VALID_TOKEN, **extra) -> Channel:
    """The client's Instagram connection, as the Channels page stores it."""
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        channel = Channel(
            client_id=tenant.client.id,
            kind="instagram",
            name=f"@{OWNER_USERNAME}",
            credentials=sealed(settings, token, **extra),
        )
        session.add(channel)
        await session.flush()
        return channel


@pytest.fixture
async def instagram(world: World, session_maker, settings, instagram_graph) -> Channel:
    return await connect_instagram(session_maker, settings, world.a)


def picture(width: int, height: int, color=(30, 90, 150)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


async def make_story(
    session_maker,
    settings,
    tenant: Tenant,
    *,
    caption: str = "Night trams are back #city",
    images: list[tuple[int, int]] = (),
    video: bool = False,
) -> Story:
    """A scheduled story: one scene per image (its headliner in the media store), and maybe a video."""
    client_id = tenant.client.id
    storage = storage_from_settings(settings)
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = Story(client_id=client_id, status="scheduled")
        session.add(story)
        await session.flush()
        version = StoryVersion(
            client_id=client_id, story_id=story.id, title="Night trams", body="Body.", captions={"instagram": caption}
        )
        session.add(version)
        await session.flush()
        story.current_version_id = version.id
        for position, (width, height) in enumerate(images):
            scene = Scene(client_id=client_id, story_version_id=version.id, position=position, text="Scene")
            session.add(scene)
            await session.flush()
            key = f"clients/{client_id}/ig-test/{version.id}/{position}.jpg"
            await storage.put(key, picture(width, height, (20 * position, 90, 150)), "image/jpeg")
            session.add(
                Asset(
                    client_id=client_id,
                    story_version_id=version.id,
                    scene_id=scene.id,
                    scene_position=position,
                    storage_key=key,
                    mime="image/jpeg",
                    size_bytes=1000,
                    width=width,
                    height=height,
                    idempotency_key=f"{version.id}:{position}",
                )
            )
        if video:
            base = f"clients/{client_id}/ig-test/{version.id}/video"
            await storage.put(f"{base}.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video", "video/mp4")
            await storage.put(f"{base}.jpg", picture(1080, 1920), "image/jpeg")
            for kind, suffix, mime, key in (
                ("video", "mp4", "video/mp4", f"{version.id}:video"),
                ("poster", "jpg", "image/jpeg", f"{version.id}:video:poster"),
            ):
                session.add(
                    Asset(
                        client_id=client_id,
                        story_version_id=version.id,
                        kind=kind,
                        storage_key=f"{base}.{suffix}",
                        mime=mime,
                        size_bytes=100,
                        idempotency_key=key,
                    )
                )
    await storage.close()
    return story


async def post_story(session_maker, redis, settings, tenant: Tenant, channel: Channel, **story) -> Publication:
    made = await make_story(session_maker, settings, tenant, **story)
    return await publish(
        session_maker, redis, settings, tenant, await due_publication(session_maker, tenant, made, channel)
    )


async def open_signed(settings, url: str) -> tuple[str, int, bytes]:
    """A local-storage signed URL → (key, expires, stored bytes)."""
    parts = urlsplit(url)
    assert parts.path.startswith("/media/") and f"{parts.scheme}://{parts.netloc}" == settings.base_url
    key = unquote(parts.path.removeprefix("/media/"))
    expires = int(parse_qs(parts.query)["expires"][0])
    assert parse_qs(parts.query)["signature"]
    storage = storage_from_settings(settings)
    try:
        return key, expires, await storage.get(key)
    finally:
        await storage.close()


# --- what goes out -----------------------------------------------------------------------------------


async def test_one_image_goes_as_a_feed_post_prepared_and_served_from_a_long_lived_signed_url(
    world: World, session_maker, redis, settings, instagram_graph, instagram, caplog
) -> None:
    with caplog.at_level(logging.DEBUG):
        publication = await post_story(
            session_maker, redis, settings, world.a, instagram, images=[(1080, 1920)], caption="Trams  are back #city"
        )
    assert publication.status == "published", publication.last_error
    [container] = instagram_graph.containers.values()
    assert container.media_type == "IMAGE" and container.caption == "Trams  are back #city"
    [media] = instagram_graph.own_media
    assert publication.external_id == media["id"] and publication.external_url == media["permalink"]
    assert instagram_graph.published[0].creation_id == container.id

    key, expires, data = await open_signed(settings, container.image_url)
    assert expires >= datetime.now(UTC).timestamp() + MEDIA_URL_TTL - 60 and MEDIA_URL_TTL >= 6 * 3600
    assert key.startswith(f"clients/{world.a.client.id}/instagram/")
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (1080, 1350)  # 9:16 cropped to 4:5
    assert Fraction(4, 5) <= Fraction(*image.size) <= Fraction(191, 100) and 320 <= image.width <= 1440
    assert len(data) <= 8 * 1024 * 1024

    # The limit was read before anything was created, and the token never reached the logs.
    paths = [r.path for r in instagram_graph.requests]
    assert paths[0].endswith("/content_publishing_limit") and paths[1].endswith(f"/{OWNER_IG_USER_ID}/media")
    assert VALID_TOKEN not in caplog.text


async def test_three_images_go_as_one_carousel(
    world: World, session_maker, redis, settings, instagram_graph, instagram
):
    publication = await post_story(
        session_maker, redis, settings, world.a, instagram, images=[(1080, 1080), (1200, 900), (800, 1000)]
    )
    assert publication.status == "published", publication.last_error
    children = [c for c in instagram_graph.containers.values() if c.is_carousel_item]
    [carousel] = [c for c in instagram_graph.containers.values() if c.media_type == "CAROUSEL"]
    assert len(children) == 3 and carousel.children == [c.id for c in children]
    assert all(c.caption is None for c in children) and carousel.caption == "Night trams are back #city"
    assert [p.creation_id for p in instagram_graph.published] == [carousel.id]
    assert instagram_graph.own_media[0]["media_type"] == "CAROUSEL_ALBUM"
    # The same image is prepared once: its derivative's key depends on its bytes only.
    assert len({urlsplit(c.image_url).path for c in children}) == 3


async def test_twelve_images_post_the_first_ten_and_the_story_log_says_so(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[(600, 600)] * 12)
    assert publication.status == "published"
    [carousel] = [c for c in instagram_graph.containers.values() if c.media_type == "CAROUSEL"]
    assert len(carousel.children) == 10
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        [event] = (
            await session.execute(select(AuditEvent).where(AuditEvent.story_id == publication.story_id))
        ).scalars()
    assert "the first 10 of 12" in event.details["reason"] and "other 2" in event.details["reason"]


async def test_a_video_goes_as_a_reel_with_its_poster_as_cover(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    publication = await post_story(
        session_maker, redis, settings, world.a, instagram, images=[(1080, 1080)], video=True, caption="Watch"
    )
    assert publication.status == "published", publication.last_error
    [reel] = instagram_graph.containers.values()  # the scene image is not posted
    assert reel.media_type == "REELS" and reel.caption == "Watch"
    key, expires, _ = await open_signed(settings, reel.video_url)
    assert key.endswith("/video.mp4") and expires >= datetime.now(UTC).timestamp() + MEDIA_URL_TTL - 60
    assert (await open_signed(settings, reel.cover_url))[0].endswith("/video.jpg")
    assert publication.external_url.startswith("https://www.instagram.com/reel/")


# --- refused before anything is sent ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "words"),
    [
        ("x" * 2201, "2201 characters long and Instagram takes at most 2200"),
        (" ".join(f"#tag{n}" for n in range(31)), "31 hashtags and Instagram refuses more than 30"),
    ],
)
async def test_a_caption_instagram_would_refuse_fails_with_words_and_is_never_cut(
    world: World, session_maker, redis, settings, instagram_graph, instagram, caption, words
) -> None:
    publication = await post_story(
        session_maker, redis, settings, world.a, instagram, images=[(800, 800)], caption=caption
    )
    assert publication.status == "failed" and words in publication.last_error
    assert "schedule the post again" in publication.last_error
    assert instagram_graph.requests == []  # nothing was sent, nothing was cut


async def test_a_story_without_image_or_video_fails_with_words(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[])
    assert publication.status == "failed" and "needs an image or a video" in publication.last_error


async def test_an_image_missing_from_storage_fails_with_words(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    story = await make_story(session_maker, settings, world.a, images=[(800, 800), (800, 800)])
    storage = storage_from_settings(settings)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        version = await session.get_one(StoryVersion, story.current_version_id)
        await storage.delete(version.assets[1].storage_key)
    await storage.close()
    publication = await publish(
        session_maker, redis, settings, world.a, await due_publication(session_maker, world.a, story, instagram)
    )
    assert publication.status == "failed" and "Image 2 is missing from the media store" in publication.last_error


# --- the publishing limit, and failures -------------------------------------------------------------


async def test_a_full_publishing_limit_reschedules_until_the_window_frees(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    now = datetime.now(UTC)
    # 50 posts in the last 24 h, the oldest 23 hours ago: one slot frees in about an hour.
    for n in range(QUOTA_TOTAL):
        instagram_graph.add_own_media(f"Post {n}", now - timedelta(hours=23) + timedelta(minutes=20 * n))
    instagram_graph.quota_usage = QUOTA_TOTAL
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[(800, 800)])
    assert publication.status == "scheduled" and publication.attempts == 1
    assert timedelta(minutes=55) <= publication.scheduled_at - now <= timedelta(minutes=70)
    assert "used all 50 posts Instagram allows in 24 hours" in publication.last_error
    assert "try again in about 1 h" in publication.last_error
    assert instagram_graph.containers == {}  # checked before anything was created


async def test_a_container_instagram_cannot_process_fails_with_its_words(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    instagram_graph.program_container("IN_PROGRESS", "ERROR", error_text="Error: Media upload has failed (2207026)")
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[(800, 800)])
    assert publication.status == "failed"
    assert "could not process" in publication.last_error and "Media upload has failed" in publication.last_error
    assert instagram_graph.published == []


async def test_an_expired_token_fails_and_the_channel_asks_for_a_reconnect(
    world: World, session_maker, redis, settings, instagram_graph
) -> None:
    channel = await connect_instagram(session_maker, settings, world.a, EXPIRED_TOKEN)
    publication = await post_story(session_maker, redis, settings, world.a, channel, images=[(800, 800)])
    assert publication.status == "failed" and "reconnect Instagram" in publication.last_error
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert "reconnect Instagram" in (await session.get_one(Channel, channel.id)).last_error
    assert EXPIRED_TOKEN not in publication.last_error


async def test_an_image_meta_cannot_download_is_retried_with_words(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    instagram_graph.refuse_media()
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[(800, 800)])
    assert publication.status == "scheduled" and "public web address" in publication.last_error


# --- exactly once ---------------------------------------------------------------------------------


async def test_an_unanswered_publish_needs_attention_and_reconcile_finds_the_post(
    world: World, session_maker, redis, settings, instagram_graph, instagram, monkeypatch
) -> None:
    monkeypatch.setattr(InstagramTransport, "request_timeout", 0.5)
    instagram_graph.hang_publish(1.5)  # Meta is slow: it publishes after we stopped waiting
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[(800, 800)])
    assert publication.status == "needs_attention"
    assert "may or may not be out" in publication.last_error and "will not publish it again" in publication.last_error
    [container] = instagram_graph.containers.values()
    assert publication.external_id == f"container:{container.id}"  # remembered before media_publish

    async with asyncio.timeout(5):
        while not instagram_graph.published:  # noqa: ASYNC110 - the fake's thread is still sleeping
            await asyncio.sleep(0.05)
    request = PublishRequest(
        client_id=world.a.client.id,
        client_slug=world.a.client.slug,
        story_id=publication.story_id,
        story_version_id=publication.story_version_id,
        publication_id=publication.id,
    )
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        found = await transport_for("instagram").reconcile(session, request)
    [media] = instagram_graph.own_media
    assert found is not None and (found.external_id, found.external_url) == (media["id"], media["permalink"])
    assert len(instagram_graph.media_publish_requests) == 1


async def test_an_unanswered_publish_that_instagram_shows_as_done_is_settled_at_once(
    world: World, session_maker, redis, settings, instagram_graph, instagram, monkeypatch
) -> None:
    monkeypatch.setattr(InstagramTransport, "request_timeout", 0.5)
    instagram_graph.hang_publish(1.5, publish_first=True)  # it published, then was slow to say so
    publication = await post_story(session_maker, redis, settings, world.a, instagram, images=[(800, 800)])
    assert publication.status == "published", publication.last_error
    assert publication.external_id == instagram_graph.own_media[0]["id"]
    assert len(instagram_graph.media_publish_requests) == 1


async def test_a_worker_that_died_after_publishing_is_reconciled_by_the_sweep(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    story = await make_story(session_maker, settings, world.a, images=[(800, 800)], caption="Made before the crash")
    publication = await due_publication(session_maker, world.a, story, instagram)
    # What the dead worker did: made the container, remembered it, published it, and died.
    async with InstagramPublishingClient(base_url=instagram_graph.base_url) as graph:
        container = await graph.create_image_container(
            OWNER_IG_USER_ID, VALID_TOKEN, "https://cdn.example.test/x.jpg", caption="Made before the crash"
        )
        await graph.wait_until_finished(container, VALID_TOKEN, delays=(0.01,))
        media_id = await graph.publish_container(OWNER_IG_USER_ID, VALID_TOKEN, container)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(
            update(Publication)
            .where(Publication.id == publication.id)
            .values(
                status="publishing",
                attempts=1,
                external_id=f"container:{container}",
                updated_at=datetime.now(UTC) - timedelta(minutes=15),
            )
        )
    await sweep_publications(session_maker=session_maker, redis=redis, settings=settings)
    settled = await reload(session_maker, world.a, publication)
    assert settled.status == "published" and settled.external_id == media_id
    assert settled.external_url == instagram_graph.own_media[0]["permalink"]
    assert len(instagram_graph.media_publish_requests) == 1  # the dead worker's, and no other


async def test_a_retry_publishes_the_container_it_already_made(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    # Still processing after the first attempt's polling (5 reads), finished on the second attempt.
    instagram_graph.program_container(*["IN_PROGRESS"] * 5, "FINISHED")
    story = await make_story(session_maker, settings, world.a, images=[(800, 800)])
    publication = await due_publication(session_maker, world.a, story, instagram)
    first = await publish(session_maker, redis, settings, world.a, publication)
    assert first.status == "scheduled" and "still processing" in first.last_error
    [container] = instagram_graph.containers.values()
    assert first.external_id == f"container:{container.id}"

    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(
            update(Publication).where(Publication.id == publication.id).values(scheduled_at=datetime.now(UTC))
        )
    second = await publish(session_maker, redis, settings, world.a, publication)
    assert second.status == "published", second.last_error
    assert list(instagram_graph.containers) == [container.id]  # no second container
    assert [p.creation_id for p in instagram_graph.published] == [container.id]


async def test_two_workers_racing_publish_once(
    world: World, session_maker, redis, settings, instagram_graph, instagram
) -> None:
    story = await make_story(session_maker, settings, world.a, images=[(800, 800)])
    publication = await due_publication(session_maker, world.a, story, instagram)
    await asyncio.gather(*(publish(session_maker, redis, settings, world.a, publication) for _ in range(2)))
    assert len(instagram_graph.media_publish_requests) == 1 and len(instagram_graph.containers) == 1
    assert (await reload(session_maker, world.a, publication)).status == "published"


# --- keeping the token alive --------------------------------------------------------------------------


async def stored_credentials(
    session_maker, settings, tenant: Tenant, channel: Channel
) -> tuple[Channel, InstagramCredentials]:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        row = await session.get_one(Channel, channel.id)
    return row, InstagramCredentials.unseal(SecretBox.from_settings(settings), row.credentials)


async def test_the_daily_job_renews_a_token_near_its_expiry_and_stores_it_encrypted(
    world: World, session_maker, settings, instagram_graph
) -> None:
    now = datetime.now(UTC)
    soon = await connect_instagram(
        session_maker, settings, world.a, expires_at=now + timedelta(days=5), refreshed_at=now - timedelta(days=55)
    )
    later = await connect_instagram(
        session_maker, settings, world.b, expires_at=now + timedelta(days=30), refreshed_at=now - timedelta(days=30)
    )
    outcome = await refresh_expiring_instagram_tokens(session_maker=session_maker, settings=settings, app=APP)
    assert outcome["due"] >= 1 and outcome.get("refreshed", 0) >= 1

    row, renewed = await stored_credentials(session_maker, settings, world.a, soon)
    assert renewed.access_token != VALID_TOKEN and renewed.access_token in instagram_graph.issued_tokens
    assert renewed.access_token not in row.credentials  # encrypted at rest
    assert renewed.refreshed_at is not None and renewed.refreshed_at >= now
    assert (
        timedelta(seconds=REFRESHED_TOKEN_TTL - 60)
        <= renewed.expires_at - now
        <= timedelta(seconds=REFRESHED_TOKEN_TTL + 60)
    )
    assert row.last_error is None
    exchanged = [
        r.params["fb_exchange_token"] for r in instagram_graph.requests if r.path.endswith("/oauth/access_token")
    ]
    assert VALID_TOKEN in exchanged

    _, untouched = await stored_credentials(session_maker, settings, world.b, later)
    assert untouched.access_token == VALID_TOKEN and untouched.refreshed_at < now  # 30 days left: not yet


async def test_an_outage_during_renewal_keeps_the_old_token(
    world: World, session_maker, settings, instagram_graph
) -> None:
    expires = datetime.now(UTC) + timedelta(days=3)
    channel = await connect_instagram(session_maker, settings, world.a, expires_at=expires)
    before = (await stored_credentials(session_maker, settings, world.a, channel))[0].credentials
    instagram_graph.server_error(503, times=1)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        row = await session.get_one(Channel, channel.id)
        async with InstagramPublishingClient(base_url=instagram_graph.base_url) as graph:
            assert await refresh_instagram_token(session, row, graph=graph, app=APP) == TokenRefresh.KEPT
    row, kept = await stored_credentials(session_maker, settings, world.a, channel)
    assert row.credentials == before and kept.access_token == VALID_TOKEN and kept.expires_at == expires
    assert row.last_error is None


async def test_a_token_meta_refuses_asks_the_owner_to_reconnect(
    world: World, session_maker, settings, instagram_graph
) -> None:
    channel = await connect_instagram(
        session_maker, settings, world.a, EXPIRED_TOKEN, expires_at=datetime.now(UTC) - timedelta(hours=1)
    )
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        row = await session.get_one(Channel, channel.id)
        assert await refresh_instagram_token(session, row, app=APP) == TokenRefresh.REFUSED
    row, kept = await stored_credentials(session_maker, settings, world.a, channel)
    assert kept.access_token == EXPIRED_TOKEN and "reconnect Instagram" in row.last_error


async def test_without_a_meta_app_an_expiring_token_is_flagged_for_the_owner(
    world: World, session_maker, settings, instagram_graph, monkeypatch
) -> None:
    monkeypatch.delenv("INSTAGRAM_APP_ID", raising=False)
    monkeypatch.delenv("INSTAGRAM_APP_SECRET", raising=False)
    channel = await connect_instagram(
        session_maker, settings, world.a, expires_at=datetime.now(UTC) + timedelta(days=4)
    )
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        row = await session.get_one(Channel, channel.id)
        assert await refresh_instagram_token(session, row) == TokenRefresh.SKIPPED
    row, _ = await stored_credentials(session_maker, settings, world.a, channel)
    assert "no Meta app is configured" in row.last_error and "reconnect Instagram" in row.last_error
    assert not [r for r in instagram_graph.requests if r.path.endswith("/oauth/access_token")]


def test_the_worker_runs_the_renewal_daily() -> None:
    import tasks.worker as worker

    [job] = [c for c in worker.settings["cron_jobs"] if c.function is worker.refresh_instagram_tokens]
    assert job.cron.split()[2:] == ["*", "*", "*"]  # once a day
    assert transport_for("instagram").__class__ is InstagramTransport
