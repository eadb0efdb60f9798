"""Publishing schedules: weekly slots per channel, the queue into the next free slot, pausing a
channel, pending publications that follow the story's workflow, and the calendar's view.

Times: a slot is a weekday and a wall-clock time in the client's zone (app.publishing.slots does
the daylight-saving arithmetic); every instant stored is timestamptz in UTC; every time shown is
in the client's zone, with the zone's abbreviation, so the owner sees 09:00 stay 09:00 when the
clocks change.

Decisions a person may ask about:

* Free slot: an occurrence of one of the channel's slots with no live (not canceled) publication
  of any story at that minute on that channel. Queueing locks the channel row, so two editors
  queueing at once get two different slots.
* Changing a channel's slots does not move what is queued already: those posts keep their times
  (cancel and queue again to move one).
* Paused channel: nothing on it is published (the sweep and the scheduled job skip it; its
  publications stay scheduled and are shown as paused) and nothing new is queued on it. On resume,
  posts that came due while it was paused move to its next free slots in their order, rather than
  all going out at once; a channel without slots publishes them on the next sweep.
* A story that leaves approval (rejected, sent back for changes, its text edited — which returns
  it to draft, or starts a new version of a published one) has its scheduled publications canceled
  in the same transaction, each with the reason on it. An edit never keeps a story approved, so a
  publication is never moved to a new version silently: it is canceled and the panel says why.
* A deleted story takes its publications with it (foreign key cascade); the SAQ job that fires
  later finds nothing to claim and returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import takewhile
from uuid import UUID
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_day_names
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repository import TenantRepository
from app.events.bus import publish_after_commit
from app.i18n import get_locale
from app.i18n import gettext as _
from app.publishing.models import Channel, ChannelKind, ChannelSlot, Publication, PublicationStatus
from app.publishing.services import ChannelRepository, PublicationRepository, ScheduleError, reader_channel
from app.publishing.slots import (
    WEEKDAY_CODES,
    SlotError,
    WeeklySlot,
    iter_occurrences,
    next_free_slots,
    next_occurrences,
    parse_slot,
)
from app.stories.models import Story, StoryStatus, StoryVersion
from app.tenancy.models import Client

# Stories in these statuses may be queued: approved, or already scheduled on another channel.
QUEUEABLE = (StoryStatus.APPROVED, StoryStatus.SCHEDULED)
MAX_TIMES_PER_DAY = 48
UPCOMING_SHOWN = 5
_TIMES_SEPARATORS_RE = re.compile(r"[\s,;]+")


class ChannelSlotRepository(TenantRepository[ChannelSlot]):
    model_type = ChannelSlot


class SlotsFormError(Exception):
    """What to fix in a channel's slots form: a message per weekday (0 = Monday)."""

    def __init__(self, errors: dict[int, str], values: dict[int, str]) -> None:
        super().__init__(errors)
        self.errors = errors
        self.values = values


def zone_of(client: Client) -> ZoneInfo:
    return ZoneInfo(client.timezone)


# --- labels in the client's zone ---------------------------------------------------------------------


def local_label(instant: datetime, zone: ZoneInfo, pattern: str = "EEE d MMM yyyy, HH:mm") -> str:
    """ "Sun 29 Mar 2026, 09:00 CEST": the zone's abbreviation shows which side of a clock change it is."""
    local = instant.astimezone(zone)
    return f"{format_datetime(local, pattern, tzinfo=zone, locale=get_locale())} {local.tzname()}"


def utc_label(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%H:%M} UTC"


def weekday_names(width: str = "wide") -> list[str]:
    """Monday first, in the reader's language, capitalised for labels ("Понедельник")."""
    names = get_day_names(width, context="stand-alone", locale=get_locale())
    return [names[day][:1].upper() + names[day][1:] for day in range(7)]


def channel_label(channel: Channel) -> str:
    """The channel as people call it: the built-in Reader in their language, others by account."""
    return _("Reader") if channel.kind == ChannelKind.READER else channel.name


# --- channels and their slots ------------------------------------------------------------------------


async def list_channels(session: AsyncSession, client_id: UUID) -> list[Channel]:
    # The built-in Reader is always there, even before anything was published on it.
    await reader_channel(session, client_id)
    return await ChannelRepository(session, client_id).list(
        order_by=[Channel.kind != ChannelKind.READER, Channel.created_at]
    )


async def get_channel(session: AsyncSession, client_id: UUID, channel_id: UUID, *, for_update: bool = False) -> Channel:
    return await ChannelRepository(session, client_id).get(channel_id, for_update=for_update)


async def slots_by_channel(session: AsyncSession, client_id: UUID) -> dict[UUID, list[WeeklySlot]]:
    rows = await ChannelSlotRepository(session, client_id).list(order_by=[ChannelSlot.weekday, ChannelSlot.local_time])
    by_channel: dict[UUID, list[WeeklySlot]] = {}
    for row in rows:
        by_channel.setdefault(row.channel_id, []).append(WeeklySlot(row.weekday, row.local_time))
    return by_channel


async def channel_slots(session: AsyncSession, client_id: UUID, channel_id: UUID) -> list[WeeklySlot]:
    rows = await ChannelSlotRepository(session, client_id).list(
        ChannelSlot.channel_id == channel_id, order_by=[ChannelSlot.weekday, ChannelSlot.local_time]
    )
    return [WeeklySlot(row.weekday, row.local_time) for row in rows]


def slots_form_values(slots: Sequence[WeeklySlot]) -> dict[int, str]:
    """What the form shows per weekday: "09:00, 18:30"."""
    values: dict[int, list[str]] = {day: [] for day in range(7)}
    for slot in sorted(slots):
        values[slot.weekday].append(f"{slot.at:%H:%M}")
    return {day: ", ".join(times) for day, times in values.items()}


def parse_slots_form(form: Mapping[str, str]) -> list[WeeklySlot]:
    """The form's fields `day-0` … `day-6` (times separated by commas or spaces) → sorted slots.

    Raises SlotsFormError with a message beside each weekday field that has a mistake.
    """
    slots: set[WeeklySlot] = set()
    errors: dict[int, str] = {}
    values = {day: str(form.get(f"day-{day}", "")).strip() for day in range(7)}
    for day, text in values.items():
        times = [token for token in _TIMES_SEPARATORS_RE.split(text) if token]
        if len(times) > MAX_TIMES_PER_DAY:
            errors[day] = _("At most %(n)s times a day.", n=MAX_TIMES_PER_DAY)
            continue
        for token in times:
            try:
                slots.add(parse_slot(f"{WEEKDAY_CODES[day]} {token}"))
            except SlotError as exc:
                errors[day] = exc.message
                break
    if errors:
        raise SlotsFormError(errors, values)
    return sorted(slots)


async def set_channel_slots(
    session: AsyncSession, client_id: UUID, channel: Channel, form: Mapping[str, str]
) -> list[WeeklySlot]:
    """Replace the channel's weekly slots with the form's. Queued posts keep their times."""
    slots = parse_slots_form(form)
    # The channel row is locked (by the caller) so two owners saving at once cannot interleave.
    await session.execute(
        delete(ChannelSlot).where(ChannelSlot.client_id == client_id, ChannelSlot.channel_id == channel.id)
    )
    repo = ChannelSlotRepository(session, client_id)
    for slot in slots:
        await repo.add(ChannelSlot(channel_id=channel.id, weekday=slot.weekday, local_time=slot.at))
    return slots


# --- the queue ---------------------------------------------------------------------------------------


async def _taken_instants(session: AsyncSession, client_id: UUID, channel_id: UUID, after: datetime) -> set[datetime]:
    """When the channel is already busy after `after`: every live publication of any story."""
    rows = await session.execute(
        select(Publication.scheduled_at).where(
            Publication.client_id == client_id,
            Publication.channel_id == channel_id,
            Publication.status != PublicationStatus.CANCELED,
            Publication.scheduled_at > after - timedelta(minutes=1),
        )
    )
    return set(rows.scalars())


async def next_free_slot(
    session: AsyncSession, client: Client, channel_id: UUID, slots: Sequence[WeeklySlot], now: datetime
) -> datetime | None:
    if not slots:
        return None
    taken = await _taken_instants(session, client.id, channel_id, now)
    return next_free_slots(slots, zone_of(client), now, taken, 1)[0]


async def queue_story(
    session: AsyncSession, client: Client, story: Story, channel: Channel, *, now: datetime | None = None
) -> Publication:
    """Put an approved story into the next free slot of the channel; returns the publication.

    The caller holds the story's row lock (stories.services.get_story(..., for_update=True)).
    """
    if story.status not in QUEUEABLE:
        raise ScheduleError(_("Approve the story before queueing it."))
    if story.current_version_id is None:
        raise ScheduleError(_("The story has no content yet."))
    # Locking the channel makes queueing on it one at a time: two stories never get the same slot.
    # Refreshed under the lock: a pause committed since the channel was read must be seen.
    channel = await get_channel(session, client.id, channel.id)
    await session.refresh(channel, with_for_update=True)
    if channel.is_paused:
        raise ScheduleError(
            _(
                "%(channel)s is paused: nothing new is queued on it until the owner resumes it.",
                channel=channel_label(channel),
            )
        )
    zone = zone_of(client)
    live = await PublicationRepository(session, client.id).live_on_channel(story.current_version_id, channel.id)
    if live is not None:
        raise ScheduleError(
            _(
                "This story is already on %(channel)s for %(when)s.",
                channel=channel_label(channel),
                when=local_label(live.scheduled_at, zone),
            )
        )
    slots = await channel_slots(session, client.id, channel.id)
    if not slots:
        raise ScheduleError(
            _(
                "%(channel)s has no weekly slots yet: the owner sets them on the Schedule page.",
                channel=channel_label(channel),
            )
        )
    now = now or datetime.now(UTC)
    when = await next_free_slot(session, client, channel.id, slots, now)
    assert when is not None  # slots exist, and only finitely many occurrences can be taken
    publication = await PublicationRepository(session, client.id).add(
        Publication(
            story_id=story.id,
            story_version_id=story.current_version_id,
            channel_id=channel.id,
            scheduled_at=when,
        )
    )
    story.status = StoryStatus.SCHEDULED
    publish_after_commit(session, client.id, "publication", story_id=story.id, status=PublicationStatus.SCHEDULED)
    return publication


@dataclass
class QueueChoice:
    """One channel in the story panel's "Queue in the next free slot" list."""

    channel: Channel
    next_free: datetime | None
    label: str  # the next free slot in the client's zone, or why there is none
    live: Publication | None  # this version is on the channel already
    can_queue: bool


async def queue_choices(
    session: AsyncSession, client: Client, story: Story, *, now: datetime | None = None
) -> list[QueueChoice]:
    now = now or datetime.now(UTC)
    zone = zone_of(client)
    slots = await slots_by_channel(session, client.id)
    choices = []
    for channel in await list_channels(session, client.id):
        live = (
            await PublicationRepository(session, client.id).live_on_channel(story.current_version_id, channel.id)
            if story.current_version_id
            else None
        )
        when = None
        if channel.is_paused:
            label = _("paused")
        elif live is not None and live.status == PublicationStatus.PUBLISHED:
            label = _("published %(when)s", when=local_label(live.published_at or live.scheduled_at, zone))
        elif live is not None:
            label = _("queued for %(when)s", when=local_label(live.scheduled_at, zone))
        elif not slots.get(channel.id):
            label = _("no weekly slots yet")
        else:
            when = await next_free_slot(session, client, channel.id, slots[channel.id], now)
            label = local_label(when, zone) if when else ""
        choices.append(
            QueueChoice(
                channel=channel,
                next_free=when,
                label=label,
                live=live,
                can_queue=when is not None and story.status in QUEUEABLE,
            )
        )
    return choices


# --- pending publications follow the story's workflow ------------------------------------------------


async def cancel_pending_publications(session: AsyncSession, story: Story, reason: str) -> int:
    """Cancel the story's publications that have not started, now, in the caller's transaction.

    One conditional UPDATE: a publication a worker has already claimed (publishing) is not touched,
    and one canceled here can no longer be claimed (the claim needs status = 'scheduled').
    """
    canceled = (
        await session.execute(
            update(Publication)
            .where(
                Publication.client_id == story.client_id,
                Publication.story_id == story.id,
                Publication.status == PublicationStatus.SCHEDULED,
            )
            .values(status=PublicationStatus.CANCELED, last_error=reason, updated_at=datetime.now(UTC))
            .returning(Publication.id)
            .execution_options(synchronize_session="fetch")
        )
    ).all()
    if canceled:
        publish_after_commit(
            session, story.client_id, "publication", story_id=story.id, status=PublicationStatus.CANCELED
        )
    return len(canceled)


# --- pause and resume --------------------------------------------------------------------------------


async def _notify_stories_on_channel(session: AsyncSession, client_id: UUID, channel_id: UUID) -> None:
    """Panels and the calendar show the channel's scheduled posts as paused or not: refresh them."""
    story_ids = await session.execute(
        select(Publication.story_id)
        .where(
            Publication.client_id == client_id,
            Publication.channel_id == channel_id,
            Publication.status == PublicationStatus.SCHEDULED,
        )
        .distinct()
    )
    for story_id in story_ids.scalars():
        publish_after_commit(session, client_id, "publication", story_id=story_id, status=PublicationStatus.SCHEDULED)


async def pause_channel(session: AsyncSession, client_id: UUID, channel: Channel) -> None:
    channel.is_paused = True
    await _notify_stories_on_channel(session, client_id, channel.id)


@dataclass
class Resumed:
    moved: list[Publication] = field(default_factory=list)  # came due while paused, now in free slots
    due_now: int = 0  # came due while paused, channel has no slots: the sweep publishes them


async def resume_channel(
    session: AsyncSession, client: Client, channel: Channel, *, now: datetime | None = None
) -> Resumed:
    now = now or datetime.now(UTC)
    channel.is_paused = False
    overdue = list(
        (
            await session.execute(
                PublicationRepository(session, client.id)
                .select()
                .where(
                    Publication.channel_id == channel.id,
                    Publication.status == PublicationStatus.SCHEDULED,
                    Publication.scheduled_at <= now,
                )
                .order_by(Publication.scheduled_at, Publication.created_at)
                .with_for_update(of=Publication)
            )
        )
        .unique()
        .scalars()
    )
    await _notify_stories_on_channel(session, client.id, channel.id)
    slots = await channel_slots(session, client.id, channel.id)
    if not overdue or not slots:
        return Resumed(due_now=len(overdue))
    taken = await _taken_instants(session, client.id, channel.id, now)
    for publication, when in zip(
        overdue, next_free_slots(slots, zone_of(client), now, taken, len(overdue)), strict=True
    ):
        publication.scheduled_at = when
    return Resumed(moved=overdue)


async def waiting_counts(session: AsyncSession, client_id: UUID, now: datetime) -> dict[UUID, tuple[int, int]]:
    """Per channel: (scheduled publications, of which already due)."""
    rows = await session.execute(
        select(
            Publication.channel_id,
            func.count(),
            func.count().filter(Publication.scheduled_at <= now),
        )
        .where(Publication.client_id == client_id, Publication.status == PublicationStatus.SCHEDULED)
        .group_by(Publication.channel_id)
    )
    return {channel_id: (total, due) for channel_id, total, due in rows.all()}


# --- the schedule page -------------------------------------------------------------------------------


@dataclass
class Occurrence:
    at: datetime  # UTC
    label: str  # in the client's zone, with its abbreviation
    utc: str


@dataclass
class ChannelSchedule:
    channel: Channel
    slots: list[WeeklySlot]
    values: dict[int, str]
    errors: dict[int, str]
    upcoming: list[Occurrence]
    waiting: int
    due_while_paused: int


async def schedule_page(
    session: AsyncSession,
    client: Client,
    *,
    now: datetime | None = None,
    failed: tuple[UUID, SlotsFormError] | None = None,
) -> list[ChannelSchedule]:
    """Every channel with its slots, the next occurrences and what waits on it. `failed` is a
    channel whose form was refused: it shows what was typed and the errors."""
    now = now or datetime.now(UTC)
    zone = zone_of(client)
    slots = await slots_by_channel(session, client.id)
    counts = await waiting_counts(session, client.id, now)
    schedules = []
    for channel in await list_channels(session, client.id):
        own = slots.get(channel.id, [])
        values, errors = slots_form_values(own), {}
        if failed is not None and failed[0] == channel.id:
            values, errors = failed[1].values, failed[1].errors
        upcoming = [
            Occurrence(at=at, label=local_label(at, zone), utc=utc_label(at))
            for at in next_occurrences(own, zone, now, UPCOMING_SHOWN)
        ]
        waiting, due = counts.get(channel.id, (0, 0))
        schedules.append(
            ChannelSchedule(
                channel=channel,
                slots=own,
                values=values,
                errors=errors,
                upcoming=upcoming,
                waiting=waiting,
                due_while_paused=due if channel.is_paused else 0,
            )
        )
    return schedules


# --- the calendar ------------------------------------------------------------------------------------

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{1,2})$")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True)
class CalendarView:
    """Which days the calendar shows: a week (Monday to Sunday) or a month's weeks."""

    kind: str  # "week" | "month"
    anchor: date  # the week's Monday, or the month's first day
    start: date  # the first day shown (a Monday)
    end: date  # the day after the last one shown (a Monday)
    channel_id: UUID | None = None

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]

    @property
    def weeks(self) -> list[list[date]]:
        days = self.days
        return [days[i : i + 7] for i in range(0, len(days), 7)]

    def _query(self, anchor: date, channel_id: UUID | None = None) -> str:
        parts = (
            [f"view=month&month={anchor:%Y-%m}"]
            if self.kind == "month"
            else [f"week={anchor.isocalendar().year}-W{anchor.isocalendar().week:02d}"]
        )
        if channel_id or self.channel_id:
            parts.append(f"channel={channel_id or self.channel_id}")
        return "?" + "&".join(parts)

    @property
    def query(self) -> str:
        return self._query(self.anchor)

    def channel_query(self, channel_id: UUID | None) -> str:
        """This period with only one channel (None: all of them)."""
        return replace(self, channel_id=channel_id).query

    def today_query(self, today: date) -> str:
        if self.kind == "month":
            return CalendarView.month(today.replace(day=1), self.channel_id).query
        return CalendarView.week(today, self.channel_id).query

    @property
    def prev_query(self) -> str:
        if self.kind == "month":
            return self._query((self.anchor - timedelta(days=1)).replace(day=1))
        return self._query(self.anchor - timedelta(days=7))

    @property
    def next_query(self) -> str:
        if self.kind == "month":
            return self._query((self.anchor + timedelta(days=32)).replace(day=1))
        return self._query(self.anchor + timedelta(days=7))

    def switch_query(self, kind: str, today: date) -> str:
        """The other view around the same days: the month of this week, or this month's week of today
        (its first week when today is in another month)."""
        if kind == "month":
            # An ISO week belongs to the month of its Thursday.
            day = self.anchor + timedelta(days=3) if self.kind == "week" else self.anchor
            return CalendarView.month(day.replace(day=1), self.channel_id).query
        if self.kind == "week":
            return self.query
        return CalendarView.week(today if today.replace(day=1) == self.anchor else self.anchor, self.channel_id).query

    def title(self) -> str:
        if self.kind == "month":
            return format_date(self.anchor, "LLLL yyyy", locale=get_locale()).capitalize()
        last = self.end - timedelta(days=1)
        week = self.anchor.isocalendar().week
        first = format_date(
            self.anchor, "d MMM" if self.anchor.year == last.year else "d MMM yyyy", locale=get_locale()
        )
        return _(
            "Week %(n)s · %(first)s – %(last)s",
            n=week,
            first=first,
            last=format_date(last, "d MMM yyyy", locale=get_locale()),
        )

    @classmethod
    def week(cls, day: date, channel_id: UUID | None = None) -> CalendarView:
        monday = day - timedelta(days=day.weekday())
        return cls("week", monday, monday, monday + timedelta(days=7), channel_id)

    @classmethod
    def month(cls, first: date, channel_id: UUID | None = None) -> CalendarView:
        start = first - timedelta(days=first.weekday())
        after = (first + timedelta(days=32)).replace(day=1)
        end = after + timedelta(days=(7 - after.weekday()) % 7)
        return cls("month", first, start, end, channel_id)

    @classmethod
    def from_query(cls, params: Mapping[str, str], today: date) -> CalendarView:
        """?week=2026-W48 or ?start=2026-11-25 (a week, the default), ?view=month&month=2026-11.
        Anything unreadable falls back to the period around today."""
        channel_id = None
        try:
            channel_id = UUID(params["channel"]) if params.get("channel") else None
        except ValueError:
            channel_id = None
        if params.get("view") == "month":
            match = _MONTH_RE.match(params.get("month", "").strip())
            first = today.replace(day=1)
            if match:
                try:
                    first = date(int(match.group(1)), int(match.group(2)), 1)
                except ValueError:
                    pass
            return cls.month(first, channel_id)
        day = today
        week = _WEEK_RE.match(params.get("week", "").strip())
        if week:
            try:
                day = date.fromisocalendar(int(week.group(1)), int(week.group(2)), 1)
            except ValueError:
                day = today
        elif params.get("start"):
            try:
                day = date.fromisoformat(params["start"].strip())
            except ValueError:
                day = today
        return cls.week(day, channel_id)


@dataclass
class CalendarEntry:
    """One line in a calendar day: a publication, or (week view) a free slot of a channel."""

    at: datetime  # UTC
    time: str  # HH:MM in the client's zone
    channel_id: UUID
    channel_name: str
    status: str = "free"  # a publication status, "paused" (scheduled on a paused channel), or "free"
    publication_id: UUID | None = None
    story_id: UUID | None = None
    title: str = ""


@dataclass
class Calendar:
    view: CalendarView
    channels: list[Channel]  # the ones shown (all, or the one filtered on)
    all_channels: list[Channel]
    # (channel id, local day) → entries in time order; week rows are per channel, month cells per day.
    cells: dict[tuple[UUID, date], list[CalendarEntry]]
    days: dict[date, list[CalendarEntry]]
    today: date
    weekday_names: list[str]
    zone_name: str
    today_query: str


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of `day` in `zone`, as UTC (fold=0 is the earlier reading of a repeated midnight)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


async def calendar(
    session: AsyncSession, client: Client, view: CalendarView, *, now: datetime | None = None
) -> Calendar:
    now = now or datetime.now(UTC)
    zone = zone_of(client)
    start, end = local_midnight(view.start, zone), local_midnight(view.end, zone)
    all_channels = channels = await list_channels(session, client.id)
    if view.channel_id is not None:
        # Only one channel; an unknown id (another client's, say) shows them all.
        channels = [c for c in channels if c.id == view.channel_id] or channels
        if len(channels) != 1 or channels[0].id != view.channel_id:
            view = replace(view, channel_id=None)
    shown = {c.id: c for c in channels}
    # A published post sits where it went out; the others where they are planned.
    when = func.coalesce(Publication.published_at, Publication.scheduled_at)
    rows = await session.execute(
        select(
            Publication.id,
            Publication.story_id,
            Publication.channel_id,
            Publication.status,
            Publication.scheduled_at,
            Publication.published_at,
            StoryVersion.title,
        )
        .join(
            StoryVersion,
            (StoryVersion.id == Publication.story_version_id) & (StoryVersion.client_id == Publication.client_id),
        )
        .where(
            Publication.client_id == client.id,
            Publication.channel_id.in_(list(shown)),
            Publication.status != PublicationStatus.CANCELED,
            when >= start,
            when < end,
        )
        .order_by(when, Publication.id)
    )
    cells: dict[tuple[UUID, date], list[CalendarEntry]] = {}
    days: dict[date, list[CalendarEntry]] = {}
    taken: dict[UUID, set[datetime]] = {}
    for pub_id, story_id, channel_id, status, scheduled_at, published_at, title in rows.all():
        channel = shown[channel_id]
        at = published_at or scheduled_at
        if status == PublicationStatus.SCHEDULED and channel.is_paused:
            status = "paused"
        entry = CalendarEntry(
            at=at,
            time=f"{at.astimezone(zone):%H:%M}",
            channel_id=channel_id,
            channel_name=channel_label(channel),
            status=status,
            publication_id=pub_id,
            story_id=story_id,
            title=title,
        )
        taken.setdefault(channel_id, set()).add(scheduled_at.replace(second=0, microsecond=0))
        local_day = at.astimezone(zone).date()
        cells.setdefault((channel_id, local_day), []).append(entry)
        days.setdefault(local_day, []).append(entry)
    if view.kind == "week":
        # The free slots left this week (from now on) on channels that take new posts.
        slots = await slots_by_channel(session, client.id)
        for channel in channels:
            if channel.is_paused or not slots.get(channel.id):
                continue
            for at in takewhile(
                lambda at: at < end,
                iter_occurrences(slots[channel.id], zone, max(start - timedelta(microseconds=1), now)),
            ):
                if at in taken.get(channel.id, set()):
                    continue
                local_day = at.astimezone(zone).date()
                cells.setdefault((channel.id, local_day), []).append(
                    CalendarEntry(
                        at=at,
                        time=f"{at.astimezone(zone):%H:%M}",
                        channel_id=channel.id,
                        channel_name=channel_label(channel),
                    )
                )
        for entries in cells.values():
            entries.sort(key=lambda entry: (entry.at, entry.status == "free"))
    today = now.astimezone(zone).date()
    return Calendar(
        view=view,
        channels=channels,
        all_channels=all_channels,
        cells=cells,
        days=days,
        today=today,
        weekday_names=weekday_names("abbreviated"),
        zone_name=client.timezone,
        today_query=view.today_query(today),
    )
