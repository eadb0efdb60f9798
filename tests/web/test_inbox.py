"""The inbox: full-text search in Russian and English, filters, keyset paging, bulk actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.db.session import scoped_session
from app.sources.models import Source, SourceItem
from tests.conftest import World

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def _items(session_maker, tenant, titles: list[str], *, summary: str = "") -> tuple[Source, list[SourceItem]]:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        source = Source(
            client_id=tenant.client.id, url=f"https://feeds.example/{len(titles)}-{titles[0][:5]}", title="Feed"
        )
        session.add(source)
        await session.flush()
        items = []
        for index, title in enumerate(titles):
            item = SourceItem(
                client_id=tenant.client.id,
                source_id=source.id,
                dedup_key=f"{source.id}-{index}",
                title=title,
                summary=summary,
                published_at=START + timedelta(hours=index),
            )
            session.add(item)
            items.append(item)
    return source, items


async def test_search_understands_russian_and_english_word_forms(web, world: World, session_maker) -> None:
    await _items(
        session_maker,
        world.a,
        ["Каток открылся в городском парке", "Ferries return to the harbour", "Библиотека продлила часы работы"],
    )
    await web.sign_in(world.a.editor)
    russian = await web.get(f"/c/{world.a.client.slug}/inbox", params={"q": "городской каток"})
    assert "Каток открылся" in russian.text and "Библиотека" not in russian.text
    english = await web.get(f"/c/{world.a.client.slug}/inbox", params={"q": "ferry"})
    assert "Ferries return" in english.text and "Каток" not in english.text
    nothing = await web.get(f"/c/{world.a.client.slug}/inbox", params={"q": "вулкан"})
    assert "Nothing matches these filters." in nothing.text


async def test_keyset_pages_walk_every_item_once_in_order(web, world: World, session_maker) -> None:
    titles = [f"Story number {n:03d}" for n in range(120)]
    await _items(session_maker, world.a, titles)
    await web.sign_in(world.a.editor)
    seen: list[str] = []
    url = f"/c/{world.a.client.slug}/inbox"
    for _ in range(5):
        page = await web.get(url)
        seen += re.findall(r"Story number \d{3}", page.text)
        cursor = re.search(r'href="\?(after=[^"]+)" rel="next"', page.text)
        if not cursor:
            break
        url = f"/c/{world.a.client.slug}/inbox?{cursor.group(1)}"
    assert seen == sorted(titles, reverse=True)


async def test_a_mangled_cursor_shows_the_first_page(web, world: World, session_maker) -> None:
    await _items(session_maker, world.a, ["Only item"])
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/inbox", params={"after": "!!not-a-cursor"})
    assert page.status_code == 200 and "Only item" in page.text


async def test_filters_by_source_status_and_date(web, world: World, session_maker) -> None:
    source_a, items_a = await _items(session_maker, world.a, ["Alpha one", "Alpha two"])
    await _items(session_maker, world.a, ["Beta one"])
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        item = await session.get(SourceItem, items_a[1].id)
        item.status = "ignored"
    await web.sign_in(world.a.editor)
    slug = world.a.client.slug
    by_source = await web.get(f"/c/{slug}/inbox", params={"source": str(source_a.id)})
    assert "Alpha one" in by_source.text and "Beta one" not in by_source.text
    by_status = await web.get(f"/c/{slug}/inbox", params={"status": "ignored"})
    assert "Alpha two" in by_status.text and "Alpha one" not in by_status.text
    by_date = await web.get(f"/c/{slug}/inbox", params={"date_from": "2026-11-01", "date_to": "2026-11-01"})
    assert "Alpha one" in by_date.text
    later = await web.get(f"/c/{slug}/inbox", params={"date_from": "2026-11-02"})
    assert "Alpha one" not in later.text
    bad = await web.get(f"/c/{slug}/inbox", params={"date_from": "yesterday", "source": "nope"})
    assert bad.status_code == 200 and 'aria-invalid="true"' in bad.text


async def test_bulk_ignore_and_generate(web, world: World, session_maker, worker) -> None:
    _, items = await _items(session_maker, world.a, ["Keep me", "Ignore me", "Draft me"], summary="Some text here.")
    await web.sign_in(world.a.editor)
    slug = world.a.client.slug
    await web.client.get(f"/c/{slug}/inbox")
    response = await web.client.post(
        f"/c/{slug}/items/bulk",
        data={"_csrf_token": web.csrf(), "action": "ignore", "item_ids": [str(items[1].id)], "back": ""},
    )
    assert response.status_code == 303
    response = await web.client.post(
        f"/c/{slug}/items/bulk",
        data={"_csrf_token": web.csrf(), "action": "generate", "item_ids": [str(items[2].id), str(items[1].id)]},
    )
    assert response.status_code == 303
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        statuses = dict((await session.execute(select(SourceItem.title, SourceItem.status))).all())
    assert statuses["Ignore me"] == "ignored" and statuses["Keep me"] == "new"
    assert statuses["Draft me"] in ("generating", "drafted")
    nothing = await web.post(f"/c/{slug}/items/bulk", {"action": "generate"})
    assert nothing.status_code == 303
    page = await web.get(nothing.headers["location"])
    assert "Tick some items first" in page.text


async def test_another_clients_items_never_show(web, world: World, session_maker) -> None:
    await _items(session_maker, world.b, ["Secret of beta"])
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/inbox", params={"q": "secret"})
    assert "Secret of beta" not in page.text


async def test_inbox_search_can_use_its_index_under_row_level_security(world: World, session_maker):
    """`@@` must be LEAKPROOF (app.db.bootstrap) or RLS keeps the GIN index out of every search."""
    from sqlalchemy import text

    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            (
                await session.execute(
                    text("EXPLAIN SELECT id FROM source_items WHERE search @@ plainto_tsquery('english', 'ferry')")
                )
            ).scalars()
        )
    assert "ix_source_items_search" in plan, plan
