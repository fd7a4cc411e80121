"""Months and quarters start at local midnight of their first day, in any zone."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sitewatch.domain.time import UTC
from sitewatch.reports.periods import parse_month, parse_quarter


def test_a_month_in_shanghai_and_new_york():
    november = parse_month("2026-11")
    assert (november.first_day, november.next_first_day) == (date(2026, 11, 1), date(2026, 12, 1))
    assert november.start("Asia/Shanghai") == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert november.end("America/New_York") == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # EST
    late = datetime(2026, 12, 1, 4, 30, tzinfo=UTC)  # 23:30 on Nov 30 in New York
    assert november.contains(late, "America/New_York") and not november.contains(late, "UTC")
    early = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)  # 00:30 on Nov 1 in Shanghai
    assert november.contains(early, "Asia/Shanghai") and not november.contains(early, "UTC")


def test_quarters_and_their_months_across_a_year_end_and_a_dst_change():
    q4 = parse_quarter("2026-Q4")
    assert [m.label for m in q4.months()] == ["2026-10", "2026-11", "2026-12"]
    assert q4.next_first_day == date(2027, 1, 1)
    # Berlin leaves summer time on Oct 25: the quarter starts at +02:00 and ends at +01:00.
    assert q4.start("Europe/Berlin") == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    assert q4.end("Europe/Berlin") == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert parse_quarter("2027-Q1").months()[1].label == "2027-02"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "2026-11-01", ""])
def test_bad_months_are_refused(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(text)


@pytest.mark.parametrize("text", ["2026-Q5", "2026-Q0", "2026Q4", "2026-q4"])
def test_bad_quarters_are_refused(text):
    with pytest.raises(ValueError, match="YYYY-Qn"):
        parse_quarter(text)
