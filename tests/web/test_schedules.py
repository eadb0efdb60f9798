"""Schedules: the owner's weekly slots, queueing into the next free slot (daylight-saving changes
included), pausing a channel, pending publications that follow the story's workflow, and the
calendar in the client's time zone."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update

from app.db.session import scoped_session
from app.publishing import schedules
from app.publishing.models import Channel, ChannelKind, ChannelSlot, Publication
from app.publishing.services import ScheduleError, publish_publication, reader_channel, sweep_publications
from app.publishing.slots import WeeklySlot, next_free_slots
from app.stories.models import Story, StoryVersion
from app.tenancy.models import Client
from tests.conftest import Tenant, World
from tests.web.test_share_links import make_story
from tests.web.test_story_workflow import edit_form, stamp_of

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
BERLIN, MOSCOW = ZoneInfo("Europe/Berlin"), ZoneInfo("Europe/Moscow")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def approved_story(session_maker, tenant: Tenant, title: str) -> Story:
    story = await make_story(session_maker, tenant.client.id, title)
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        await session.execute(update(Story).where(Story.id == story.id).values(status="approved"))
    return story


async def set_timezone(session_maker, tenant: Tenant, zone: str) -> None:
    async with scoped_session(session_maker, system=True) as session:
        await session.execute(update(Client).where(Client.id == tenant.client.id).values(timezone=zone))
    tenant.client.timezone = zone


async def reader_of(session_maker, tenant: Tenant) -> Channel:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        return await reader_channel(session, tenant.client.id)


async def set_slots(session_maker, tenant: Tenant, channel_id: UUID, slots: list[tuple[int, time]]) -> None:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        await session.execute(text("DELETE FROM channel_slots WHERE channel_id = :c"), {"c": channel_id})
        for weekday, at in slots:
            session.add(ChannelSlot(client_id=tenant.client.id, channel_id=channel_id, weekday=weekday, local_time=at))


async def queue(session_maker, tenant: Tenant, story_id: UUID, channel_id: UUID, now: datetime) -> datetime:
    """queue_story as a request would call it (story locked), in its own transaction; the stored instant."""
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        client = await session.get_one(Client, tenant.client.id)
        story = (
            await session.execute(select(Story).where(Story.id == story_id).with_for_update(of=Story))
        ).scalar_one()
        channel = await session.get_one(Channel, channel_id)
        publication = await schedules.queue_story(session, client, story, channel, now=now)
        publication_id = publication.id
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        stored = await session.get_one(Publication, publication_id)  # read back: what the database kept
        return stored.scheduled_at


async def publications_of(session_maker, tenant: Tenant, story_id: UUID) -> list[Publication]:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        return list(
            (
                await session.execute(
                    select(Publication).where(Publication.story_id == story_id).order_by(Publication.created_at)
                )
            ).scalars()
        )


async def add_publication(session_maker, tenant: Tenant, story: Story, channel_id: UUID, at: datetime) -> UUID:
    async with scoped_session(session_maker, client_id=tenant.client.id) as session:
        publication = Publication(
            client_id=tenant.client.id,
            story_id=story.id,
            story_version_id=story.current_version_id,
            channel_id=channel_id,
            scheduled_at=at,
        )
        session.add(publication)
        await session.execute(update(Story).where(Story.id == story.id).values(status="scheduled"))
        await session.flush()
        return publication.id


def day_cell(page: str, day: date) -> str:
    """The HTML of one calendar day's cell (the first one: the first channel's row in the week view)."""
    match = re.search(rf'<td([^>]*)data-day="{day.isoformat()}"(.*?)</td>', page, re.S)
    assert match, f"no cell for {day}"
    return match.group(1) + match.group(2)


# --- the owner's weekly slots -----------------------------------------------------------------------


async def test_the_owner_saves_weekly_slots_and_sees_the_next_ones_in_the_clients_zone(
    web, world: World, session_maker
):
    channel = await reader_of(session_maker, world.a)
    await web.sign_in(world.a.owner)
    base = f"/c/{world.a.client.slug}/schedule"

    saved = await web.post(f"{base}/{channel.id}/slots", {"day-0": "09:00, 18:30", "day-2": " 7.05 ", "day-6": ""})

    assert saved.status_code == 303
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert await schedules.channel_slots(session, world.a.client.id, channel.id) == [
            WeeklySlot(MON, time(9)),
            WeeklySlot(MON, time(18, 30)),
            WeeklySlot(WED, time(7, 5)),
        ]
    page = await web.get(base)
    assert page.status_code == 200
    assert "1 weekly slot saved" not in page.text and "3 weekly slots saved" in page.text
    assert 'value="09:00, 18:30"' in page.text and 'value="07:05"' in page.text
    # The next occurrences, in Moscow time with the zone's name and the UTC time beside them.
    assert "09:00 MSK" in page.text and "06:00 UTC" in page.text and "15:30 UTC" in page.text
    assert page.text.count("<li><time") == 5


async def test_bad_slot_times_are_explained_beside_their_day_and_nothing_changes(web, world: World, session_maker):
    channel = await reader_of(session_maker, world.a)
    await set_slots(session_maker, world.a, channel.id, [(FRI, time(12))])
    await web.sign_in(world.a.owner)

    refused = await web.post(
        f"/c/{world.a.client.slug}/schedule/{channel.id}/slots",
        {"day-0": "09:00", "day-1": "9am", "day-3": "10:00 25:00"},
    )

    assert refused.status_code == 422
    assert "“9am” is not a time of day" in refused.text and "“25:00” is not a time of day" in refused.text
    assert f'aria-describedby="slots-{channel.id}-1-error"' in refused.text
    assert 'value="9am"' in refused.text and 'value="10:00 25:00"' in refused.text  # as typed
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert await schedules.channel_slots(session, world.a.client.id, channel.id) == [WeeklySlot(FRI, time(12))]


async def test_the_schedule_page_is_the_owners(web, world: World, session_maker):
    channel = await reader_of(session_maker, world.a)
    url = f"/c/{world.a.client.slug}/schedule"
    await web.sign_in(world.a.editor)
    assert (await web.get(url)).status_code == 403
    assert (await web.post(f"{url}/{channel.id}/slots", {"day-0": "09:00"})).status_code == 403
    assert (await web.post(f"{url}/{channel.id}/pause")).status_code == 403
    await web.sign_in(world.a.viewer)
    assert (await web.get(url)).status_code == 403
    for outsider in (world.b.owner, world.outsider):
        await web.sign_in(outsider)
        response = await web.get(url)
        assert response.status_code == 404 and world.a.client.name not in response.text
    await web.sign_in(world.a.owner)
    assert (await web.get(url)).status_code == 200


# --- the queue --------------------------------------------------------------------------------------


async def test_approved_stories_fill_the_next_free_slots_in_order(world: World, session_maker):
    channel = await reader_of(session_maker, world.a)  # the client is in Moscow (UTC+3 all year)
    await set_slots(session_maker, world.a, channel.id, [(MON, time(9)), (WED, time(18, 30))])
    now = utc(2026, 6, 7, 12)  # Sunday
    stories = [await approved_story(session_maker, world.a, f"Story {n}") for n in range(4)]
    # Wednesday's slot is held already by a story placed there by hand: the queue goes round it.
    await add_publication(session_maker, world.a, stories[3], channel.id, utc(2026, 6, 10, 15, 30))

    got = [await queue(session_maker, world.a, story.id, channel.id, now) for story in stories[:3]]

    assert got == [utc(2026, 6, 8, 6), utc(2026, 6, 15, 6), utc(2026, 6, 17, 15, 30)]
    for story in stories[:3]:
        async with scoped_session(session_maker, client_id=world.a.client.id) as session:
            assert (await session.get_one(Story, story.id)).status == "scheduled"


async def test_two_editors_queueing_at_once_get_two_different_slots(world: World, session_maker, monkeypatch):
    channel = await reader_of(session_maker, world.a)
    await set_slots(session_maker, world.a, channel.id, [(MON, time(9)), (TUE, time(9))])
    first, second = [await approved_story(session_maker, world.a, f"At once {n}") for n in range(2)]
    now = utc(2026, 6, 7, 12)
    # Each waits, after reading which slots are taken, for the other to have read them too: without
    # the channel lock both would read "none taken" and pick Monday. With it, the second cannot
    # read until the first has committed (the first gives up waiting after a moment).
    both_read = asyncio.Barrier(2)
    read_taken = schedules._taken_instants

    async def read_then_wait(*args, **kwargs):
        taken = await read_taken(*args, **kwargs)
        try:
            await asyncio.wait_for(both_read.wait(), 0.5)
        except TimeoutError:
            pass
        return taken

    monkeypatch.setattr(schedules, "_taken_instants", read_then_wait)

    got = await asyncio.gather(
        queue(session_maker, world.a, first.id, channel.id, now),
        queue(session_maker, world.a, second.id, channel.id, now),
    )

    assert sorted(got) == [utc(2026, 6, 8, 6), utc(2026, 6, 9, 6)]


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # Berlin springs forward on Sunday 29 March 2026: 09:00 is 08:00 UTC before, 07:00 UTC after.
        ("Europe/Berlin", utc(2026, 3, 27, 12), [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]),
        # Berlin falls back on Sunday 25 October 2026: 07:00 UTC before, 08:00 UTC after.
        ("Europe/Berlin", utc(2026, 10, 23, 12), [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]),
        # Moscow keeps UTC+3: 06:00 UTC on both weekends.
        ("Europe/Moscow", utc(2026, 3, 27, 12), [utc(2026, 3, 28, 6), utc(2026, 3, 29, 6), utc(2026, 3, 30, 6)]),
        ("Europe/Moscow", utc(2026, 10, 23, 12), [utc(2026, 10, 24, 6), utc(2026, 10, 25, 6), utc(2026, 10, 26, 6)]),
    ],
)
async def test_a_nine_oclock_slot_is_nine_local_across_clock_changes(world: World, session_maker, zone, now, expected):
    await set_timezone(session_maker, world.a, zone)
    channel = await reader_of(session_maker, world.a)
    await set_slots(session_maker, world.a, channel.id, [(day, time(9)) for day in range(7)])
    stories = [await approved_story(session_maker, world.a, f"Daily {n}") for n in range(3)]

    got = [await queue(session_maker, world.a, story.id, channel.id, now) for story in stories]

    assert got == expected  # the stored timestamptz instants
    assert {at.astimezone(ZoneInfo(zone)).time() for at in got} == {time(9)}


async def test_queueing_is_refused_with_words(world: World, session_maker):
    channel = await reader_of(session_maker, world.a)
    story = await approved_story(session_maker, world.a, "Ferry timetable")
    now = utc(2026, 6, 7, 12)
    with pytest.raises(ScheduleError, match="no weekly slots yet"):
        await queue(session_maker, world.a, story.id, channel.id, now)
    await set_slots(session_maker, world.a, channel.id, [(MON, time(9))])
    draft = await make_story(session_maker, world.a.client.id, "Still a draft")
    with pytest.raises(ScheduleError, match="Approve the story"):
        await queue(session_maker, world.a, draft.id, channel.id, now)
    await queue(session_maker, world.a, story.id, channel.id, now)
    with pytest.raises(ScheduleError, match="already on Reader for Mon 8 Jun 2026, 09:00 MSK"):
        await queue(session_maker, world.a, story.id, channel.id, now)


async def test_the_editor_queues_from_the_story_page(web, world: World, session_maker):
    channel = await reader_of(session_maker, world.a)
    await set_slots(session_maker, world.a, channel.id, [(TUE, time(10)), (SAT, time(8, 15))])
    story = await approved_story(session_maker, world.a, "Harbour lights")
    await web.sign_in(world.a.editor)
    page = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}")
    assert f'hx-get="/c/{world.a.client.slug}/stories/{story.id}/next-slot"' in page.text
    choices = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/next-slot")
    expected = next_free_slots(
        [WeeklySlot(TUE, time(10)), WeeklySlot(SAT, time(8, 15))], MOSCOW, datetime.now(UTC), set(), 1
    )[0]
    assert choices.status_code == 200 and "Queue in the next free slot" in choices.text
    assert schedules.local_label(expected, MOSCOW) in choices.text

    queued = await web.post(f"/c/{world.a.client.slug}/stories/{story.id}/next-slot/{channel.id}")

    assert queued.status_code == 303
    [publication] = await publications_of(session_maker, world.a, story.id)
    assert publication.scheduled_at == expected and publication.status == "scheduled"
    after = await web.get(queued.headers["location"])
    assert f"Queued on Reader for {schedules.local_label(expected, MOSCOW)}" in after.text
    # Now it is on the Reader: no second button for it.
    choices = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/next-slot")
    assert "queued for" in choices.text and "Queue in the next free slot</button>" not in choices.text


async def test_the_manual_date_and_time_still_schedules(web, world: World, session_maker):
    story = await approved_story(session_maker, world.a, "By hand")
    await web.sign_in(world.a.editor)
    response = await web.post(
        f"/c/{world.a.client.slug}/stories/{story.id}/publications", {"scheduled_at": "2030-01-07T09:00"}
    )
    assert response.status_code == 303
    [publication] = await publications_of(session_maker, world.a, story.id)
    assert publication.scheduled_at == utc(2030, 1, 7, 6)


# --- pause and resume -------------------------------------------------------------------------------


async def test_a_paused_channel_publishes_nothing_until_resumed(web, world: World, session_maker, redis, settings):
    channel = await reader_of(session_maker, world.a)
    await set_slots(session_maker, world.a, channel.id, [(day, time(9)) for day in range(7)])
    story = await approved_story(session_maker, world.a, "Waits for the pause")
    publication_id = await add_publication(
        session_maker, world.a, story, channel.id, datetime.now(UTC) - timedelta(minutes=5)
    )
    await web.sign_in(world.a.owner)
    assert (await web.post(f"/c/{world.a.client.slug}/schedule/{channel.id}/pause")).status_code == 303

    await sweep_publications(session_maker=session_maker, redis=redis, settings=settings)
    job = await publish_publication(
        session_maker=session_maker,
        redis=redis,
        settings=settings,
        client_id=world.a.client.id,
        publication_id=publication_id,
    )

    assert job is None
    [publication] = await publications_of(session_maker, world.a, story.id)
    assert publication.status == "scheduled" and publication.attempts == 0
    page = await web.get(f"/c/{world.a.client.slug}/schedule")
    assert "pub-paused" in page.text and "1 post came due meanwhile" in page.text
    panel = await web.get(f"/c/{world.a.client.slug}/stories/{story.id}/panel")
    assert "pub-paused" in panel.text
    other = await approved_story(session_maker, world.a, "Wants a slot")
    with pytest.raises(ScheduleError, match="Reader is paused"):
        await queue(session_maker, world.a, other.id, channel.id, datetime.now(UTC))

    resumed = await web.post(f"/c/{world.a.client.slug}/schedule/{channel.id}/resume")

    assert resumed.status_code == 303
    assert "moved to its next free slot" in (await web.get(resumed.headers["location"])).text
    [publication] = await publications_of(session_maker, world.a, story.id)
    next_nine = next_free_slots([WeeklySlot(d, time(9)) for d in range(7)], MOSCOW, datetime.now(UTC), set(), 1)[0]
    assert publication.status == "scheduled" and publication.scheduled_at == next_nine
    await sweep_publications(session_maker=session_maker, redis=redis, settings=settings, now=next_nine)
    [publication] = await publications_of(session_maker, world.a, story.id)
    assert publication.status == "published"


async def test_resuming_a_channel_without_slots_lets_the_sweep_publish_what_came_due(
    web, world: World, session_maker, redis, settings
):
    channel = await reader_of(session_maker, world.a)
    story = await approved_story(session_maker, world.a, "Due while paused")
    due = datetime.now(UTC) - timedelta(minutes=5)
    await add_publication(session_maker, world.a, story, channel.id, due)
    await web.sign_in(world.a.owner)
    await web.post(f"/c/{world.a.client.slug}/schedule/{channel.id}/pause")
    resumed = await web.post(f"/c/{world.a.client.slug}/schedule/{channel.id}/resume")
    assert "goes out now" in (await web.get(resumed.headers["location"])).text
    await sweep_publications(session_maker=session_maker, redis=redis, settings=settings)
    [publication] = await publications_of(session_maker, world.a, story.id)
    assert publication.status == "published" and publication.scheduled_at == due


# --- pending publications follow the story ----------------------------------------------------------


@pytest.fixture
async def scheduled_story(world: World, session_maker) -> Story:
    channel = await reader_of(session_maker, world.a)
    story = await approved_story(session_maker, world.a, "Scheduled already")
    await add_publication(session_maker, world.a, story, channel.id, datetime.now(UTC) + timedelta(days=2))
    return story


@pytest.mark.parametrize(
    ("step", "form", "status", "reason"),
    [
        ("reject", {"reason": "Off brand."}, "rejected", "Canceled: the story was rejected."),
        ("request-changes", {"reason": "Shorter."}, "changes_requested", "Canceled: changes were requested."),
    ],
)
async def test_taking_the_approval_back_cancels_pending_publications(
    web, world: World, session_maker, scheduled_story, step, form, status, reason
):
    await web.sign_in(world.a.editor)
    response = await web.post(f"/c/{world.a.client.slug}/stories/{scheduled_story.id}/{step}", form)
    assert response.status_code == 303
    [publication] = await publications_of(session_maker, world.a, scheduled_story.id)
    assert publication.status == "canceled" and publication.last_error == reason
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.get_one(Story, scheduled_story.id)).status == status
    panel = await web.get(f"/c/{world.a.client.slug}/stories/{scheduled_story.id}/panel")
    assert reason in panel.text


async def test_editing_a_scheduled_story_cancels_its_publications_and_returns_it_to_draft(
    web, world: World, session_maker, scheduled_story
):
    base = f"/c/{world.a.client.slug}/stories/{scheduled_story.id}"
    await web.sign_in(world.a.editor)
    page = await web.get(base)
    await web.post(f"{base}/edit", edit_form(stamp_of(page.text), title="A better title"))
    [publication] = await publications_of(session_maker, world.a, scheduled_story.id)
    assert publication.status == "canceled"
    assert publication.last_error == "Canceled: the story was edited after it was scheduled."
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.get_one(Story, scheduled_story.id)).status == "draft"


async def test_a_new_version_of_a_published_story_cancels_what_was_still_pending(web, world: World, session_maker):
    story = await approved_story(session_maker, world.a, "Out on the Reader")
    reader = await reader_of(session_maker, world.a)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        instagram = Channel(client_id=world.a.client.id, kind=ChannelKind.INSTAGRAM, name="@brand")
        session.add(instagram)
        await session.flush()
        instagram_id = instagram.id
    await add_publication(session_maker, world.a, story, instagram_id, datetime.now(UTC) + timedelta(days=1))
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        session.add(
            Publication(
                client_id=world.a.client.id,
                story_id=story.id,
                story_version_id=story.current_version_id,
                channel_id=reader.id,
                scheduled_at=datetime.now(UTC) - timedelta(hours=1),
                status="published",
            )
        )
        await session.execute(update(Story).where(Story.id == story.id).values(status="published"))
        await session.execute(
            update(StoryVersion).where(StoryVersion.id == story.current_version_id).values(frozen=True)
        )
    base = f"/c/{world.a.client.slug}/stories/{story.id}"
    await web.sign_in(world.a.editor)
    await web.post(f"{base}/edit", edit_form(stamp_of((await web.get(base)).text), title="Corrected"))

    by_channel = {p.channel_id: p for p in await publications_of(session_maker, world.a, story.id)}
    assert by_channel[reader.id].status == "published"
    assert by_channel[instagram_id].status == "canceled"


async def test_canceling_one_of_two_publications_keeps_the_story_scheduled(web, world: World, session_maker):
    story = await approved_story(session_maker, world.a, "Two channels")
    reader = await reader_of(session_maker, world.a)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        instagram = Channel(client_id=world.a.client.id, kind=ChannelKind.INSTAGRAM, name="@brand")
        session.add(instagram)
        await session.flush()
        instagram_id = instagram.id
    first = await add_publication(session_maker, world.a, story, reader.id, datetime.now(UTC) + timedelta(days=1))
    second = await add_publication(session_maker, world.a, story, instagram_id, datetime.now(UTC) + timedelta(days=1))
    await web.sign_in(world.a.editor)
    base = f"/c/{world.a.client.slug}/stories/{story.id}/publications"
    await web.post(f"{base}/{first}/cancel")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.get_one(Story, story.id)).status == "scheduled"
    await web.post(f"{base}/{second}/cancel")
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        assert (await session.get_one(Story, story.id)).status == "approved"


async def test_the_job_of_a_deleted_storys_publication_returns_quietly(
    world: World, session_maker, redis, settings, scheduled_story
):
    import tasks.worker

    [publication] = await publications_of(session_maker, world.a, scheduled_story.id)
    async with scoped_session(session_maker, client_id=world.a.client.id) as session:
        await session.execute(text("DELETE FROM stories WHERE id = :id"), {"id": scheduled_story.id})
    assert await publications_of(session_maker, world.a, scheduled_story.id) == []  # the cascade took it

    ctx = {"session_maker": session_maker, "redis": redis}
    result = await tasks.worker.publish_publication(
        ctx, publication_id=str(publication.id), client_id=str(world.a.client.id)
    )

    assert result is None


# --- the calendar -----------------------------------------------------------------------------------


async def test_the_week_shows_publications_in_the_clients_zone_and_never_another_clients(
    web, world: World, session_maker
):
    await set_timezone(session_maker, world.a, "Europe/Berlin")
    channel = await reader_of(session_maker, world.a)
    late = await approved_story(session_maker, world.a, "Just after midnight")
    nine = await approved_story(session_maker, world.a, "Nine on the new clock")
    # 23:30 UTC on Saturday is 00:30 on Sunday in Berlin (CET); 07:00 UTC on Sunday is 09:00 CEST.
    await add_publication(session_maker, world.a, late, channel.id, utc(2026, 3, 28, 23, 30))
    await add_publication(session_maker, world.a, nine, channel.id, utc(2026, 3, 29, 7))
    b_story = await approved_story(session_maker, world.b, "Beta's secret plan")
    await add_publication(
        session_maker, world.b, b_story, (await reader_of(session_maker, world.b)).id, utc(2026, 3, 29, 7)
    )
    await web.sign_in(world.a.editor)

    page = await web.get(f"/c/{world.a.client.slug}/calendar?week=2026-W13")

    assert page.status_code == 200
    assert "Week 13" in page.text and "Times in Europe/Berlin." in page.text
    sunday, saturday = day_cell(page.text, date(2026, 3, 29)), day_cell(page.text, date(2026, 3, 28))
    assert "00:30" in sunday and "Just after midnight" in sunday and "Just after midnight" not in saturday
    assert "09:00" in sunday and "Nine on the new clock" in sunday
    assert f'href="/c/{world.a.client.slug}/stories/{nine.id}"' in sunday and "pub-scheduled" in sunday
    assert "Beta&#39;s secret plan" not in page.text and "Beta's secret plan" not in page.text
    # Navigation, and the same week asked for by a date in it.
    assert "?week=2026-W12" in page.text and "?week=2026-W14" in page.text
    same = await web.get(f"/c/{world.a.client.slug}/calendar?start=2026-03-26")
    assert "Nine on the new clock" in same.text


async def test_the_month_shows_publications_by_local_day(web, world: World, session_maker):
    channel = await reader_of(session_maker, world.a)  # Moscow
    story = await approved_story(session_maker, world.a, "Month end story")
    # 22:00 UTC on 31 May is 01:00 on 1 June in Moscow.
    await add_publication(session_maker, world.a, story, channel.id, utc(2026, 5, 31, 22))
    b_story = await approved_story(session_maker, world.b, "Beta's June")
    await add_publication(
        session_maker, world.b, b_story, (await reader_of(session_maker, world.b)).id, utc(2026, 6, 3, 9)
    )
    await web.sign_in(world.a.owner)

    june = await web.get(f"/c/{world.a.client.slug}/calendar?view=month&month=2026-06")

    assert june.status_code == 200 and "June 2026" in june.text
    first = day_cell(june.text, date(2026, 6, 1))
    assert "01:00" in first and "Month end story" in first and "Reader" in first
    assert "Beta" not in june.text.split('id="calendar-body"', 1)[1]
    assert "?view=month&amp;month=2026-05" in june.text or "?view=month&month=2026-05" in june.text
    may = await web.get(f"/c/{world.a.client.slug}/calendar?view=month&month=2026-05")
    # May's grid runs Monday 27 April to Sunday 31 May: April's days are marked outside, June's are not in it.
    assert 'class="is-outside' in day_cell(may.text, date(2026, 4, 27))
    assert 'class="is-outside' not in day_cell(may.text, date(2026, 5, 31))
    assert 'data-day="2026-06-01"' not in may.text and "Month end story" not in may.text


async def test_the_week_shows_free_slots_and_the_live_refresh_gets_the_body_alone(web, world: World, session_maker):
    channel = await reader_of(session_maker, world.a)
    await set_slots(session_maker, world.a, channel.id, [(WED, time(9))])
    next_week = datetime.now(MOSCOW).date() + timedelta(days=7)
    wednesday = next_week - timedelta(days=next_week.weekday()) + timedelta(days=2)
    week = f"{wednesday.isocalendar().year}-W{wednesday.isocalendar().week:02d}"
    await web.sign_in(world.a.editor)

    page = await web.get(f"/c/{world.a.client.slug}/calendar?week={week}")

    cell = day_cell(page.text, wednesday)
    assert "cal-free" in cell and "09:00" in cell
    assert 'hx-trigger="sse:calendar' in page.text and "sse-connect=" in page.text
    body = await web.get(f"/c/{world.a.client.slug}/calendar?week={week}", headers={"HX-Request": "true"})
    assert body.text.lstrip().startswith("<section") and "<html" not in body.text


async def test_the_calendar_is_for_the_clients_team(web, world: World):
    url = f"/c/{world.a.client.slug}/calendar"
    await web.sign_in(world.a.viewer)
    assert (await web.get(url)).status_code == 403
    await web.sign_in(world.b.editor)
    assert (await web.get(url)).status_code == 404
    await web.sign_in(world.a.editor)
    page = await web.get(url)
    assert page.status_code == 200 and f'href="/c/{world.a.client.slug}/calendar" aria-current="page"' in page.text
