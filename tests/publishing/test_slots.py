"""Weekly slots → UTC instants, across daylight-saving changes (Berlin) and without them (Moscow)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from app.publishing.slots import (
    SlotError,
    WeeklySlot,
    iter_occurrences,
    next_free_slots,
    next_occurrences,
    parse_slot,
    parse_slots,
)

BERLIN = ZoneInfo("Europe/Berlin")
MOSCOW = ZoneInfo("Europe/Moscow")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(instants: list[datetime], tz: ZoneInfo) -> list[str]:
    return [i.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") for i in instants]


def slot(weekday: int, hh: int, mm: int = 0) -> WeeklySlot:
    return WeeklySlot(weekday, time(hh, mm))


# --- a 09:00 slot stays 09:00 local -----------------------------------------------------------------


def test_berlin_spring_change_week_keeps_nine_oclock_local_and_moves_utc():
    # Berlin moves clocks forward on Sunday 29 March 2026 (CET +01 → CEST +02).
    daily_nine = [slot(d, 9) for d in range(7)]

    got = next_occurrences(daily_nine, BERLIN, utc(2026, 3, 26, 12), 5)

    assert got == [
        utc(2026, 3, 27, 8),  # Fri 09:00 CET
        utc(2026, 3, 28, 8),  # Sat 09:00 CET
        utc(2026, 3, 29, 7),  # Sun 09:00 CEST: the change happened at 02:00 that night
        utc(2026, 3, 30, 7),
        utc(2026, 3, 31, 7),
    ]
    assert {i.astimezone(BERLIN).time() for i in got} == {time(9)}
    assert all(i.tzinfo is UTC for i in got)


def test_berlin_autumn_change_week_keeps_nine_oclock_local_and_moves_utc():
    # Berlin moves clocks back on Sunday 25 October 2026 (CEST +02 → CET +01).
    daily_nine = [slot(d, 9) for d in range(7)]

    got = next_occurrences(daily_nine, BERLIN, utc(2026, 10, 23, 12), 4)

    assert got == [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8), utc(2026, 10, 27, 8)]
    assert local(got, BERLIN) == [
        "Sat 2026-10-24 09:00 CEST",
        "Sun 2026-10-25 09:00 CET",
        "Mon 2026-10-26 09:00 CET",
        "Tue 2026-10-27 09:00 CET",
    ]


@pytest.mark.parametrize("start", [utc(2026, 3, 26), utc(2026, 10, 22)])
def test_moscow_has_no_change_so_nine_oclock_is_always_six_utc(start):
    got = next_occurrences([slot(d, 9) for d in range(7)], MOSCOW, start, 7)

    assert [i.time() for i in got] == [time(6)] * 7
    assert [i - got[0] for i in got] == [timedelta(days=n) for n in range(7)]


def test_weekly_slot_over_a_year_in_berlin_is_always_monday_nine_local():
    got = next_occurrences([slot(MON, 9)], BERLIN, utc(2026, 1, 1), 53)

    assert {(i.astimezone(BERLIN).weekday(), i.astimezone(BERLIN).time()) for i in got} == {(MON, time(9))}
    assert {i.astimezone(BERLIN).utcoffset() for i in got} == {timedelta(hours=1), timedelta(hours=2)}
    assert all(
        b - a in (timedelta(days=7), timedelta(days=7, hours=1), timedelta(days=7, hours=-1)) for a, b in pairwise(got)
    )


# --- the gap and the repeated hour ------------------------------------------------------------------


def test_slot_in_the_spring_gap_fires_at_the_first_valid_time_after_it():
    # 02:30 does not exist in Berlin on 29 March 2026: the clocks jump from 02:00 to 03:00.
    got = next_occurrences([slot(SUN, 2, 30)], BERLIN, utc(2026, 3, 22, 12), 3)

    assert got == [utc(2026, 3, 29, 1), utc(2026, 4, 5, 0, 30), utc(2026, 4, 12, 0, 30)]
    assert local(got, BERLIN) == [
        "Sun 2026-03-29 03:00 CEST",  # the moment of the change, not 03:30
        "Sun 2026-04-05 02:30 CEST",
        "Sun 2026-04-12 02:30 CEST",
    ]


def test_slots_that_meet_in_the_gap_count_once_and_stay_in_order():
    slots = [slot(SUN, 1, 30), slot(SUN, 2), slot(SUN, 2, 30), slot(SUN, 3), slot(SUN, 3, 30)]

    got = next_occurrences(slots, BERLIN, utc(2026, 3, 28), 4)

    assert local(got, BERLIN) == [
        "Sun 2026-03-29 01:30 CET",
        "Sun 2026-03-29 03:00 CEST",  # 02:00, 02:30 and 03:00 are one instant that night
        "Sun 2026-03-29 03:30 CEST",
        "Sun 2026-04-05 01:30 CEST",
    ]


def test_slot_in_the_repeated_autumn_hour_fires_once_at_its_first_occurrence():
    # 02:30 happens twice in Berlin on 25 October 2026: 02:30 CEST (00:30 UTC), then 02:30 CET (01:30 UTC).
    got = next_occurrences([slot(SUN, 2, 30)], BERLIN, utc(2026, 10, 18, 12), 3)

    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30), utc(2026, 11, 8, 1, 30)]
    assert got[0].astimezone(BERLIN).fold == 0


def test_repeated_hour_slot_asked_for_between_its_two_occurrences_waits_a_week():
    # At 01:00 UTC the first 02:30 (00:30 UTC) has passed; the second one (01:30 UTC) is not a new slot.
    got = next_occurrences([slot(SUN, 2, 30)], BERLIN, utc(2026, 10, 25, 1), 1)

    assert got == [utc(2026, 11, 1, 1, 30)]


def test_half_hour_gap_on_lord_howe_island():
    # Lord Howe moves clocks from 02:00 to 02:30 (+10:30 → +11) on the first Sunday of October.
    tz = ZoneInfo("Australia/Lord_Howe")
    got = next_occurrences([slot(SUN, 2, 15)], tz, utc(2026, 9, 30), 1)

    assert got[0].astimezone(tz).strftime("%Y-%m-%d %H:%M") == "2026-10-04 02:30"


# --- ordering ---------------------------------------------------------------------------------------


def test_many_slots_on_one_day_come_sorted_whatever_order_they_were_given_in():
    slots = [slot(WED, 18), slot(WED, 9), slot(WED, 12, 30), slot(WED, 7, 45), slot(WED, 9)]

    got = next_occurrences(slots, MOSCOW, utc(2026, 5, 4), 5)

    assert local(got, MOSCOW) == [
        "Wed 2026-05-06 07:45 MSK",
        "Wed 2026-05-06 09:00 MSK",
        "Wed 2026-05-06 12:30 MSK",
        "Wed 2026-05-06 18:00 MSK",
        "Wed 2026-05-13 07:45 MSK",
    ]


def test_order_across_the_week_boundary():
    slots = [slot(MON, 9), slot(SUN, 20), slot(SAT, 10)]

    got = next_occurrences(slots, BERLIN, utc(2026, 6, 6, 9), 4)  # Saturday 11:00 in Berlin

    assert local(got, BERLIN) == [
        "Sun 2026-06-07 20:00 CEST",
        "Mon 2026-06-08 09:00 CEST",
        "Sat 2026-06-13 10:00 CEST",
        "Sun 2026-06-14 20:00 CEST",
    ]
    assert got == sorted(got)


def test_local_date_ahead_of_utc_date_is_honoured():
    # 23:30 UTC on Sunday is already Monday 02:30 in Moscow: Monday's 03:00 slot is 30 minutes away.
    got = next_occurrences([slot(MON, 3)], MOSCOW, utc(2026, 6, 7, 23, 30), 1)

    assert got == [utc(2026, 6, 8, 0)]


def test_occurrences_are_strictly_after_the_start():
    start = utc(2026, 6, 8, 6)  # Monday 09:00 in Moscow exactly

    assert next_occurrences([slot(MON, 9)], MOSCOW, start, 1) == [start + timedelta(days=7)]
    assert next_occurrences([slot(MON, 9)], MOSCOW, start - timedelta(microseconds=1), 1) == [start]


def test_start_in_another_zone_is_the_same_instant():
    start = datetime(2026, 6, 8, 8, 59, tzinfo=timezone(timedelta(hours=3)))

    assert next_occurrences([slot(MON, 9)], MOSCOW, start, 1) == [utc(2026, 6, 8, 6)]


def test_no_slots_no_occurrences_and_zero_count():
    assert next_occurrences([], BERLIN, utc(2026, 1, 1), 5) == []
    assert list(iter_occurrences([], BERLIN, utc(2026, 1, 1))) == []
    assert next_occurrences([slot(MON, 9)], BERLIN, utc(2026, 1, 1), 0) == []


def test_naive_start_is_refused():
    with pytest.raises(ValueError, match="aware"):
        next_occurrences([slot(MON, 9)], BERLIN, datetime(2026, 1, 1), 1)


# --- the queue: next free slots ---------------------------------------------------------------------


def test_free_slots_skip_taken_ones():
    slots = [slot(MON, 9), slot(WED, 9), slot(FRI, 9)]
    start = utc(2026, 6, 7)  # Sunday
    mon, wed, fri, next_mon = utc(2026, 6, 8, 6), utc(2026, 6, 10, 6), utc(2026, 6, 12, 6), utc(2026, 6, 15, 6)

    assert next_free_slots(slots, MOSCOW, start, set(), 3) == [mon, wed, fri]
    assert next_free_slots(slots, MOSCOW, start, {mon, fri}, 3) == [wed, next_mon, utc(2026, 6, 17, 6)]


def test_taken_times_match_in_any_zone_and_within_the_slots_minute():
    slots = [slot(MON, 9), slot(TUE, 9)]
    taken = {datetime(2026, 6, 8, 9, 0, 30, tzinfo=MOSCOW)}  # placed by hand at 09:00:30 local

    assert next_free_slots(slots, MOSCOW, utc(2026, 6, 7), taken, 1) == [utc(2026, 6, 9, 6)]


def test_free_slots_across_the_spring_change_with_the_gap_slot_taken():
    slots = [slot(SUN, 2, 30), slot(SUN, 9)]
    taken = {utc(2026, 3, 29, 1)}  # the gap slot's occurrence (03:00 CEST) is held already

    got = next_free_slots(slots, BERLIN, utc(2026, 3, 28), taken, 2)

    assert local(got, BERLIN) == ["Sun 2026-03-29 09:00 CEST", "Sun 2026-04-05 02:30 CEST"]


def test_naive_taken_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        next_free_slots([slot(MON, 9)], BERLIN, utc(2026, 1, 1), {datetime(2026, 1, 5, 8)}, 1)


# --- form input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon 09:00", slot(MON, 9)),
        ("  Mon   9:00 ", slot(MON, 9)),
        ("monday 09:00", slot(MON, 9)),
        ("SUN 23:59", slot(SUN, 23, 59)),
        ("thu, 00:00", slot(THU, 0)),
        ("пт 18.30", slot(FRI, 18, 30)),
        ("Воскресенье 07:05", slot(SUN, 7, 5)),
        ("sat. 12:00", slot(SAT, 12)),
    ],
)
def test_parse_slot_accepts_what_people_type(text, expected):
    assert parse_slot(text) == expected


def test_slot_round_trips_through_its_code():
    assert parse_slot("tue 07:05").code == "tue 07:05"
    assert str(slot(SUN, 21, 30)) == "sun 21:30"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a day and a time, such as “mon 09:00”."),
        ("   ", "Enter a day and a time, such as “mon 09:00”."),
        ("mon", "“mon” is not one day and one time: write them like “mon 09:00”."),
        ("mon 09:00 tue", "“mon 09:00 tue” is not one day and one time: write them like “mon 09:00”."),
        ("mun 09:00", "“mun” is not a day of the week: use mon, tue, wed, thu, fri, sat or sun."),
        (
            "mon 24:00",
            "“24:00” is not a time of day: use hours and minutes from 00:00 to 23:59, such as 09:00.",
        ),
        ("mon 9:60", "“9:60” is not a time of day: use hours and minutes from 00:00 to 23:59, such as 09:00."),
        ("mon 9am", "“9am” is not a time of day: use hours and minutes from 00:00 to 23:59, such as 09:00."),
        ("mon 0900", "“0900” is not a time of day: use hours and minutes from 00:00 to 23:59, such as 09:00."),
    ],
)
def test_parse_slot_says_in_plain_words_what_is_wrong(text, message):
    with pytest.raises(SlotError) as caught:
        parse_slot(text)
    assert caught.value.message == message
    assert str(caught.value) == message


def test_parse_slot_shortens_long_garbage_in_its_message():
    with pytest.raises(SlotError) as caught:
        parse_slot("x" * 500 + " 09:00")
    assert len(caught.value.message) < 200


def test_parse_slots_sorts_dedupes_and_names_the_bad_line():
    assert parse_slots("fri 18:00\nmon 09:00; mon 9:00\n\nwed 12:00\n") == [
        slot(MON, 9),
        slot(WED, 12),
        slot(FRI, 18),
    ]
    assert parse_slots("") == []
    with pytest.raises(SlotError) as caught:
        parse_slots("mon 09:00\nfunday 10:00")
    assert caught.value.message == (
        "Slot 2: “funday” is not a day of the week: use mon, tue, wed, thu, fri, sat or sun."
    )


def test_weekly_slot_refuses_impossible_values():
    with pytest.raises(ValueError):
        WeeklySlot(7, time(9))
    with pytest.raises(ValueError):
        WeeklySlot(MON, time(9, tzinfo=UTC))
    with pytest.raises(ValueError):
        WeeklySlot(MON, time(9, 0, 30))
