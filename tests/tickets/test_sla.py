"""Arrival deadlines: every expected value below is worked out by hand in its comment.

Dates used: 2026-03-13 is a Friday; Europe/Berlin changes clocks on 2026-03-29 (02:00 CET
-> 03:00 CEST) and 2026-10-25 (03:00 CEST -> 02:00 CET); Asia/Shanghai is UTC+8 all year.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sitewatch.config.models import SlaZone, WorkingCalendar
from sitewatch.domain.time import UTC
from sitewatch.tickets.sla import arrive_by, is_breached, working_seconds_between

SHANGHAI = "Asia/Shanghai"
BERLIN = "Europe/Berlin"
CST = ZoneInfo(SHANGHAI)
CET = ZoneInfo(BERLIN)

OFFICE = WorkingCalendar()  # Mon-Fri 08:30-17:30
CALENDARS = {"office": OFFICE}
URBAN = SlaZone(hours=6.0, basis="working_hours", calendar="office", label="urban")
SUBURBAN = SlaZone(hours=7.0, basis="working_hours", calendar="office", label="suburban")


def _working(hours: float) -> SlaZone:
    return SlaZone(hours=hours, basis="working_hours", calendar="office")


def _deadline(opened: datetime, zone: SlaZone, *, tz: str = SHANGHAI, calendars=CALENDARS) -> datetime:
    return arrive_by(opened_at=opened, zone=zone, calendars=calendars, time_zone=tz)


def _assert_at(got: datetime, expected: datetime, why: str) -> None:
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0), f"{why}: result {got!r} is not UTC"
    assert got == expected, (
        f"{why}: got {got.isoformat()} (local {got.astimezone(expected.tzinfo).isoformat()}), "
        f"expected {expected.astimezone(UTC).isoformat()} (local {expected.isoformat()})"
    )


# --- calendar basis -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "label", "expected_utc"),
    [
        # opened Tue 2026-03-10 09:15 +08:00 = 01:15 UTC
        (2.0, "inside the 1st ring road", datetime(2026, 3, 10, 3, 15, tzinfo=UTC)),
        (3.0, "inside the 2nd ring road", datetime(2026, 3, 10, 4, 15, tzinfo=UTC)),
        (4.0, "outside the 2nd ring, within the city", datetime(2026, 3, 10, 5, 15, tzinfo=UTC)),
        (6.0, "neighbouring cities and counties", datetime(2026, 3, 10, 7, 15, tzinfo=UTC)),
    ],
)
def test_calendar_zones_from_domain(hours: float, label: str, expected_utc: datetime) -> None:
    opened = datetime(2026, 3, 10, 9, 15, tzinfo=CST)
    zone = SlaZone(hours=hours, label=label)
    _assert_at(_deadline(opened, zone), expected_utc, label)


def test_calendar_basis_ignores_working_time() -> None:
    # Saturday 23:00 local + 2 h = Sunday 01:00 local: faults are handled 24 h a day.
    opened = datetime(2026, 3, 14, 23, 0, tzinfo=CST)
    _assert_at(_deadline(opened, SlaZone(hours=2.0)), datetime(2026, 3, 15, 1, 0, tzinfo=CST), "weekend night")


def test_calendar_basis_counts_elapsed_hours_across_spring_change() -> None:
    # Sat 2026-03-28 23:00 CET = 22:00 UTC; + 6 h = Sun 04:00 UTC = 06:00 CEST: the wall
    # clock moved 7 hours because 02:00-03:00 was skipped.
    opened = datetime(2026, 3, 28, 23, 0, tzinfo=CET)
    got = _deadline(opened, SlaZone(hours=6.0), tz=BERLIN)
    _assert_at(got, datetime(2026, 3, 29, 4, 0, tzinfo=UTC), "spring change, calendar basis")
    assert got.astimezone(CET).time() == time(6, 0), "local wall clock should read 06:00 CEST"


def test_calendar_basis_counts_elapsed_hours_across_autumn_change() -> None:
    # Sun 2026-10-25 00:00 CEST = Sat 22:00 UTC; + 4 h = 02:00 UTC = 03:00 CET: the wall
    # clock moved 3 hours because 02:00-03:00 was lived twice.
    opened = datetime(2026, 10, 25, 0, 0, tzinfo=CET)
    got = _deadline(opened, SlaZone(hours=4.0), tz=BERLIN)
    _assert_at(got, datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "autumn change, calendar basis")
    assert got.astimezone(CET).time() == time(3, 0), "local wall clock should read 03:00 CET"


def test_calendar_basis_accepts_any_aware_offset() -> None:
    opened = datetime(2026, 3, 10, 1, 15, tzinfo=timezone(timedelta(hours=-5)))  # 06:15 UTC
    _assert_at(_deadline(opened, SlaZone(hours=2.0)), datetime(2026, 3, 10, 8, 15, tzinfo=UTC), "fixed offset")


# --- working-hours basis, Asia/Shanghai --------------------------------------------------------


def test_urban_opened_friday_afternoon_runs_into_monday() -> None:
    # Fri 15:00-17:30 = 2.5 h; 3.5 h left from Mon 08:30 -> Mon 12:00.
    opened = datetime(2026, 3, 13, 15, 0, tzinfo=CST)
    _assert_at(_deadline(opened, URBAN), datetime(2026, 3, 16, 12, 0, tzinfo=CST), "urban, Friday 15:00")


def test_suburban_opened_friday_afternoon_runs_into_monday() -> None:
    # Fri 2.5 h; 4.5 h left from Mon 08:30 -> Mon 13:00.
    opened = datetime(2026, 3, 13, 15, 0, tzinfo=CST)
    _assert_at(_deadline(opened, SUBURBAN), datetime(2026, 3, 16, 13, 0, tzinfo=CST), "suburban, Friday 15:00")


def test_opened_on_saturday_counts_from_monday_morning() -> None:
    # Nothing counts on Sat/Sun; Mon 08:30 + 6 h = 14:30.
    opened = datetime(2026, 3, 14, 10, 0, tzinfo=CST)
    _assert_at(_deadline(opened, URBAN), datetime(2026, 3, 16, 14, 30, tzinfo=CST), "urban, Saturday")


def test_opened_before_start_counts_from_start() -> None:
    # Tue 07:00 is before opening; 08:30 + 6 h = 14:30 the same day.
    opened = datetime(2026, 3, 10, 7, 0, tzinfo=CST)
    _assert_at(_deadline(opened, URBAN), datetime(2026, 3, 10, 14, 30, tzinfo=CST), "urban, before opening")


def test_opened_exactly_at_end_of_day_counts_from_next_working_start() -> None:
    # Fri 17:30 is outside [08:30, 17:30): Mon 08:30 + 6 h = 14:30.
    opened = datetime(2026, 3, 13, 17, 30, tzinfo=CST)
    _assert_at(_deadline(opened, URBAN), datetime(2026, 3, 16, 14, 30, tzinfo=CST), "urban, Friday 17:30")


def test_deadline_falling_exactly_on_closing_time_stays_that_day() -> None:
    # Fri 11:30 + 6 h = 17:30 Friday, not Monday 08:30.
    opened = datetime(2026, 3, 13, 11, 30, tzinfo=CST)
    _assert_at(_deadline(opened, URBAN), datetime(2026, 3, 13, 17, 30, tzinfo=CST), "urban, ends at closing")


def test_fractional_hours() -> None:
    # Mon 14:00-17:30 = 3.5 h; 3.0 h left from Tue 08:30 -> Tue 11:30.
    opened = datetime(2026, 3, 16, 14, 0, tzinfo=CST)
    _assert_at(_deadline(opened, _working(6.5)), datetime(2026, 3, 17, 11, 30, tzinfo=CST), "6.5 working hours")


def test_holidays_are_skipped() -> None:
    # The example deployment's calendar: holidays Thu 10-01, Fri 10-02, Mon 10-05.
    # Wed 09-30 15:00-17:30 = 2.5 h; Thu, Fri, weekend, Mon skipped; Tue 10-06 08:30 + 3.5 h = 12:00.
    calendar = WorkingCalendar(holidays=(date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5)))
    opened = datetime(2026, 9, 30, 15, 0, tzinfo=CST)
    got = _deadline(opened, URBAN, calendars={"office": calendar})
    _assert_at(got, datetime(2026, 10, 6, 12, 0, tzinfo=CST), "holidays in between")


def test_extra_workday_is_counted() -> None:
    # Sat 10-10 is worked in lieu. Fri 10-09 15:00-17:30 = 2.5 h; Sat 08:30 + 3.5 h = 12:00.
    calendar = WorkingCalendar(extra_workdays=(date(2026, 10, 10),))
    opened = datetime(2026, 10, 9, 15, 0, tzinfo=CST)
    got = _deadline(opened, URBAN, calendars={"office": calendar})
    _assert_at(got, datetime(2026, 10, 10, 12, 0, tzinfo=CST), "Saturday worked in lieu")


def test_holiday_wins_over_extra_workday() -> None:
    # A day listed as both is not worked: Fri 2.5 h, then Mon 08:30 + 3.5 h = 12:00.
    saturday = date(2026, 10, 10)
    calendar = WorkingCalendar(extra_workdays=(saturday,), holidays=(saturday,))
    opened = datetime(2026, 10, 9, 15, 0, tzinfo=CST)
    got = _deadline(opened, URBAN, calendars={"office": calendar})
    _assert_at(got, datetime(2026, 10, 12, 12, 0, tzinfo=CST), "holiday and extra workday on one day")


# --- working-hours basis, Europe/Berlin across DST --------------------------------------------


def test_working_hours_across_spring_change_keep_wall_clock_hours() -> None:
    # Fri 03-27 15:00 CET: 2.5 h Friday; Mon 03-30 08:30 CEST + 3.5 h = 12:00 CEST = 10:00 UTC.
    # (Elapsed-time arithmetic on Friday's offset would say 11:00 UTC, an hour late.)
    opened = datetime(2026, 3, 27, 15, 0, tzinfo=CET)
    got = _deadline(opened, URBAN, tz=BERLIN)
    _assert_at(got, datetime(2026, 3, 30, 10, 0, tzinfo=UTC), "spring change, working hours")
    assert got.astimezone(CET).utcoffset() == timedelta(hours=2), "Monday's offset should be CEST, +02:00"


def test_working_hours_across_autumn_change_keep_wall_clock_hours() -> None:
    # Fri 10-23 15:00 CEST: 2.5 h Friday; Mon 10-26 08:30 CET + 3.5 h = 12:00 CET = 11:00 UTC.
    opened = datetime(2026, 10, 23, 15, 0, tzinfo=CET)
    got = _deadline(opened, URBAN, tz=BERLIN)
    _assert_at(got, datetime(2026, 10, 26, 11, 0, tzinfo=UTC), "autumn change, working hours")
    assert got.astimezone(CET).utcoffset() == timedelta(hours=1), "Monday's offset should be CET, +01:00"


# A window that a DST change runs through: Sundays 00:00-06:00 local.
NIGHT_SUNDAY = WorkingCalendar(workdays=(7,), start=time(0, 0), end=time(6, 0))


def test_window_through_spring_change_counts_the_hours_actually_worked() -> None:
    # Sun 03-29 00:00 CET (Sat 23:00 UTC) to 06:00 CEST (04:00 UTC) = 5 elapsed hours.
    seconds = working_seconds_between(
        start=datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
        end=datetime(2026, 3, 30, 0, 0, tzinfo=UTC),
        calendar=NIGHT_SUNDAY,
        time_zone=BERLIN,
    )
    assert seconds == 5 * 3600, f"expected 5 h in the short night, got {seconds / 3600} h"
    # So 5 working hours from Saturday end at Sunday 06:00 CEST.
    opened = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    got = _deadline(opened, _working(5.0), tz=BERLIN, calendars={"office": NIGHT_SUNDAY})
    _assert_at(got, datetime(2026, 3, 29, 6, 0, tzinfo=CET), "5 h through the spring change")


def test_window_through_autumn_change_counts_the_hours_actually_worked() -> None:
    # Sun 10-25 00:00 CEST (Sat 22:00 UTC) to 06:00 CET (05:00 UTC) = 7 elapsed hours.
    seconds = working_seconds_between(
        start=datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
        end=datetime(2026, 10, 26, 0, 0, tzinfo=UTC),
        calendar=NIGHT_SUNDAY,
        time_zone=BERLIN,
    )
    assert seconds == 7 * 3600, f"expected 7 h in the long night, got {seconds / 3600} h"


def test_window_starting_in_a_dst_gap_starts_at_the_jump() -> None:
    # 02:30 does not exist on 03-29 in Berlin; the window starts when the clock jumps,
    # 03:00 CEST = 01:00 UTC, and runs to 06:00 CEST = 04:00 UTC: 3 h.
    calendar = WorkingCalendar(workdays=(7,), start=time(2, 30), end=time(6, 0))
    seconds = working_seconds_between(
        start=datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
        end=datetime(2026, 3, 30, 0, 0, tzinfo=UTC),
        calendar=calendar,
        time_zone=BERLIN,
    )
    assert seconds == 3 * 3600, f"expected the window to start at the 01:00 UTC jump (3 h), got {seconds / 3600} h"


def test_window_starting_at_a_repeated_time_starts_at_its_first_reading() -> None:
    # 02:30 happens twice on 10-25 in Berlin; the first is 02:30 CEST = 00:30 UTC.
    # To 06:00 CET = 05:00 UTC: 4.5 h.
    calendar = WorkingCalendar(workdays=(7,), start=time(2, 30), end=time(6, 0))
    seconds = working_seconds_between(
        start=datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
        end=datetime(2026, 10, 26, 0, 0, tzinfo=UTC),
        calendar=calendar,
        time_zone=BERLIN,
    )
    assert seconds == 4.5 * 3600, f"expected the window to start at the first 02:30 (4.5 h), got {seconds / 3600} h"


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opened", "hours", "tz"),
    [
        (datetime(2026, 3, 13, 15, 0, tzinfo=CST), 6.0, SHANGHAI),
        (datetime(2026, 3, 14, 10, 0, tzinfo=CST), 7.0, SHANGHAI),
        (datetime(2026, 3, 16, 14, 0, tzinfo=CST), 6.5, SHANGHAI),
        (datetime(2026, 3, 13, 17, 30, tzinfo=CST), 6.0, SHANGHAI),
        (datetime(2026, 3, 27, 15, 0, tzinfo=CET), 6.0, BERLIN),
        (datetime(2026, 10, 23, 15, 0, tzinfo=CET), 7.0, BERLIN),
        (datetime(2026, 3, 2, 9, 0, tzinfo=CST), 100.25, SHANGHAI),  # crosses weeks
    ],
)
def test_working_seconds_between_inverts_arrive_by(opened: datetime, hours: float, tz: str) -> None:
    deadline = _deadline(opened, _working(hours), tz=tz)
    seconds = working_seconds_between(start=opened, end=deadline, calendar=OFFICE, time_zone=tz)
    assert seconds == hours * 3600, f"{opened.isoformat()} -> {deadline.isoformat()}: {seconds / 3600} h, not {hours} h"


def test_working_seconds_between_same_instant_is_zero() -> None:
    at = datetime(2026, 3, 10, 10, 0, tzinfo=CST)
    assert working_seconds_between(start=at, end=at, calendar=OFFICE, time_zone=SHANGHAI) == 0.0


def test_working_seconds_between_refuses_end_before_start() -> None:
    at = datetime(2026, 3, 10, 10, 0, tzinfo=CST)
    with pytest.raises(ValueError, match="before start"):
        working_seconds_between(start=at, end=at - timedelta(seconds=1), calendar=OFFICE, time_zone=SHANGHAI)


# --- refusals ----------------------------------------------------------------------------------


def test_naive_opened_at_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _deadline(datetime(2026, 3, 10, 9, 15), SlaZone(hours=2.0))
    with pytest.raises(ValueError, match="naive"):
        _deadline(datetime(2026, 3, 10, 9, 15), URBAN)


def test_naive_datetimes_refused_by_working_seconds_between() -> None:
    with pytest.raises(ValueError, match="naive"):
        working_seconds_between(
            start=datetime(2026, 3, 10, 9, 0),
            end=datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
            calendar=OFFICE,
            time_zone=SHANGHAI,
        )


def test_calendar_without_workdays_is_refused() -> None:
    with pytest.raises(ValueError, match="no workdays"):
        _deadline(datetime(2026, 3, 10, 9, 0, tzinfo=CST), URBAN, calendars={"office": WorkingCalendar(workdays=())})


def test_calendar_whose_only_workday_is_a_holiday_is_refused_after_the_search_bound() -> None:
    day = date(2026, 3, 14)
    calendar = WorkingCalendar(workdays=(), extra_workdays=(day,), holidays=(day,))
    with pytest.raises(ValueError, match="less than 6.0 working hours in the 3 years"):
        _deadline(datetime(2026, 3, 10, 9, 0, tzinfo=CST), URBAN, calendars={"office": calendar})


def test_unknown_calendar_is_refused() -> None:
    zone = SlaZone(hours=6.0, basis="working_hours", calendar="night-shift")
    with pytest.raises(ValueError, match="unknown calendar 'night-shift'"):
        _deadline(datetime(2026, 3, 10, 9, 0, tzinfo=CST), zone)


# --- is_breached -------------------------------------------------------------------------------

DEADLINE = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("arrived_at", "now", "expected", "why"),
    [
        (None, DEADLINE - timedelta(minutes=1), False, "not arrived, deadline still ahead"),
        (None, DEADLINE, False, "not arrived, exactly at the deadline"),
        (None, DEADLINE + timedelta(seconds=1), True, "not arrived, deadline passed"),
        (DEADLINE - timedelta(minutes=5), DEADLINE + timedelta(days=2), False, "arrived in time; clock stopped"),
        (DEADLINE, DEADLINE + timedelta(days=2), False, "arrived exactly on the deadline"),
        (DEADLINE + timedelta(minutes=1), DEADLINE + timedelta(minutes=2), True, "arrived late"),
        # An arrival recorded in local time is compared as the same instant: 12:30 CST = 04:30 UTC.
        (datetime(2026, 3, 10, 12, 30, tzinfo=CST), DEADLINE, True, "arrived late, recorded in local time"),
    ],
)
def test_is_breached(arrived_at: datetime | None, now: datetime, expected: bool, why: str) -> None:
    assert is_breached(arrive_by=DEADLINE, arrived_at=arrived_at, now=now) is expected, why


def test_is_breached_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_breached(arrive_by=DEADLINE, arrived_at=None, now=datetime(2026, 3, 10, 5, 0))
