"""Weekly publishing slots: "every Monday at 09:00" in the client's time zone, turned into instants.

A slot is a weekday and a wall-clock time in the client's zone. Its occurrences are computed here
as aware UTC datetimes (what the database stores), by pure functions of (slots, zone, instant):
no clock, no database, so every daylight-saving case can be tested by date.

The rules at daylight-saving changes:

* A slot keeps its local time: 09:00 stays 09:00 on the clock in the client's zone all year, so
  its UTC instant moves by the change (Berlin: 08:00 UTC in winter, 07:00 UTC in summer).
* A slot in the spring-forward gap (02:30 on the last Sunday of March in Berlin, a time the clocks
  skip) fires at the first valid local time after the gap, i.e. at the moment of the change
  (03:00 CEST in Berlin). We chose that over "the same offset as before the change" (03:30),
  which is what Python gives by default for a time in a gap, because it is the nearest time that
  exists and it keeps the slot before any later slot of that day. Several slots in one gap meet at
  that instant and count as one occurrence that week.
* A slot in the autumn repeated hour (02:30 on the last Sunday of October in Berlin, which the
  clocks show twice) fires once, at its first occurrence (fold=0, still summer time).

Occurrences are "strictly after" the given instant and come out sorted with no duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import islice

from app.i18n import gettext as _

__all__ = [
    "WEEKDAY_CODES",
    "SlotError",
    "WeeklySlot",
    "iter_occurrences",
    "next_free_slots",
    "next_occurrences",
    "parse_slot",
    "parse_slots",
]

# Monday first, as `date.weekday()` numbers them; these are the codes a slot is written with.
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# What a person may type for a day: the code, the full English name, or the Russian short and full
# names (the people who use Zavod work in Russian and in English).
_WEEKDAY_NAMES: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday", "пн", "понедельник"),
            ("tue", "tuesday", "tues", "вт", "вторник"),
            ("wed", "wednesday", "ср", "среда"),
            ("thu", "thursday", "thur", "thurs", "чт", "четверг"),
            ("fri", "friday", "пт", "пятница"),
            ("sat", "saturday", "сб", "суббота"),
            ("sun", "sunday", "вс", "воскресенье"),
        )
    )
    for name in names
}

_TIME_RE = re.compile(r"(\d{1,2})[:.](\d{2})")
_SLOT_SEPARATORS_RE = re.compile(r"[\s,]+")
_LIST_SEPARATORS_RE = re.compile(r"[\n;]+")


class SlotError(ValueError):
    """What was typed is not a weekly slot. The message is written for the person who typed it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, order=True)
class WeeklySlot:
    """Every week on `weekday` (0 = Monday … 6 = Sunday) at `at`, wall-clock time in the client's zone."""

    weekday: int
    at: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday!r}")
        if self.at.tzinfo is not None:
            # The zone belongs to the client, not to the slot: a slot with its own offset would stop
            # following the client's daylight-saving changes.
            raise ValueError("a slot's time is a wall-clock time: it must not carry a time zone")
        if self.at.second or self.at.microsecond:
            raise ValueError("a slot's time is whole minutes")

    @property
    def code(self) -> str:
        """The form's spelling: "mon 09:00"."""
        return f"{WEEKDAY_CODES[self.weekday]} {self.at:%H:%M}"

    def __str__(self) -> str:
        return self.code


# --- parsing form input -----------------------------------------------------------------------------


def parse_slot(text: str) -> WeeklySlot:
    """ "mon 09:00" (also "Monday 9:00", "пн 09.00") → WeeklySlot. Raises SlotError saying what to fix."""
    parts = [p for p in _SLOT_SEPARATORS_RE.split((text or "").strip()) if p]
    if not parts:
        raise SlotError(_("Enter a day and a time, such as “mon 09:00”."))
    if len(parts) != 2:
        raise SlotError(_("“%(text)s” is not one day and one time: write them like “mon 09:00”.", text=_shorten(text)))
    day_text, time_text = parts
    weekday = _WEEKDAY_NAMES.get(day_text.lower().rstrip("."))
    if weekday is None:
        raise SlotError(
            _(
                "“%(day)s” is not a day of the week: use mon, tue, wed, thu, fri, sat or sun.",
                day=_shorten(day_text),
            )
        )
    match = _TIME_RE.fullmatch(time_text)
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise SlotError(
            _(
                "“%(time)s” is not a time of day: use hours and minutes from 00:00 to 23:59, such as 09:00.",
                time=_shorten(time_text),
            )
        )
    return WeeklySlot(weekday, time(hours, minutes))


def parse_slots(text: str) -> list[WeeklySlot]:
    """Several slots, one per line (or separated by ";"), → sorted, without duplicates.

    An empty text is no slots. A bad entry raises SlotError naming it ("Slot 2: ..."), counting
    entries, not blank lines, so a form can point at it.
    """
    slots: set[WeeklySlot] = set()
    entries = [entry for entry in _LIST_SEPARATORS_RE.split(text or "") if entry.strip()]
    for number, line in enumerate(entries, start=1):
        try:
            slots.add(parse_slot(line))
        except SlotError as exc:
            raise SlotError(_("Slot %(number)s: %(problem)s", number=number, problem=exc.message)) from None
    return sorted(slots)


def _shorten(text: str, limit: int = 40) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- occurrences ------------------------------------------------------------------------------------


def iter_occurrences(slots: Iterable[WeeklySlot], tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """Every occurrence of the slots strictly after `after`, as aware UTC datetimes, in order, forever.

    No slots → nothing. See the module's docstring for daylight-saving changes.
    """
    after = _require_aware(after, "after").astimezone(UTC)
    by_weekday: dict[int, list[time]] = {}
    for slot in sorted(set(slots)):
        by_weekday.setdefault(slot.weekday, []).append(slot.at)
    if not by_weekday:
        return
    last = after
    # Start a day early: the local date of `after` may be behind or ahead of its UTC date.
    day = after.astimezone(tz).date() - timedelta(days=1)
    while True:
        # Within a day the instants are sorted already, except where gap slots meet at one instant;
        # sorting and comparing with the last one given also keeps them in order should a zone move
        # its clocks across midnight.
        for instant in sorted({_to_utc(day, at, tz) for at in by_weekday.get(day.weekday(), ())}):
            if instant > last:
                last = instant
                yield instant
        day += timedelta(days=1)


def next_occurrences(slots: Iterable[WeeklySlot], tz: tzinfo, after: datetime, count: int) -> list[datetime]:
    """The next `count` occurrences strictly after `after` (aware UTC, sorted, no duplicates)."""
    if count <= 0:
        return []
    return list(islice(iter_occurrences(slots, tz, after), count))


def next_free_slots(
    slots: Iterable[WeeklySlot], tz: tzinfo, after: datetime, taken: Collection[datetime], count: int
) -> list[datetime]:
    """The next `count` occurrences strictly after `after` that no publication holds yet.

    `taken` are the scheduled times already used on the channel (aware datetimes, any zone). Slots
    are whole minutes, so a publication anywhere within a slot's minute holds that slot (one placed
    by hand at 09:00:30 holds the 09:00 slot).
    """
    if count <= 0:
        return []
    held = {_minute(_require_aware(moment, "taken").astimezone(UTC)) for moment in taken}
    free = (instant for instant in iter_occurrences(slots, tz, after) if instant not in held)
    return list(islice(free, count))


def _to_utc(day: date, at: time, tz: tzinfo) -> datetime:
    """The instant the clocks in `tz` show `at` on `day`; first occurrence in a repeated hour,
    end of the gap for a skipped time."""
    local = datetime.combine(day, at, tzinfo=tz)  # fold=0: the first of two repeated times
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    return _gap_end(local, tz)


def _gap_end(local: datetime, tz: tzinfo) -> datetime:
    """The moment the clocks jumped over `local` (a wall time that does not exist in `tz`).

    Read with the offset before the change the wall time lands after the change, read with the one
    after it lands before: the change lies between the two, and a search to the second finds it
    whatever the size of the gap (an hour in Europe, half an hour on Lord Howe Island, a whole day
    when Samoa crossed the date line).
    """
    naive = local.replace(tzinfo=None)
    readings = [
        (naive - offset).replace(tzinfo=UTC)
        for offset in (local.replace(fold=0).utcoffset(), local.replace(fold=1).utcoffset())
        if offset is not None
    ]
    before, at_or_after = min(readings), max(readings)  # the change is in (before, at_or_after]
    offset_after = at_or_after.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(at_or_after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _require_aware(moment: datetime, name: str) -> datetime:
    # A naive time here is a bug that shifts posts by the server's offset (a classic scheduler
    # complaint): refuse it loudly instead of guessing a zone.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone), not {moment!r}")
    return moment
