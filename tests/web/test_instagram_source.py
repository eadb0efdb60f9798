"""Instagram accounts as sources: previewed and added on the Sources page, collected by the worker.

Everything goes through the client's Instagram connection (Channels) to the local fake Graph API.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

import tasks.worker as worker_module
from app.db.session import scoped_session
from app.publishing.models import Channel
from app.sources.models import Source, SourceItem
from tests.conftest import World, wait_for
from tests.fakes.instagram_graph import OWNER_IG_USER_ID, VALID_TOKEN

BAKERY = "northwind.bakery"
BAKERY_URL = "https://www.instagram.com/northwind.bakery/"
RECONNECT = "The client's Instagram connection has expired; the owner must reconnect Instagram in Channels."


def text_of(response) -> str:
    """The page as a person reads it (Jinja escapes the apostrophe in "client's")."""
    return html.unescape(response.text)


def sources_url(world: World) -> str:
    return f"/c/{world.a.client.slug}/sources"


async def connect_instagram(web, world: World) -> None:
    response = await web.post(
        f"/c/{world.a.client.slug}/channels/instagram", {"ig_user_id": OWNER_IG_USER_ID, "access_token": VALID_TOKEN}
    )
    assert response.status_code == 303, response.text


async def add_bakery(web, world: World, session_maker) -> Source:
    await connect_instagram(web, world)
    response = await web.post(f"{sources_url(world)}/instagram", {"instagram": BAKERY, "action": "save"})
    assert response.status_code == 303, response.text
    return await the_source(session_maker, world)


async def the_source(session_maker, world: World) -> Source:
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        return (await session.execute(select(Source).where(Source.kind == "instagram"))).scalar_one()


async def item_count(session_maker, world: World) -> int:
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        return (await session.execute(select(func.count()).select_from(SourceItem))).scalar_one()


async def run_fetch_job(world: World, source: Source) -> dict:
    """The worker's own job function, with the context its start-up builds."""
    ctx: dict = {}
    await worker_module.startup(ctx)
    try:
        return await worker_module.fetch_source(ctx, source_id=str(source.id), client_id=str(world.a.client.id))
    finally:
        await worker_module.shutdown(ctx)


# --- adding ---------------------------------------------------------------------------------------


async def test_without_an_instagram_connection_the_form_says_where_to_connect(
    web, world: World, instagram_graph, session_maker
) -> None:
    await web.sign_in(world.a.owner)
    page = await web.get(sources_url(world))
    assert "none is connected yet" in page.text
    assert f'href="/c/{world.a.client.slug}/channels"' in page.text

    # A form sent anyway (an old tab) gets the same answer, and Instagram is not asked.
    response = await web.post(f"{sources_url(world)}/instagram", {"instagram": BAKERY, "action": "preview"})
    assert response.status_code == 422
    assert "This client has no Instagram connection; the owner must connect Instagram in Channels." in text_of(response)
    assert instagram_graph.requests == []
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.execute(select(Source))).first() is None


async def test_the_owner_previews_an_account_then_adds_it(web, world: World, instagram_graph, session_maker) -> None:
    await web.sign_in(world.a.owner)
    await connect_instagram(web, world)

    preview = await web.post(
        f"{sources_url(world)}/instagram",
        {"instagram": "https://www.instagram.com/Northwind.Bakery/", "action": "preview"},
    )
    assert preview.status_code == 200, preview.text
    assert "@northwind.bakery" in preview.text and "12840 followers" in preview.text and "6 posts" in preview.text
    assert "Fresh rye loaves are out of the oven!" in preview.text
    assert 'name="instagram" value="northwind.bakery"' in preview.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.execute(select(Source))).first() is None  # a preview saves nothing

    saved = await web.post(f"{sources_url(world)}/instagram", {"instagram": BAKERY, "action": "save"})
    assert saved.status_code == 303, saved.text
    source = await the_source(session_maker, world)
    assert (source.url, source.title, source.settings) == (BAKERY_URL, "@northwind.bakery", {"username": BAKERY})
    assert source.next_fetch_at is not None and source.items_new_last == 6
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        items = (await session.execute(select(SourceItem).order_by(SourceItem.published_at.desc()))).scalars().all()
    rye = items[0]
    assert rye.title == "Fresh rye loaves are out of the oven!"
    assert rye.url == "https://www.instagram.com/p/RyeLoaves1/"
    assert rye.guid == "instagram:17900000000000006"
    assert rye.image_url == "https://cdn.fake-instagram.test/bakery/rye.jpg"
    assert rye.published_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    assert "Come early: we open at 7." in rye.content_text
    page = await web.get(sources_url(world))
    assert "Source @northwind.bakery added: 6 items in the inbox." in page.text

    again = await web.post(f"{sources_url(world)}/instagram", {"instagram": "@northwind.bakery", "action": "save"})
    assert again.status_code == 422 and "@northwind.bakery is already a source of this client." in again.text


async def test_a_personal_account_or_a_bad_username_is_explained(web, world: World, instagram_graph) -> None:
    await web.sign_in(world.a.owner)
    await connect_instagram(web, world)
    personal = await web.post(f"{sources_url(world)}/instagram", {"instagram": "private.person", "action": "preview"})
    assert personal.status_code == 422
    assert "@private.person is not a public business or creator account" in personal.text
    post_link = await web.post(
        f"{sources_url(world)}/instagram", {"instagram": "https://www.instagram.com/p/RyeLoaves1/", "action": "save"}
    )
    assert post_link.status_code == 422 and "not to a profile" in post_link.text


async def test_an_expired_token_while_adding_says_to_reconnect(web, world: World, instagram_graph, monkeypatch) -> None:
    await web.sign_in(world.a.owner)
    await connect_instagram(web, world)
    monkeypatch.setattr(instagram_graph, "expired_token", VALID_TOKEN)  # the stored token runs out
    response = await web.post(f"{sources_url(world)}/instagram", {"instagram": BAKERY, "action": "preview"})
    assert response.status_code == 422 and RECONNECT in text_of(response)


# --- collecting -----------------------------------------------------------------------------------


async def test_the_worker_collects_new_posts_once(
    web, world: World, instagram_graph, worker, session_maker, caplog
) -> None:
    await web.sign_in(world.a.owner)
    await connect_instagram(web, world)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        source = Source(
            client_id=world.a.client.id,
            kind="instagram",
            url="https://www.instagram.com/city_news.daily/",
            title="@city_news.daily",
            settings={"username": "city_news.daily"},
        )
        session.add(source)

    # "Fetch now" queues the job; the running worker collects it.
    with caplog.at_level(logging.INFO):
        assert (await web.post(f"{sources_url(world)}/{source.id}/fetch")).status_code == 303

        async def fetched():
            found = await the_source(session_maker, world)
            return found if found.last_fetched_at else None

        collected = await wait_for(fetched)
    assert VALID_TOKEN not in caplog.text  # httpx logs each request URL: the token is redacted
    assert collected.last_error is None and collected.error_count == 0
    assert collected.items_found_last == 25 and collected.items_new_last == 25
    assert await item_count(session_maker, world) == 25

    # The next run finds the same posts: nothing new.
    assert (await run_fetch_job(world, source))["new"] == 0
    assert await item_count(session_maker, world) == 25


async def test_an_expired_token_shows_on_the_source_and_on_channels_and_keeps_the_items(
    web, world: World, instagram_graph, session_maker, monkeypatch
) -> None:
    await web.sign_in(world.a.owner)
    source = await add_bakery(web, world, session_maker)
    assert await item_count(session_maker, world) == 6

    monkeypatch.setattr(instagram_graph, "expired_token", VALID_TOKEN)
    before = datetime.now(UTC)
    assert (await run_fetch_job(world, source))["new"] == 0
    failed = await the_source(session_maker, world)
    assert failed.last_error == RECONNECT and failed.error_count == 1 and failed.enabled
    assert failed.next_fetch_at > before + timedelta(minutes=15)
    assert await item_count(session_maker, world) == 6  # what was collected stays
    assert RECONNECT in text_of(await web.get(sources_url(world)))
    channels_page = await web.get(f"/c/{world.a.client.slug}/channels")
    assert "needs reconnecting" in channels_page.text and RECONNECT in text_of(channels_page)

    # The owner reconnects: the source is due again at once, and the next fetch works.
    monkeypatch.undo()
    await connect_instagram(web, world)
    due = await the_source(session_maker, world)
    assert due.next_fetch_at <= datetime.now(UTC)
    assert (await run_fetch_job(world, source))["new"] == 0
    healthy = await the_source(session_maker, world)
    assert healthy.last_error is None and healthy.error_count == 0
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        channel = (await session.execute(select(Channel).where(Channel.kind == "instagram"))).scalar_one()
    assert channel.last_error is None


async def test_a_rate_limit_is_explained_and_the_source_waits_as_long_as_instagram_asks(
    web, world: World, instagram_graph, session_maker
) -> None:
    await web.sign_in(world.a.owner)
    source = await add_bakery(web, world, session_maker)
    instagram_graph.rate_limit(80002, regain_minutes=90)
    before = datetime.now(UTC)
    await run_fetch_job(world, source)
    limited = await the_source(session_maker, world)
    assert limited.last_error == (
        "Instagram is limiting how often Zavod may ask for posts; Zavod will try again in about 90 min."
    )
    assert limited.error_count == 1
    # Meta's estimate (90 min) is longer than the usual first backoff (2 × 15 min): it wins.
    assert limited.next_fetch_at >= before + timedelta(minutes=90)
    assert await item_count(session_maker, world) == 6


async def test_removing_the_connection_stops_collection_with_a_reason(
    web, world: World, instagram_graph, session_maker
) -> None:
    await web.sign_in(world.a.owner)
    source = await add_bakery(web, world, session_maker)
    removed = await web.post(f"/c/{world.a.client.slug}/channels/instagram/remove")
    assert removed.status_code == 303
    flashed = await web.get(f"/c/{world.a.client.slug}/channels")
    assert "1 Instagram source will not be collected until Instagram is connected again." in flashed.text
    requests_before = len(instagram_graph.requests)
    await run_fetch_job(world, source)
    assert len(instagram_graph.requests) == requests_before
    stopped = await the_source(session_maker, world)
    assert stopped.last_error == (
        "This client has no Instagram connection; the owner must connect Instagram in Channels."
    )
