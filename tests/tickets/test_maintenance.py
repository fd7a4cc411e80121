"""Maintenance windows: one-off and recurring on the site's clock, across midnight, month ends and DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sitewatch.tickets.maintenance import MaintenanceWindow, covering

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(y, m, d, hh, mm=0, tz=SH) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


def test_a_one_off_window_covers_its_assets_between_start_and_end():
    w = MaintenanceWindow(id="lockup-test", assets=("rs-1",), start=at(2026, 12, 1, 9), end=at(2026, 12, 1, 11))
    kw = dict(site_id="north", time_zone="Asia/Shanghai")
    assert w.covers(at(2026, 12, 1, 9), asset_id="rs-1", **kw)
    assert w.covers(at(2026, 12, 1, 10, 59), asset_id="rs-1", **kw)
    assert not w.covers(at(2026, 12, 1, 11), asset_id="rs-1", **kw), "end is exclusive"
    assert not w.covers(at(2026, 12, 1, 10), asset_id="rs-2", **kw), "another asset"


def test_a_daily_window_running_past_midnight_and_a_site_wide_one():
    w = MaintenanceWindow(id="night", sites=("north",), every="day", at=dt.time(23, 0), duration_min=120)
    kw = dict(asset_id="any", site_id="north", time_zone="Asia/Shanghai")
    assert w.covers(at(2026, 12, 1, 23, 30), **kw)
    assert w.covers(at(2026, 12, 2, 0, 59), **kw), "started the day before"
    assert not w.covers(at(2026, 12, 2, 1, 0), **kw)
    assert not w.covers(at(2026, 12, 2, 12, 0), **kw)


def test_weekly_and_monthly_windows_including_a_month_without_the_day():
    weekly = MaintenanceWindow(id="tue", assets=("a",), every="week", weekday=2, at=dt.time(9), duration_min=60)
    monthly = MaintenanceWindow(id="31st", assets=("a",), every="month", day=31, at=dt.time(9), duration_min=60)
    kw = dict(asset_id="a", site_id="s", time_zone="Asia/Shanghai")
    assert weekly.covers(at(2026, 12, 1, 9, 30), **kw)  # a Tuesday
    assert not weekly.covers(at(2026, 12, 2, 9, 30), **kw)
    assert monthly.covers(at(2026, 12, 31, 9, 30), **kw)
    assert not any(monthly.covers(at(2026, 11, d, 9, 30), **kw) for d in range(1, 31)), "November has no 31st"
    assert monthly.covers(at(2028, 1, 31, 9, 10), **kw)


def test_recurring_windows_follow_the_sites_clock_across_dst():
    w = MaintenanceWindow(id="early", assets=("a",), every="day", at=dt.time(1, 30), duration_min=120)
    kw = dict(asset_id="a", site_id="s", time_zone="Europe/Berlin")
    # 29 March 2026: clocks jump 02:00 -> 03:00; the window starts 01:30 CET, lasts 2 h elapsed
    start = dt.datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN).astimezone(dt.timezone.utc)  # elapsed-time maths in UTC
    assert w.covers(start + dt.timedelta(minutes=119), **kw)  # 04:29 CEST on the wall clock
    assert not w.covers(start + dt.timedelta(minutes=121), **kw)
    assert w.covers(at(2026, 3, 30, 1, 45, tz=BERLIN), **kw), "the next day at the same wall-clock time"


def test_covering_picks_the_window_and_bad_windows_are_refused():
    w = MaintenanceWindow(id="x", assets=("a",), start=at(2026, 1, 1, 0), end=at(2026, 1, 2, 0))
    assert covering([w], at(2026, 1, 1, 12), asset_id="a", site_id="s", time_zone="Asia/Shanghai") is w
    assert covering([w], at(2026, 1, 3, 12), asset_id="a", site_id="s", time_zone="Asia/Shanghai") is None
    with pytest.raises(ValidationError, match="needs assets or sites"):
        MaintenanceWindow(id="y", start=at(2026, 1, 1, 0), end=at(2026, 1, 2, 0))
    with pytest.raises(ValidationError, match="needs weekday"):
        MaintenanceWindow(id="z", assets=("a",), every="week", at=dt.time(9), duration_min=10)
    with pytest.raises(ValidationError, match="end must be after start"):
        MaintenanceWindow(id="w", assets=("a",), start=at(2026, 1, 2, 0), end=at(2026, 1, 1, 0))
