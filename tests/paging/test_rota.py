"""Who is on call: handovers, dates, weekly turns, swaps, and DST nights.

Dates used: 2026-11-23 and 2026-11-30 are Mondays, 2026-11-29 a Sunday; Asia/Shanghai is
UTC+8 all year; Europe/Berlin goes 02:00 CET -> 03:00 CEST on 2026-03-29 and 03:00 CEST ->
02:00 CET on 2026-10-25. Every expected instant is worked out by hand in its comment.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sitewatch.domain.time import UTC
from sitewatch.paging.config import Rota, RotaOverride
from sitewatch.paging.rota import on_call, shifts

CST = ZoneInfo("Asia/Shanghai")
WEEKLY = Rota(handover=time(8, 30), weekly=("zhang", "li"), weekly_from=date(2026, 11, 23))


def _sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _expect(rota: Rota, at: datetime, person: str | None, why: str) -> None:
    got = on_call(rota, at)
    assert got == person, f"{why}: at {at.isoformat()} on call is {got!r}, expected {person!r}"


# --- shift days and the weekly turn ------------------------------------------------------------


@pytest.mark.parametrize(("at", "person", "why"), [
    (_sh(2026, 11, 23, 8, 30), "zhang", "the first week starts at the handover on weekly_from"),
    (_sh(2026, 11, 29, 23, 0), "zhang", "Sunday night is still the first week"),
    (_sh(2026, 11, 30, 8, 29, 59), "zhang", "Monday before the handover is Sunday's shift"),
    (_sh(2026, 11, 30, 8, 30), "li", "Monday's handover starts the second week"),
    (_sh(2026, 11, 30, 9, 0), "li", "Monday 09:00 is the second week"),
    (_sh(2026, 12, 7, 9, 0), "zhang", "the third week wraps round to the first person"),
])
def test_the_weekly_turn_changes_at_mondays_handover(at: datetime, person: str, why: str) -> None:
    _expect(WEEKLY, at, person, why)


def test_before_weekly_from_nobody_is_on_call_from_the_weekly_turn() -> None:
    _expect(WEEKLY, _sh(2026, 11, 23, 8, 29), None, "Monday 08:29 belongs to Sunday 22nd, before weekly_from")
    _expect(Rota(), _sh(2026, 11, 25, 12, 0), None, "an empty rota names nobody")


def test_at_three_in_the_morning_it_is_still_the_previous_days_shift() -> None:
    rota = Rota(dates={date(2026, 11, 25): "wang", date(2026, 11, 26): "zhao"})
    _expect(rota, _sh(2026, 11, 26, 3, 0), "wang", "03:00 on the 26th is the 25th's shift (handover 08:30)")
    _expect(rota, _sh(2026, 11, 26, 8, 30), "zhao", "the 26th's shift starts at its handover")


def test_a_date_entry_beats_the_weekly_turn_for_exactly_its_shift() -> None:
    rota = WEEKLY.model_copy(update={"dates": {date(2026, 11, 25): "wang"}})
    _expect(rota, _sh(2026, 11, 25, 8, 29), "zhang", "before the dated shift the weekly person")
    _expect(rota, _sh(2026, 11, 25, 8, 30), "wang", "the dated shift starts at the handover")
    _expect(rota, _sh(2026, 11, 26, 8, 29), "wang", "the dated shift runs to the next handover")
    _expect(rota, _sh(2026, 11, 26, 8, 30), "zhang", "then the weekly turn again")


# --- swaps -----------------------------------------------------------------------------------------


def test_a_swap_beats_dates_and_the_weekly_turn_and_ends_exactly_at_its_end() -> None:
    rota = WEEKLY.model_copy(update={
        "dates": {date(2026, 11, 25): "wang"},
        "overrides": (RotaOverride(start=datetime(2026, 11, 25, 18, 0), end=datetime(2026, 11, 26, 9, 0),
                                   person="chen"),),
    })
    _expect(rota, _sh(2026, 11, 25, 17, 59, 59), "wang", "before the swap the dated person")
    _expect(rota, _sh(2026, 11, 25, 18, 0), "chen", "the swap starts at its start (over a date entry)")
    _expect(rota, _sh(2026, 11, 26, 8, 45), "chen", "the swap runs over the handover (over the weekly turn)")
    _expect(rota, _sh(2026, 11, 26, 8, 59, 59), "chen", "the swap still holds a second before its end")
    _expect(rota, _sh(2026, 11, 26, 9, 0), "zhang", "at its end the swap is over: the weekly person")


def test_the_later_listed_swap_wins_where_two_overlap() -> None:
    rota = WEEKLY.model_copy(update={"overrides": (
        RotaOverride(start=datetime(2026, 11, 25, 12, 0), end=datetime(2026, 11, 25, 20, 0), person="chen"),
        RotaOverride(start=datetime(2026, 11, 25, 14, 0), end=datetime(2026, 11, 25, 16, 0), person="wang"),
    )})
    _expect(rota, _sh(2026, 11, 25, 13, 0), "chen", "only the first swap")
    _expect(rota, _sh(2026, 11, 25, 15, 0), "wang", "both swaps: the later-listed one")
    _expect(rota, _sh(2026, 11, 25, 16, 0), "chen", "the second swap ended, the first still holds")


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        on_call(WEEKLY, datetime(2026, 11, 25, 12, 0))


# --- a DST zone on the changeover nights -----------------------------------------------------------


def test_berlin_handover_follows_the_wall_clock_across_the_spring_changeover() -> None:
    rota = Rota(time_zone="Europe/Berlin", dates={date(2026, 3, 28): "anna", date(2026, 3, 29): "ben"},
                overrides=(RotaOverride(start=datetime(2026, 3, 28, 22, 0), end=datetime(2026, 3, 29, 2, 30),
                                        person="carl"),))
    # The swap ends at 02:30, a time the clock skips (02:00 CET -> 03:00 CEST = 01:00 UTC):
    # it ends at the jump, the first reading after 02:30.
    _expect(rota, _utc(2026, 3, 29, 0, 59, 59), "carl", "01:59:59 CET, inside the swap")
    _expect(rota, _utc(2026, 3, 29, 1, 0), "anna", "03:00 CEST: the swap ended at the jump over 02:30")
    # Handover 08:30 CEST = 06:30 UTC (a fixed +01:00 reading would put it at 07:30 UTC).
    _expect(rota, _utc(2026, 3, 29, 6, 29, 59), "anna", "08:29:59 CEST is still Saturday's shift")
    _expect(rota, _utc(2026, 3, 29, 6, 30), "ben", "08:30 CEST is Sunday's handover")


def test_berlin_repeated_hour_passes_a_boundary_once_in_the_autumn() -> None:
    rota = Rota(time_zone="Europe/Berlin", dates={date(2026, 10, 24): "anna", date(2026, 10, 25): "ben"},
                overrides=(RotaOverride(start=datetime(2026, 10, 25, 0, 0), end=datetime(2026, 10, 25, 2, 30),
                                        person="carl"),))
    _expect(rota, _utc(2026, 10, 25, 0, 15), "carl", "02:15 CEST, the first pass: inside the swap")
    _expect(rota, _utc(2026, 10, 25, 0, 30), "anna", "02:30 CEST: the swap has ended")
    _expect(rota, _utc(2026, 10, 25, 1, 15), "anna", "02:15 CET, the hour repeated: the swap does not come back")
    # Handover 08:30 CET = 07:30 UTC.
    _expect(rota, _utc(2026, 10, 25, 7, 29, 59), "anna", "08:29:59 CET is still Saturday's shift")
    _expect(rota, _utc(2026, 10, 25, 7, 30), "ben", "08:30 CET is Sunday's handover")


# --- shifts ------------------------------------------------------------------------------------------


def test_shifts_merge_a_weeks_turn_and_cut_a_swap_in() -> None:
    rota = WEEKLY.model_copy(update={"overrides": (
        RotaOverride(start=datetime(2026, 11, 25, 18, 0), end=datetime(2026, 11, 26, 9, 0), person="chen"),)})
    got = shifts(rota, _sh(2026, 11, 22, 0, 0), _sh(2026, 12, 1, 0, 0))
    expected = [
        (_sh(2026, 11, 22, 0, 0), _sh(2026, 11, 23, 8, 30), None),  # before weekly_from
        (_sh(2026, 11, 23, 8, 30), _sh(2026, 11, 25, 18, 0), "zhang"),
        (_sh(2026, 11, 25, 18, 0), _sh(2026, 11, 26, 9, 0), "chen"),
        (_sh(2026, 11, 26, 9, 0), _sh(2026, 11, 30, 8, 30), "zhang"),  # daily handovers merged
        (_sh(2026, 11, 30, 8, 30), _sh(2026, 12, 1, 0, 0), "li"),  # cut at the end asked for
    ]
    assert got == expected, f"shifts: got {[(a.isoformat(), b.isoformat(), p) for a, b, p in got]}"
    assert all(a.utcoffset() == timedelta(0) and b.utcoffset() == timedelta(0) for a, b, _ in got), \
        "shifts: every bound is UTC"


def test_shifts_across_the_berlin_spring_changeover_give_a_23_hour_shift() -> None:
    rota = Rota(time_zone="Europe/Berlin", dates={date(2026, 3, 28): "anna", date(2026, 3, 29): "ben"})
    got = shifts(rota, _utc(2026, 3, 28, 0, 0), _utc(2026, 3, 31, 0, 0))
    # Saturday's handover 08:30 CET = 07:30 UTC; Sunday's 08:30 CEST = 06:30 UTC; Monday's 06:30 UTC.
    expected = [
        (_utc(2026, 3, 28, 0, 0), _utc(2026, 3, 28, 7, 30), None),
        (_utc(2026, 3, 28, 7, 30), _utc(2026, 3, 29, 6, 30), "anna"),
        (_utc(2026, 3, 29, 6, 30), _utc(2026, 3, 30, 6, 30), "ben"),
        (_utc(2026, 3, 30, 6, 30), _utc(2026, 3, 31, 0, 0), None),
    ]
    assert got == expected, f"shifts: got {[(a.isoformat(), b.isoformat(), p) for a, b, p in got]}"
    assert got[1][1] - got[1][0] == timedelta(hours=23), "the shift over the spring changeover lasts 23 h"


def test_shifts_agree_with_on_call_every_quarter_hour() -> None:
    rota = Rota(time_zone="Europe/Berlin", handover=time(2, 30), weekly=("anna", "ben", "carl"),
                weekly_from=date(2026, 10, 19), dates={date(2026, 10, 25): "dora"},
                overrides=(RotaOverride(start=datetime(2026, 10, 25, 1, 0), end=datetime(2026, 10, 25, 2, 45),
                                        person="emil"),
                           RotaOverride(start=datetime(2026, 10, 27, 20, 0), end=datetime(2026, 10, 28, 4, 0),
                                        person="anna")))
    start, end = _utc(2026, 10, 18, 0, 0), _utc(2026, 11, 3, 0, 0)
    got = shifts(rota, start, end)
    assert got[0][0] == start and got[-1][1] == end, "shifts cover exactly the range asked for"
    for (_, a_end, a_person), (b_start, _, b_person) in itertools.pairwise(got):
        assert a_end == b_start, f"shifts leave no gap or overlap at {a_end.isoformat()}"
        assert a_person != b_person, f"equal neighbours not merged at {a_end.isoformat()}"
    at = start
    while at < end:
        listed = next(p for a, b, p in got if a <= at < b)
        assert listed == on_call(rota, at), f"at {at.isoformat()}: shifts say {listed!r}, on_call disagrees"
        at += timedelta(minutes=15)


def test_an_empty_range_has_no_shifts() -> None:
    assert shifts(WEEKLY, _sh(2026, 11, 25, 0, 0), _sh(2026, 11, 25, 0, 0)) == [], "an empty range gives []"
