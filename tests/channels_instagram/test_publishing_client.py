"""The Instagram publishing client against the local fake of the Graph API: containers, status
polling, media_publish, the publishing limit, recent media and the long-lived token exchange — and the
fake's own checks of request shapes, which follow Meta's contract."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.channels.instagram import InstagramCredentials
from app.channels.instagram_publish import (
    InstagramPublishingClient,
    MetaApp,
    PublishOutcomeUnknown,
    token_due,
)
from app.sources.instagram import InstagramError
from tests.fakes.instagram_graph import (
    APP_ID,
    APP_SECRET,
    EXPIRED_TOKEN,
    OWNER_IG_USER_ID,
    QUOTA_TOTAL,
    REFRESHED_TOKEN_TTL,
    VALID_TOKEN,
)

IMAGE = "https://media.example.test/clients/x/instagram/a.jpg?expires=1&signature=abc"
APP = MetaApp(APP_ID, APP_SECRET)


@pytest.fixture
async def graph(instagram_graph):
    async with InstagramPublishingClient(base_url=instagram_graph.base_url, timeout=5.0) as client:
        yield client


async def raw_post(instagram_graph, edge: str, **params: str) -> httpx.Response:
    """A request as any Graph client would send it, to see what the fake itself accepts."""
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{instagram_graph.base_url}/v21.0/{OWNER_IG_USER_ID}/{edge}",
            data={"access_token": VALID_TOKEN, **params},
        )


# --- the fake keeps to Meta's shapes ----------------------------------------------------------------


async def test_the_fake_takes_an_image_without_caption_but_not_without_image_url(instagram_graph) -> None:
    assert (await raw_post(instagram_graph, "media", image_url=IMAGE)).status_code == 200
    missing = await raw_post(instagram_graph, "media", caption="Hello")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100
    assert "image_url" in missing.json()["error"]["message"]
    not_a_url = await raw_post(instagram_graph, "media", image_url="file:///etc/passwd")
    assert (not_a_url.json()["error"]["code"], not_a_url.json()["error"]["error_subcode"]) == (9004, 2207052)
    [made] = instagram_graph.containers.values()
    assert made.image_url == IMAGE and made.caption is None  # recorded, never downloaded


@pytest.mark.parametrize("count", [1, 11])
async def test_the_fake_refuses_a_carousel_of_1_or_11_children(instagram_graph, count: int) -> None:
    children = [
        (await raw_post(instagram_graph, "media", image_url=IMAGE, is_carousel_item="true")).json()["id"]
        for _ in range(count)
    ]
    answer = await raw_post(instagram_graph, "media", media_type="CAROUSEL", children=",".join(children))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert "between 2 and 10" in answer.json()["error"]["message"]


async def test_the_fake_refuses_a_reel_without_video_and_a_carousel_of_strangers(instagram_graph) -> None:
    reel = await raw_post(instagram_graph, "media", media_type="REELS", caption="x")
    assert reel.json()["error"]["code"] == 100 and "video_url" in reel.json()["error"]["message"]
    plain = (await raw_post(instagram_graph, "media", image_url=IMAGE)).json()["id"]  # not a carousel item
    mixed = await raw_post(instagram_graph, "media", media_type="CAROUSEL", children=f"{plain},{plain}")
    assert mixed.json()["error"]["code"] == 100


# --- containers, status, publishing ----------------------------------------------------------------


async def test_an_image_goes_through_container_status_and_publish(graph, instagram_graph) -> None:
    container = await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE, caption="Night trams")
    status = await graph.wait_until_finished(container, VALID_TOKEN, delays=(0.01, 0.01))
    assert status.code == "FINISHED"
    assert [r.fields for r in instagram_graph.requests[1:]] == ["status_code,status"] * 2  # IN_PROGRESS, FINISHED
    media_id = await graph.publish_container(OWNER_IG_USER_ID, VALID_TOKEN, container)
    assert (await graph.container_status(container, VALID_TOKEN)).code == "PUBLISHED"
    assert (await graph.permalink(media_id, VALID_TOKEN)).startswith("https://www.instagram.com/p/")
    [recent] = await graph.recent_media(OWNER_IG_USER_ID, VALID_TOKEN)
    assert (recent.id, recent.caption) == (media_id, "Night trams")
    # The token travels in POST bodies, not in the URL that httpx logs.
    posts = [r for r in instagram_graph.requests if r.method == "POST"]
    assert posts and all(r.access_token == VALID_TOKEN for r in posts)


async def test_a_container_not_yet_finished_is_not_published(graph, instagram_graph) -> None:
    container = await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
    with pytest.raises(InstagramError) as not_ready:
        await graph.publish_container(OWNER_IG_USER_ID, VALID_TOKEN, container)
    assert not_ready.value.kind == "retryable" and not_ready.value.retry_after == 60
    assert instagram_graph.published == []


async def test_polling_stops_at_error_and_gives_up_after_its_delays(graph, instagram_graph) -> None:
    instagram_graph.program_container("IN_PROGRESS", "ERROR", error_text="Error: the video codec is not supported")
    failing = await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
    status = await graph.wait_until_finished(failing, VALID_TOKEN, delays=(0.01,) * 5)
    assert status == type(status)("ERROR", "Error: the video codec is not supported")
    instagram_graph.program_container("IN_PROGRESS")
    slow = await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
    assert (await graph.wait_until_finished(slow, VALID_TOKEN, delays=(0.01,) * 3)).code == "IN_PROGRESS"


async def test_a_publish_without_answer_is_an_unknown_outcome(instagram_graph) -> None:
    async with InstagramPublishingClient(base_url=instagram_graph.base_url, timeout=0.3) as graph:
        container = await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
        await graph.wait_until_finished(container, VALID_TOKEN, delays=(0.01,))
        instagram_graph.hang_publish(1.0, publish_first=True)
        with pytest.raises(PublishOutcomeUnknown):
            await graph.publish_container(OWNER_IG_USER_ID, VALID_TOKEN, container)
    assert len(instagram_graph.published) == 1  # it did go out


async def test_a_publish_that_could_not_connect_is_safe_to_retry() -> None:
    async with InstagramPublishingClient(base_url="http://127.0.0.1:9", timeout=1.0) as graph:
        with pytest.raises(InstagramError) as failed:
            await graph.publish_container(OWNER_IG_USER_ID, VALID_TOKEN, "1789")
    assert type(failed.value) is InstagramError and failed.value.kind == "retryable"


async def test_the_publishing_limit_and_its_exhaustion(graph, instagram_graph) -> None:
    limit = await graph.publishing_limit(OWNER_IG_USER_ID, VALID_TOKEN)
    assert (limit.usage, limit.total, limit.duration, limit.full) == (0, QUOTA_TOTAL, 86400, False)
    assert instagram_graph.requests[-1].fields == "config,quota_usage"
    instagram_graph.quota_usage = QUOTA_TOTAL
    assert (await graph.publishing_limit(OWNER_IG_USER_ID, VALID_TOKEN)).full
    container = await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
    await graph.wait_until_finished(container, VALID_TOKEN, delays=(0.01,))
    with pytest.raises(InstagramError) as over:
        await graph.publish_container(OWNER_IG_USER_ID, VALID_TOKEN, container)
    assert over.value.kind == "retryable" and over.value.subcode == 2207042 and "publishing limit" in over.value.message


async def test_meta_failing_to_fetch_the_media_says_what_to_check(graph, instagram_graph) -> None:
    instagram_graph.refuse_media()
    with pytest.raises(InstagramError) as refused:
        await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
    assert refused.value.kind == "retryable" and "public web address" in refused.value.message


async def test_an_expired_token_needs_the_owner(graph) -> None:
    with pytest.raises(InstagramError) as expired:
        await graph.create_image_container(OWNER_IG_USER_ID, EXPIRED_TOKEN, IMAGE)
    assert expired.value.kind == "needs_owner" and "reconnect Instagram" in expired.value.message


async def test_a_rate_limit_on_publishing_is_told_as_such(graph, instagram_graph) -> None:
    instagram_graph.rate_limit(80002, regain_minutes=7, times=1)
    with pytest.raises(InstagramError) as limited:
        await graph.create_image_container(OWNER_IG_USER_ID, VALID_TOKEN, IMAGE)
    assert limited.value.retry_after == 420 and "may call it" in limited.value.message


# --- the token exchange -----------------------------------------------------------------------------


async def test_the_long_lived_token_is_exchanged_for_a_fresh_one(graph, instagram_graph, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        fresh = await graph.exchange_token(VALID_TOKEN, APP)
    assert fresh.access_token != VALID_TOKEN and fresh.expires_in == REFRESHED_TOKEN_TTL
    request = instagram_graph.requests[-1]
    assert request.path == "/v21.0/oauth/access_token"
    assert request.params["grant_type"] == "fb_exchange_token" and request.params["fb_exchange_token"] == VALID_TOKEN
    assert (request.params["client_id"], request.params["client_secret"]) == (APP_ID, APP_SECRET)
    # httpx logs the URL: neither the token nor the app secret may be in the log.
    assert VALID_TOKEN not in caplog.text and APP_SECRET not in caplog.text and fresh.access_token not in caplog.text
    assert fresh.access_token not in repr(fresh)
    # The new token works.
    assert (await graph.publishing_limit(OWNER_IG_USER_ID, fresh.access_token)).usage == 0


async def test_an_expired_token_cannot_be_exchanged_and_a_wrong_secret_is_not_the_owners_fault(graph) -> None:
    with pytest.raises(InstagramError) as expired:
        await graph.exchange_token(EXPIRED_TOKEN, APP)
    assert expired.value.kind == "needs_owner"
    with pytest.raises(InstagramError) as wrong_app:
        await graph.exchange_token(VALID_TOKEN, MetaApp(APP_ID, "not-the-secret"))
    assert wrong_app.value.kind != "needs_owner" and "not-the-secret" not in wrong_app.value.message


def test_which_tokens_are_due_for_renewal() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)

    def creds(expires_in_days: float | None, refreshed: bool) -> InstagramCredentials:
        expires = now + timedelta(days=expires_in_days) if expires_in_days is not None else None
        return InstagramCredentials("1", "t", expires_at=expires, refreshed_at=now if refreshed else None)

    assert token_due(creds(None, refreshed=False), now)  # pasted by the owner: learn when it runs out
    assert not token_due(creds(None, refreshed=True), now)  # Meta said it does not expire
    assert token_due(creds(9.9, refreshed=True), now)
    assert token_due(creds(10, refreshed=True), now)
    assert not token_due(creds(10.1, refreshed=True), now)


def test_the_meta_app_comes_from_settings_or_the_environment(settings) -> None:
    assert MetaApp.from_settings(settings, environ={}) is None
    app = MetaApp.from_settings(settings, environ={"INSTAGRAM_APP_ID": APP_ID, "INSTAGRAM_APP_SECRET": APP_SECRET})
    assert app == APP and APP_SECRET not in repr(app)
