"""The moderation queue: tabs with counts, search, keyset pages, bulk approve / reject, query count."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import select

from app.db.session import scoped_session
from app.sources.models import Source, SourceItem
from app.stories.models import Asset, Scene, Story, StoryVersion
from tests.conftest import World

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def make_stories(
    session_maker,
    tenant,
    specs: list[tuple[str, str]],
    *,
    body: str = "",
    same_time: bool = False,
    created_by: UUID | None = None,
    source_title: str | None = None,
    with_cover: bool = False,
) -> list[UUID]:
    """Stories of (title, status), newest last; with `same_time` every one has the same created_at."""
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        item_ids: list[UUID | None] = [None] * len(specs)
        if source_title:
            source = Source(client_id=tenant.client.id, url=f"https://feeds.example/{source_title}", title=source_title)
            session.add(source)
            await session.flush()
            items = [
                SourceItem(
                    client_id=tenant.client.id,
                    source_id=source.id,
                    dedup_key=f"{source.id}-{n}",
                    title=title,
                    published_at=START,
                )
                for n, (title, _status) in enumerate(specs)
            ]
            session.add_all(items)
            await session.flush()
            item_ids = [item.id for item in items]
        stories = []
        for n, (_title, status) in enumerate(specs):
            story = Story(
                client_id=tenant.client.id,
                status=status,
                created_by_id=created_by,
                source_item_id=item_ids[n],
                created_at=START if same_time else START + timedelta(minutes=n),
            )
            session.add(story)
            stories.append(story)
        await session.flush()
        versions = [
            StoryVersion(client_id=tenant.client.id, story_id=story.id, title=title, lead="", body=body)
            for story, (title, _status) in zip(stories, specs, strict=True)
        ]
        session.add_all(versions)
        await session.flush()
        for story, version in zip(stories, versions, strict=True):
            story.current_version_id = version.id
        if with_cover:  # a scene with two variants each; the second is the headliner
            for version in versions:
                scene = Scene(client_id=tenant.client.id, story_version_id=version.id, position=0, text="Scene")
                session.add(scene)
                await session.flush()
                variants = [
                    Asset(
                        client_id=tenant.client.id,
                        story_version_id=version.id,
                        scene_id=scene.id,
                        variant=n,
                        storage_key=f"clients/{tenant.client.id}/covers/{version.id}/{n}.jpg",
                        mime="image/jpeg",
                        size_bytes=1000,
                        idempotency_key=f"cover-{version.id}-{n}",
                    )
                    for n in range(2)
                ]
                session.add_all(variants)
                await session.flush()
                scene.headliner_asset_id = variants[1].id
        return [story.id for story in stories]


def tab_counts(html: str) -> dict[str, int]:
    return {
        status: int(count)
        for status, count in re.findall(r'data-status="([a-z_]+)">\s*[^<]*<span class="queue-count">(\d+)</span>', html)
    }


async def test_tabs_count_each_status_and_filter_by_it(web, world: World, session_maker) -> None:
    specs = [("Draft one", "draft"), ("Draft two", "draft"), ("Approved one", "approved")]
    specs += [("Rejected one", "rejected"), ("Published one", "published"), ("Half made", "generating")]
    await make_stories(session_maker, world.a, specs)
    await make_stories(session_maker, world.b, [("Other client's draft", "draft")])
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    page = await web.get(url)
    assert page.status_code == 200
    counts = tab_counts(page.text)
    assert counts == {
        "draft": 2,
        "in_review": 0,
        "approved": 1,
        "scheduled": 0,
        "published": 1,
        "rejected": 1,
        "all": 5,
    }
    assert "Half made" not in page.text and "Other client" not in page.text
    drafts = await web.get(url, params={"status": "draft"})
    assert "Draft one" in drafts.text and "Draft two" in drafts.text and "Approved one" not in drafts.text
    review = await web.get(url, params={"status": "in_review"})
    assert review.status_code == 200 and "No stories with this status." in review.text


async def test_search_finds_a_word_of_the_body_in_english_and_russian(web, world: World, session_maker) -> None:
    await make_stories(session_maker, world.a, [("Harbour news", "draft")], body="The ferry returns after repairs.")
    await make_stories(session_maker, world.a, [("Городские новости", "draft")], body="Каток открылся в парке.")
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    english = await web.get(url, params={"q": "ferry"})
    assert "Harbour news" in english.text and "Городские" not in english.text
    assert tab_counts(english.text)["all"] == 1
    russian = await web.get(url, params={"q": "каток"})
    assert "Городские новости" in russian.text and "Harbour news" not in russian.text
    nothing = await web.get(url, params={"q": "вулкан"})
    assert "Nothing matches these filters." in nothing.text


async def test_filters_by_date_source_and_mine(web, world: World, session_maker) -> None:
    await make_stories(session_maker, world.a, [("From the feed", "draft")], source_title="Gazette")
    await make_stories(session_maker, world.a, [("Mine", "draft")], created_by=world.a.editor.id)
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    page = await web.get(url)
    assert "Gazette" in page.text
    mine = await web.get(url, params={"mine": "1"})
    assert "Mine" in mine.text and "From the feed" not in mine.text
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        source_id = (await session.execute(select(Source.id))).scalar_one()
    by_source = await web.get(url, params={"source": str(source_id)})
    assert "From the feed" in by_source.text and ">Mine<" not in by_source.text
    later = await web.get(url, params={"date_from": "2026-11-02"})
    assert "Nothing matches these filters." in later.text
    on_the_day = await web.get(url, params={"date_from": "2026-11-01", "date_to": "2026-11-01"})
    assert "From the feed" in on_the_day.text


async def test_keyset_pages_give_each_story_once_with_equal_timestamps(web, world: World, session_maker) -> None:
    titles = [f"Story number {n:03d}" for n in range(120)]
    await make_stories(session_maker, world.a, [(t, "draft") for t in titles], same_time=True)
    await web.sign_in(world.a.editor)
    seen: list[str] = []
    url = f"/c/{world.a.client.slug}/stories?status=draft"
    for _ in range(5):
        page = await web.get(url)
        found = re.findall(r"Story number \d{3}", page.text)
        assert len(found) <= 50
        seen += found
        cursor = re.search(r'href="\?([^"]*after=[^"]+)" rel="next"', page.text)
        if not cursor:
            break
        url = f"/c/{world.a.client.slug}/stories?{cursor.group(1).replace('&amp;', '&')}"
    assert len(seen) == 120 and sorted(seen) == sorted(titles)
    mangled = await web.get(f"/c/{world.a.client.slug}/stories", params={"after": "!!nonsense"})
    assert mangled.status_code == 200 and len(re.findall(r"Story number \d{3}", mangled.text)) == 50


async def test_bulk_approve_and_reject_with_allowed_and_refused_stories(web, world: World, session_maker) -> None:
    ids = await make_stories(
        session_maker,
        world.a,
        [("D1", "draft"), ("D2", "draft"), ("R1", "rejected"), ("P1", "published")],
    )
    other = await make_stories(session_maker, world.b, [("Theirs", "draft")])
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    response = await web.post(
        f"{url}/bulk", {"action": "approve", "story_ids": [*ids, other[0]], "back": "status=draft"}
    )
    assert response.status_code == 303 and response.headers["location"] == f"{url}?status=draft"
    page = await web.get(response.headers["location"])
    assert "3 approved" in page.text
    assert "1 could not be approved: This story cannot be approved now (it is published)." in page.text
    assert "1 could not be approved: The story no longer exists." in page.text  # another client's id
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        statuses = {i: s for i, s in (await session.execute(select(Story.id, Story.status))).all()}
    assert [statuses[i] for i in ids] == ["approved", "approved", "approved", "published"]
    async with scoped_session(session_maker, client_id=world.b.client.id) as session:
        assert (await session.get(Story, other[0])).status == "draft"

    # A rejection needs its reason (it goes to each story's audit log).
    response = await web.post(f"{url}/bulk", {"action": "reject", "story_ids": ids[:2] + ids[3:]})
    page = await web.get(response.headers["location"])
    assert "2 could not be rejected: Say why the story is rejected" in page.text
    response = await web.post(
        f"{url}/bulk", {"action": "reject", "story_ids": ids[:2] + ids[3:], "reason": "Not for this week."}
    )
    page = await web.get(response.headers["location"])
    assert "2 rejected" in page.text and "1 could not be rejected" in page.text
    nothing = await web.post(f"{url}/bulk", {"action": "approve"})
    page = await web.get(nothing.headers["location"])
    assert "Tick some stories first" in page.text


async def test_keyboard_action_answers_with_the_updated_row(web, world: World, session_maker) -> None:
    draft, published = await make_stories(session_maker, world.a, [("Kbd draft", "draft"), ("Kbd out", "published")])
    await web.sign_in(world.a.editor)
    base = f"/c/{world.a.client.slug}/stories"
    response = await web.post(f"{base}/{draft}/queue/approve", htmx=True)
    assert response.status_code == 200 and 'class="badge status-approved"' in response.text
    assert f'id="story-{draft}"' in response.text
    refused = await web.post(f"{base}/{published}/queue/reject", {"reason": "Too late"}, htmx=True)
    assert refused.status_code == 409 and "This story cannot be rejected now (it is published)." in refused.text
    other = await make_stories(session_maker, world.b, [("Theirs", "draft")])
    assert (await web.post(f"{base}/{other[0]}/queue/approve", htmx=True)).status_code == 404


async def test_viewer_gets_403_and_outsider_404(web, world: World, session_maker) -> None:
    ids = await make_stories(session_maker, world.a, [("Guarded", "draft")])
    base = f"/c/{world.a.client.slug}/stories"
    await web.sign_in(world.a.viewer)
    assert (await web.get(base)).status_code == 403
    assert (await web.post(f"{base}/bulk", {"action": "approve", "story_ids": ids})).status_code == 403
    assert (await web.post(f"{base}/{ids[0]}/queue/approve")).status_code == 403
    await web.sign_in(world.outsider)
    assert (await web.get(base)).status_code == 404
    assert (await web.post(f"{base}/bulk", {"action": "approve", "story_ids": ids})).status_code == 404
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.get(Story, ids[0])).status == "draft"


async def test_page_query_count_does_not_grow_with_the_stories(web, world: World, session_maker, statements) -> None:
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    await make_stories(
        session_maker, world.a, [(f"Few {n}", "draft") for n in range(5)], source_title="Few", with_cover=True
    )
    await web.get(url)  # warm caches (locale, templates)
    with statements:
        assert (await web.get(url)).status_code == 200
    few = len(statements.seen)
    await make_stories(
        session_maker, world.a, [(f"Many {n}", "draft") for n in range(45)], source_title="Many", with_cover=True
    )
    with statements:
        page = await web.get(url)
    assert page.text.count('class="queue-row') == 50
    assert page.text.count("/1.jpg") == 50 and "/0.jpg" not in page.text  # each cover is its headliner
    assert 0 < len(statements.seen) == few, "\n".join(statements.seen)


async def test_tab_counts_follow_every_change_and_survive_compaction(web, world: World, session_maker) -> None:
    """The counts table is kept by triggers: inserts, status changes (one or bulk), deletes."""
    from app.stories.models import story_status_counts
    from app.stories.queue import compact_status_counts

    ids = await make_stories(session_maker, world.a, [(f"Draft {n}", "draft") for n in range(4)])
    await make_stories(session_maker, world.b, [("Beta draft", "draft")])
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    assert tab_counts((await web.get(url)).text)["draft"] == 4
    await web.post(f"{url}/bulk", data={"action": "approve", "story_ids": [str(ids[0]), str(ids[1])]})
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.delete(await session.get(Story, ids[3]))
    counts = tab_counts((await web.get(url)).text)
    assert (counts["draft"], counts["approved"], counts["all"]) == (1, 2, 3)

    async with scoped_session(session_maker, system=True) as session:
        assert await compact_status_counts(session) > 0
        rows = (
            await session.execute(
                select(story_status_counts.c.status, story_status_counts.c.delta).where(
                    story_status_counts.c.client_id == world.a.client.id
                )
            )
        ).all()
    assert sorted(rows) == [("approved", 2), ("draft", 1)]  # one row per status, zero rows gone
    assert tab_counts((await web.get(url)).text) == counts
    beta = await web.get(f"/c/{world.b.client.slug}/stories")
    assert beta.status_code == 404  # the editor of alpha is not in beta: counts never cross clients


async def test_a_client_with_stories_can_be_deleted(world: World, session_maker) -> None:
    """The count triggers skip a client that is being deleted (its rows go by cascade)."""
    from app.stories.models import story_status_counts
    from app.tenancy.models import Client

    await make_stories(session_maker, world.b, [("Doomed", "draft"), ("Doomed too", "approved")])
    async with scoped_session(session_maker, system=True) as session:
        await session.delete(await session.get(Client, world.b.client.id))
    async with scoped_session(session_maker, system=True) as session:
        left = await session.execute(
            select(story_status_counts.c.id).where(story_status_counts.c.client_id == world.b.client.id)
        )
        assert left.all() == []


async def test_a_narrowed_view_counts_up_to_the_cap(web, world: World, session_maker, monkeypatch) -> None:
    from app.stories import queue

    monkeypatch.setattr(queue, "COUNT_CAP", 3)
    specs = [(f"Ferry {n}", "draft") for n in range(4)] + [("Ferry approved", "approved")]
    await make_stories(session_maker, world.a, specs, body="ferry")
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    searched = await web.get(url, params={"q": "ferry"})
    assert re.search(r'data-status="all">\s*All <span class="queue-count">3\+</span>', searched.text), searched.text
    assert not re.search(r'data-status="draft">\s*Drafts <span', searched.text)  # no per-tab figure when capped
    assert searched.text.count('class="queue-row') == 5  # the rows themselves are not capped
    exact = await web.get(url, params={"q": "approved"})
    assert tab_counts(exact.text) == {**dict.fromkeys(TAB_KEYS, 0), "approved": 1, "all": 1}


TAB_KEYS = ("draft", "in_review", "approved", "scheduled", "published", "rejected", "all")


async def test_queue_search_can_use_its_index_under_row_level_security(world: World, session_maker) -> None:
    from sqlalchemy import text

    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            (
                await session.execute(
                    text("EXPLAIN SELECT id FROM story_versions WHERE search @@ plainto_tsquery('simple', 'ferry')")
                )
            ).scalars()
        )
    assert "ix_story_versions_search" in plan, plan


async def test_a_book_length_body_is_stored_and_its_opening_is_searchable(web, world: World, session_maker) -> None:
    """The search column reads only the first 100k characters: a huge body never fails the insert."""
    words = " ".join(f"w{n:06x}" for n in range(120_000))  # ~960k characters, all different words
    await make_stories(session_maker, world.a, [("The long book", "draft")], body="prologue " + words)
    await web.sign_in(world.a.editor)
    url = f"/c/{world.a.client.slug}/stories"
    assert "The long book" in (await web.get(url, params={"q": "prologue"})).text
