"""Windows in site time: 24 h, and 23 h / 25 h across a DST change."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sitewatch.domain.time import UTC
from sitewatch.review.compute import expected_samples
from sitewatch.review.schedule import due_at, latest_due_day, window

AT = time(8, 30)


def test_a_shanghai_day_runs_from_yesterday_0830_to_today_0830_local():
    w = window(date(2026, 11, 27), at=AT, time_zone="Asia/Shanghai")
    assert (w.start, w.end) == (datetime(2026, 11, 26, 0, 30, tzinfo=UTC), datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
    assert expected_samples(w.seconds, 10.0) == 8640


def test_dst_days_are_23_and_25_hours_long_with_the_right_expected_counts():
    # Clocks go forward at 02:00 on 29 March and back at 03:00 on 25 October: the logs of
    # those mornings cover the night of the change.
    spring = window(date(2026, 3, 29), at=AT, time_zone="Europe/Berlin")
    autumn = window(date(2026, 10, 25), at=AT, time_zone="Europe/Berlin")
    assert spring.seconds == 23 * 3600 and expected_samples(spring.seconds, 60.0) == 1380
    assert autumn.seconds == 25 * 3600 and expected_samples(autumn.seconds, 60.0) == 1500
    assert (spring.start, spring.end) == (datetime(2026, 3, 28, 7, 30, tzinfo=UTC), datetime(2026, 3, 29, 6, 30, tzinfo=UTC))
    assert (autumn.start, autumn.end) == (datetime(2026, 10, 24, 6, 30, tzinfo=UTC), datetime(2026, 10, 25, 7, 30, tzinfo=UTC))
    assert window(date(2026, 3, 30), at=AT, time_zone="Europe/Berlin").seconds == 24 * 3600


def test_todays_log_is_due_only_once_08_30_has_passed_on_site():
    due = due_at(date(2026, 11, 27), at=AT, time_zone="Asia/Shanghai")
    assert latest_due_day(due - timedelta(seconds=1), at=AT, time_zone="Asia/Shanghai") == date(2026, 11, 26)
    assert latest_due_day(due, at=AT, time_zone="Asia/Shanghai") == date(2026, 11, 27)
    # 20:00 UTC on the 26th is already 04:00 on the 27th in Shanghai: still before 08:30
    assert latest_due_day(datetime(2026, 11, 26, 20, 0, tzinfo=UTC), at=AT, time_zone="Asia/Shanghai") == date(2026, 11, 26)


def test_a_review_time_inside_a_dst_gap_still_gives_one_instant_and_contiguous_windows():
    at = time(2, 30)  # does not exist in Berlin on 29 March 2026
    day = date(2026, 3, 29)
    w, nxt = window(day, at=at, time_zone="Europe/Berlin"), window(day + timedelta(days=1), at=at, time_zone="Europe/Berlin")
    assert w.end == nxt.start, "consecutive windows must neither overlap nor leave a hole"
    # fold=0: 02:30 read with the winter offset is 03:30 summer time, so the short day is the next one
    assert w.end == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert w.seconds == 24 * 3600 and nxt.seconds == 23 * 3600
