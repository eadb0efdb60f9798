"""The .docx content plan: real stories made by the pipeline, exported and read back with python-docx."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from sqlalchemy import select

from app.db.session import scoped_session
from app.generation.pipeline import run_step
from app.generation.services import regenerate_scene
from app.publishing.services import schedule_story
from app.stories import services
from app.stories.export import DOCX_MEDIA_TYPE, content_plan_docx
from app.stories.models import Asset, Scene, Story, StoryVersion
from app.tenancy.models import Client
from tests.conftest import World
from tests.web.test_generation_pipeline import deps, drive, make_item, start  # noqa: F401 - deps is a fixture

HEADER = ["No.", "Images", "Title and text", "Captions", "Channels", "Scheduled", "Status"]


async def made_story(deps, client_id: UUID, title: str) -> UUID:  # noqa: F811
    item = await make_item(deps.session_maker, client_id, title=title)
    pipeline = await drive(deps, client_id, await start(deps.session_maker, client_id, item.id))
    assert pipeline.status == "COMPLETED", pipeline.error
    return pipeline.story_id


@pytest.fixture
async def plan(world: World, deps, session_maker):  # noqa: F811
    """Three stories of client A: one scheduled for 15 March 2030, 09:30 Moscow; one draft with a
    second variant in its first scene; one rejected."""
    client_id = world.a.client.id
    scheduled = await made_story(deps, client_id, "Harbour ferry is back")
    draft = await made_story(deps, client_id, "New cycle lanes open")
    rejected = await made_story(deps, client_id, "Library hours change")
    async with scoped_session(session_maker, client_id=client_id) as session:
        client = await session.get(Client, client_id)
        story = await services.get_story(session, client_id, scheduled)
        await services.approve(session, story, None)
        await schedule_story(session, client, story, "2030-03-15T09:30")
        await services.reject(session, await services.get_story(session, client_id, rejected), None, "Off topic")
        version_id = (await services.get_story(session, client_id, draft)).current_version_id
        first_scene = (
            (await session.execute(select(Scene).where(Scene.story_version_id == version_id).order_by(Scene.position)))
            .scalars()
            .first()
        )
        job = await regenerate_scene(session, client_id, first_scene.id, requested_by=world.a.editor)
    await run_step(deps, client_id, job.id, attempt=1, final_attempt=True)
    return {"scheduled": scheduled, "draft": draft, "rejected": rejected}


async def titles_and_counts(session_maker, client_id: UUID, story_id: UUID) -> tuple[str, dict, int, int]:
    """The story's title, captions, scene count and current variant count, as the database has them."""
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = await session.get(Story, story_id)
        version = await session.get(StoryVersion, story.current_version_id)
        scenes = (await session.execute(select(Scene).where(Scene.story_version_id == version.id))).scalars().all()
        images = (
            (
                await session.execute(
                    select(Asset).where(
                        Asset.story_version_id == version.id, Asset.kind == "image", Asset.stale.is_(False)
                    )
                )
            )
            .scalars()
            .all()
        )
    return version.title, version.captions, len(scenes), len(images)


def read(data: bytes):
    document = docx.Document(io.BytesIO(data))
    table = document.tables[0]
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    return document, table, rows


def pictures_in(cell) -> int:  # noqa: ANN001
    return len(cell._tc.findall(".//" + qn("w:drawing")))


async def test_the_plan_by_selection_shows_every_story_with_its_texts_times_and_images(
    web, world: World, plan, session_maker
):
    slug = world.a.client.slug
    await web.sign_in(world.a.editor)
    ids = [plan["scheduled"], plan["draft"], plan["rejected"]]
    response = await web.get(f"/c/{slug}/stories/export", params={"ids": [str(i) for i in ids]})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(DOCX_MEDIA_TYPE)
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date().isoformat()
    # The selection spans from today (the drafts' creation day) to the scheduled day.
    assert response.headers["content-disposition"] == (
        f'attachment; filename="content-plan-{slug}-{today}-2030-03-15.docx"'
    )

    document, table, rows = read(response.content)
    section = document.sections[0]
    assert section.orientation == WD_ORIENT.LANDSCAPE and section.page_width > section.page_height
    text = "\n".join(p.text for p in document.paragraphs)
    assert f"Content plan: {world.a.client.name}" in text and "Generated" in text and "(Europe/Moscow)" in text
    assert rows[0] == HEADER
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None  # repeated on every page
    assert len(rows) == 4  # one per story

    # Ordered by plan date: the two stories of today first, the scheduled one (2030) last.
    by_title = {}
    for story_id in ids:
        title, captions, scene_count, variant_count = await titles_and_counts(
            session_maker, world.a.client.id, story_id
        )
        row = next(r for r in rows[1:] if r[2].startswith(title))
        by_title[story_id] = (row, captions, scene_count, variant_count, rows.index(row))
    row, captions, scene_count, _variants, position = by_title[plan["scheduled"]]
    assert position == 3 and row[0] == "3"
    assert row[4] == "Reader" and row[5] == "15 Mar 2030, 09:30" and row[6] == "Scheduled"
    for network in ("Telegram", "Instagram", "YouTube"):
        assert network in row[3]
    assert captions["telegram"].split("\n")[0].strip() in row[3]
    draft_row = by_title[plan["draft"]][0]
    assert draft_row[4] == "—" and draft_row[5] == "Not scheduled" and draft_row[6] == "Draft"
    assert by_title[plan["rejected"]][0][6] == "Rejected"
    assert "Scenes" in draft_row[2]

    # Headliners only: one picture per scene, every row.
    for _row, _captions, scene_count, _variants, position in by_title.values():
        assert pictures_in(table.rows[position].cells[1]) == scene_count
    assert len(document.inline_shapes) == sum(v[2] for v in by_title.values())


async def test_all_variants_puts_in_every_current_image(web, world: World, plan, session_maker):
    await web.sign_in(world.a.editor)
    response = await web.get(
        f"/c/{world.a.client.slug}/stories/export", params={"ids": str(plan["draft"]), "variants": "all"}
    )
    assert response.status_code == 200
    document, table, rows = read(response.content)
    _title, _captions, scene_count, variant_count = await titles_and_counts(
        session_maker, world.a.client.id, plan["draft"]
    )
    assert variant_count == scene_count + 1  # the regenerated first scene has two
    assert len(rows) == 2 and pictures_in(table.rows[1].cells[1]) == variant_count
    assert "Scene 1" in rows[1][1]
    assert "All variants of every scene" in "\n".join(p.text for p in document.paragraphs)


async def test_the_plan_by_date_range_uses_the_publication_day_in_the_client_zone(
    web, world: World, plan, session_maker
):
    slug = world.a.client.slug
    await web.sign_in(world.a.editor)
    response = await web.get(f"/c/{slug}/stories/export", params={"from": "2030-03-15", "to": "2030-03-15"})
    assert response.status_code == 200
    expected = f'filename="content-plan-{slug}-2030-03-15-2030-03-15.docx"'
    assert response.headers["content-disposition"].endswith(expected)
    _document, _table, rows = read(response.content)
    title, *_rest = await titles_and_counts(session_maker, world.a.client.id, plan["scheduled"])
    assert len(rows) == 2 and rows[1][2].startswith(title)

    # Today (Moscow): the stories not scheduled anywhere, by their creation day.
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date().isoformat()
    response = await web.get(f"/c/{slug}/stories/export", params={"from": today, "to": today})
    _document, _table, rows = read(response.content)
    assert sorted(r[6] for r in rows[1:]) == ["Draft", "Rejected"]


async def test_a_missing_image_is_noted_not_fatal(world: World, plan, session_maker, deps):  # noqa: F811
    client_id = world.a.client.id
    async with scoped_session(session_maker, client_id=client_id) as session:
        story = await session.get(Story, plan["rejected"])
        asset = (
            (await session.execute(select(Asset).where(Asset.story_version_id == story.current_version_id)))
            .scalars()
            .first()
        )
        asset.storage_key = f"clients/{client_id}/gone/nothing.png"
    async with scoped_session(session_maker, client_id=client_id) as session:
        client = await session.get(Client, client_id)
        data = await content_plan_docx(session, deps.storage, client, story_ids=[plan["rejected"]])
    _document, table, rows = read(data)
    assert "(image missing)" in rows[1][1]
    _title, _captions, scene_count, _variants = await titles_and_counts(session_maker, client_id, plan["rejected"])
    assert pictures_in(table.rows[1].cells[1]) == scene_count - 1


async def test_bad_input_goes_back_to_the_stories_with_a_message(web, world: World):
    base = f"/c/{world.a.client.slug}/stories"
    await web.sign_in(world.a.editor)
    cases = [
        ({"from": "2030-03-20", "to": "2030-03-10"}, "The start date is after the end date."),
        ({"from": "20.03.2030", "to": "2030-03-21"}, "Enter the dates as YYYY-MM-DD"),
        ({}, "Pick a date range or select stories to export."),
        ({"scope": "selected", "from": "", "to": ""}, "Tick the stories to export first."),
        ({"from": "2031-01-01", "to": "2031-01-31"}, "No stories in this date range."),
    ]
    for params, message in cases:
        response = await web.get(f"{base}/export", params=params)
        assert response.status_code == 303 and response.headers["location"] == base, params
        assert message in (await web.get(base)).text, params


async def test_viewers_get_403_and_another_clients_story_is_left_out(web, world: World, plan, deps):  # noqa: F811
    base = f"/c/{world.a.client.slug}/stories"
    theirs = await made_story(deps, world.b.client.id, "Someone else's news")
    await web.sign_in(world.a.viewer)
    assert (await web.get(f"{base}/export", params={"ids": str(plan["draft"])})).status_code == 403
    await web.sign_in(world.outsider)
    assert (await web.get(f"{base}/export", params={"ids": str(plan["draft"])})).status_code == 404

    # Client B's id in client A's export: not found there, so simply not in the plan.
    await web.sign_in(world.a.editor)
    response = await web.get(f"{base}/export", params={"ids": [str(plan["draft"]), str(theirs)]})
    _document, _table, rows = read(response.content)
    assert len(rows) == 2 and not any("Someone else" in r[2] for r in rows)
    response = await web.get(f"{base}/export", params={"ids": str(theirs)})
    assert response.status_code == 303
    assert "None of the selected stories were found." in (await web.get(base)).text


def test_plan_dates_are_days_of_the_client():
    from app.stories.export import _local_day_bounds

    start, end = _local_day_bounds(date(2030, 3, 15), date(2030, 3, 15), ZoneInfo("Europe/Moscow"))
    assert (start.isoformat(), end.isoformat()) == ("2030-03-14T21:00:00+00:00", "2030-03-15T21:00:00+00:00")
