"""A news JSON API source: the mapping is previewed on the real answer before it is saved."""

from __future__ import annotations

from sqlalchemy import select

from app.db.session import scoped_session
from app.secrets import SecretBox
from app.sources.models import Source
from tests.conftest import World


async def test_preview_guesses_the_mapping_and_save_stores_the_key_encrypted(
    web, world: World, feed_server, session_maker, settings
) -> None:
    await web.sign_in(world.a.owner)
    slug = world.a.client.slug
    form = {
        "url": f"{feed_server}/api/news.json",
        "title": "Harbour API",
        "header_name": "X-Api-Key",
        "header_value": "secret-key-123456",
        "action": "preview",
    }
    preview = await web.post(f"/c/{slug}/sources/json-api", form)
    assert preview.status_code == 200, preview.text
    assert "Lighthouse reopens to visitors" in preview.text and 'value="articles"' in preview.text
    # Save with the guessed mapping, as the page's filled-in fields send it.
    mapping = {
        "map_items_path": "articles",
        "map_title": "title",
        "map_url": "url",
        "map_summary": "description",
        "map_image": "urlToImage",
        "map_date": "publishedAt",
    }
    saved = await web.post(f"/c/{slug}/sources/json-api", {**form, **mapping, "action": "save"})
    assert saved.status_code == 303, saved.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        source = (await session.execute(select(Source).where(Source.kind == "json_api"))).scalar_one()
    assert source.settings["header_name"] == "X-Api-Key"
    assert "secret-key-123456" not in str(source.settings)
    assert SecretBox.from_settings(settings).decrypt(source.settings["header_value"]) == "secret-key-123456"
    assert source.settings["mapping"]["items_path"] == "articles"


async def test_a_wrong_mapping_is_explained_and_cannot_be_saved(web, world: World, feed_server, session_maker):
    await web.sign_in(world.a.owner)
    form = {
        "url": f"{feed_server}/api/news.json",
        "map_items_path": "data.results",
        "map_title": "title",
        "action": "save",
    }
    response = await web.post(f"/c/{world.a.client.slug}/sources/json-api", form)
    assert response.status_code == 422
    assert "does not lead to a list" in response.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.execute(select(Source))).first() is None


async def test_an_address_that_is_not_json_is_explained(web, world: World, feed_server):
    await web.sign_in(world.a.owner)
    response = await web.post(
        f"/c/{world.a.client.slug}/sources/json-api",
        {"url": f"{feed_server}/feeds/not-a-feed.html", "action": "preview"},
    )
    assert response.status_code == 422 and "did not return JSON" in response.text


async def test_the_worker_collects_a_json_api_source(world: World, feed_server, session_maker, settings) -> None:
    import tasks.worker as worker_module
    from app.sources.models import SourceItem

    box = SecretBox.from_settings(settings)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        source = Source(
            client_id=world.a.client.id,
            kind="json_api",
            url=f"{feed_server}/api/news.json",
            title="API",
            settings={
                "mapping": {
                    "items_path": "articles",
                    "title": "title",
                    "url": "url",
                    "summary": "description",
                    "image": "urlToImage",
                    "date": "publishedAt",
                },
                "header_name": "X-Api-Key",
                "header_value": box.encrypt("k-1"),
            },
        )
        session.add(source)
    ctx: dict = {}
    await worker_module.startup(ctx)
    try:
        result = await worker_module.fetch_source(ctx, source_id=str(source.id), client_id=str(world.a.client.id))
        # The test server sends Last-Modified: the next fetch is conditional and costs no parsing.
        again = await worker_module.fetch_source(ctx, source_id=str(source.id), client_id=str(world.a.client.id))
    finally:
        await worker_module.shutdown(ctx)
    assert result["new"] == 2
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        items = (await session.execute(select(SourceItem).order_by(SourceItem.published_at.desc()))).scalars().all()
        source = await session.get(Source, source.id)
    assert [i.title for i in items] == ["Lighthouse reopens to visitors", "Fish market gets a new roof"]
    assert items[0].image_url == "https://harbour.example/lighthouse.jpg"
    assert items[0].normalized_url == "https://harbour.example/lighthouse"
    assert source.error_count == 0 and source.last_modified
    assert again["new"] == 0 and source.last_status_code == 304 and source.items_new_last == 0
