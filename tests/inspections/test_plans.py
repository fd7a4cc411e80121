"""When plans fall due: month ends, a leap year, two time zones (one with DST), seasons,
overhauls by origin, valves by size, low-lying wells after rain. Pure: no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sitewatch.domain.time import UTC
from sitewatch.inspections.plans import PLANS, Status, Target, add_months, next_due, plan

SHANGHAI, BERLIN = "Asia/Shanghai", "Europe/Berlin"
STATION = Target("north", "rs-1", "regulator_station")
CAMERA = Target("north", "cam-1", "camera")


def local(tz: str, *args: int) -> datetime:
    """A site-local wall-clock time, as the aware moment it is."""
    return datetime(*args, tzinfo=ZoneInfo(tz))


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2026, 12, 31), 1, date(2027, 1, 31)),  # across the year end
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2020, 2, 29), 96, date(2028, 2, 29)),
    (date(2020, 2, 29), 60, date(2025, 2, 28)),
    (date(2027, 3, 31), -1, date(2027, 2, 28)),
    (date(2028, 5, 31), -3, date(2028, 2, 29)),
])
def test_calendar_months_are_clamped_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_monthly_security_round_from_jan_31_is_due_on_the_last_day_of_february_in_a_leap_year():
    monthly = plan("security_monthly")
    done = local(SHANGHAI, 2028, 1, 31, 10, 0)
    due = next_due(monthly, CAMERA, now=local(SHANGHAI, 2028, 2, 29, 23, 59), time_zone=SHANGHAI, last_done_at=done)
    assert (due.due_on, due.status, due.last_done_on) == (date(2028, 2, 29), Status.DUE, date(2028, 1, 31))
    late = next_due(monthly, CAMERA, now=local(SHANGHAI, 2028, 3, 1, 0, 1), time_zone=SHANGHAI, last_done_at=done)
    assert late.status is Status.OVERDUE, "one minute past local midnight on Mar 1 is overdue"
    ordinary = next_due(monthly, CAMERA, now=local(SHANGHAI, 2027, 2, 1, 9, 0), time_zone=SHANGHAI,
                        last_done_at=local(SHANGHAI, 2027, 1, 31, 10, 0))
    assert ordinary.due_on == date(2027, 2, 28)


def test_the_site_local_date_decides_not_utc():
    # 01:00 on Feb 1 in Shanghai is still Jan 31 in UTC: it was a February round.
    done = local(SHANGHAI, 2026, 2, 1, 1, 0)
    assert done.astimezone(UTC).date() == date(2026, 1, 31)
    due = next_due(plan("security_monthly"), CAMERA, now=done + timedelta(days=1), time_zone=SHANGHAI, last_done_at=done)
    assert due.due_on == date(2026, 3, 1) and due.last_done_on == date(2026, 2, 1)
    # The same moment seen from Berlin is still Jan 31: due on Feb 28 there.
    berlin = next_due(plan("security_monthly"), CAMERA, now=done + timedelta(days=1), time_zone=BERLIN, last_done_at=done)
    assert berlin.due_on == date(2026, 2, 28)


def test_fortnightly_round_across_the_dst_change_in_berlin():
    rounds = plan("regulator_round")
    done = local(BERLIN, 2026, 3, 29, 0, 30)  # 30 min before clocks go forward (02:00 -> 03:00)
    assert done.utcoffset() == timedelta(hours=1)
    now_late_evening = datetime(2026, 4, 12, 21, 30, tzinfo=UTC)  # 23:30 CEST, Apr 12
    now_after_midnight = datetime(2026, 4, 12, 22, 30, tzinfo=UTC)  # 00:30 CEST, Apr 13: still Apr 12 in UTC
    due = next_due(rounds, STATION, now=now_late_evening, time_zone=BERLIN, last_done_at=done)
    assert (due.due_on, due.status) == (date(2026, 4, 12), Status.DUE)
    assert next_due(rounds, STATION, now=now_after_midnight, time_zone=BERLIN, last_done_at=done).status is Status.OVERDUE
    # In Shanghai (UTC+8, no DST) the same two moments are both Apr 13: overdue either way.
    shanghai = next_due(rounds, STATION, now=now_late_evening, time_zone=SHANGHAI, last_done_at=local(SHANGHAI, 2026, 3, 29, 9))
    assert (shanghai.due_on, shanghai.status) == (date(2026, 4, 12), Status.OVERDUE)


def test_due_within_the_horizon_scheduled_beyond_it_and_never_done_is_due_now():
    rounds = plan("regulator_round")
    done = local(SHANGHAI, 2026, 11, 1, 9)
    assert next_due(rounds, STATION, now=local(SHANGHAI, 2026, 11, 5, 9), time_zone=SHANGHAI, last_done_at=done,
                    horizon_days=7).status is Status.SCHEDULED
    assert next_due(rounds, STATION, now=local(SHANGHAI, 2026, 11, 8, 9), time_zone=SHANGHAI, last_done_at=done,
                    horizon_days=7).status is Status.DUE
    never = next_due(rounds, STATION, now=local(SHANGHAI, 2026, 11, 8, 9), time_zone=SHANGHAI, last_done_at=None)
    assert (never.status, never.due_on, never.reason) == (Status.DUE, date(2026, 11, 8), "never done")


def test_spring_and_autumn_maintenance_windows():
    seasonal = plan("regulator_seasonal")
    spring_day = local(SHANGHAI, 2026, 4, 10, 9)
    due = next_due(seasonal, STATION, now=spring_day, time_zone=SHANGHAI, last_done_at=local(SHANGHAI, 2025, 10, 1, 9))
    assert (due.status, due.window_start, due.due_on, due.reason) == (Status.DUE, date(2026, 3, 1), date(2026, 5, 31),
                                                                      "spring 2026")
    done_in_spring = local(SHANGHAI, 2026, 4, 2, 9)
    after = next_due(seasonal, STATION, now=spring_day, time_zone=SHANGHAI, last_done_at=done_in_spring)
    assert (after.status, after.window_start, after.due_on) == (Status.SCHEDULED, date(2026, 9, 1), date(2026, 11, 30))
    missed = next_due(seasonal, STATION, now=local(SHANGHAI, 2026, 6, 1, 0, 5), time_zone=SHANGHAI,
                      last_done_at=local(SHANGHAI, 2025, 10, 1, 9))
    assert (missed.status, missed.due_on) == (Status.OVERDUE, date(2026, 5, 31))
    # Winter: autumn 2026 missed; a late autumn maintenance in December still counts for it.
    winter = local(SHANGHAI, 2027, 1, 10, 9)
    assert next_due(seasonal, STATION, now=winter, time_zone=SHANGHAI, last_done_at=done_in_spring).status is Status.OVERDUE
    late = next_due(seasonal, STATION, now=winter, time_zone=SHANGHAI, last_done_at=local(SHANGHAI, 2026, 12, 3, 9))
    assert (late.status, late.reason) == (Status.SCHEDULED, "spring 2027")


def test_overhaul_after_five_years_domestic_and_eight_imported_from_a_leap_day():
    overhaul = plan("regulator_overhaul")
    now = local(SHANGHAI, 2026, 11, 27, 9)
    imported = Target("north", "rs-1", "regulator_station", installed_on=date(2020, 2, 29), origin="imported")
    domestic = Target("north", "rs-2", "regulator_station", installed_on=date(2020, 2, 29), origin="domestic")
    assert next_due(overhaul, imported, now=now, time_zone=SHANGHAI, last_done_at=None).due_on == date(2028, 2, 29)
    d = next_due(overhaul, domestic, now=now, time_zone=SHANGHAI, last_done_at=None)
    assert (d.due_on, d.status) == (date(2025, 2, 28), Status.OVERDUE)
    redone = next_due(overhaul, domestic, now=now, time_zone=SHANGHAI, last_done_at=local(SHANGHAI, 2026, 3, 1, 9))
    assert (redone.due_on, redone.status) == (date(2031, 3, 1), Status.SCHEDULED)
    assert not overhaul.applies_to(STATION), "no installation date or origin: nothing to compute"


def test_valves_by_size_and_wells_after_rain():
    big, small = Target("n", "v-1", "valve", dn_mm=65), Target("n", "v-2", "valve", dn_mm=50)
    assert [p.kind for p in PLANS if p.applies_to(big)] == ["valve_yearly"]
    assert [p.kind for p in PLANS if p.applies_to(small)] == ["valve_triennial"]
    due = next_due(plan("valve_triennial"), small, now=local(SHANGHAI, 2029, 2, 28, 9), time_zone=SHANGHAI,
                   last_done_at=local(SHANGHAI, 2026, 2, 28, 9))
    assert due.due_on == date(2029, 2, 28)
    low = Target("n", "w-1", "valve_well", low_lying=True)
    high = Target("n", "w-2", "valve_well")
    after_rain = plan("valve_well_after_rain")
    assert after_rain.applies_to(low) and not after_rain.applies_to(high)
    rain = local(SHANGHAI, 2026, 7, 3, 16)
    now = local(SHANGHAI, 2026, 7, 4, 9)
    assert next_due(after_rain, low, now=now, time_zone=SHANGHAI, last_done_at=None, rain_at=None) is None
    due = next_due(after_rain, low, now=now, time_zone=SHANGHAI, last_done_at=local(SHANGHAI, 2026, 7, 3, 10), rain_at=rain)
    assert (due.status, due.due_on) == (Status.DUE, date(2026, 7, 5)), "checked that morning, before the rain"
    assert next_due(after_rain, low, now=now, time_zone=SHANGHAI, last_done_at=local(SHANGHAI, 2026, 7, 4, 8),
                    rain_at=rain) is None


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        next_due(plan("regulator_round"), STATION, now=datetime(2026, 1, 1), time_zone=SHANGHAI, last_done_at=None)


def test_every_plan_has_a_checklist_and_a_schedule():
    for p in PLANS:
        assert p.items, p.kind
        assert sum(x is not None and x != () for x in (p.every, p.seasons, p.overhaul_years, p.after_rain_days)) == 1
    assert plan("regulator_round").min_people == 2
