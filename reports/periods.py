"""Report periods: a calendar month or quarter in a site's own calendar.

A period starts at local midnight of its first day and ends at local midnight of the first
day of the next one, so a ticket opened at 23:30 local time on the last day of a month is
that month's, though in UTC it may already be the next. A customer's sites may lie in
different zones: each record is placed by the local date of its own site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sitewatch.domain.time import UTC, require_utc

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, slots=True)
class Period:
    first_day: date  # local calendar, inclusive
    next_first_day: date  # local calendar, exclusive
    label: str  # "2026-11" or "2026-Q4"

    def contains(self, ts: datetime, time_zone: str) -> bool:
        """Whether ``ts`` falls in the period in ``time_zone``'s calendar."""
        day = require_utc(ts).astimezone(ZoneInfo(time_zone)).date()
        return self.first_day <= day < self.next_first_day

    def start(self, time_zone: str) -> datetime:
        """Local midnight of the first day, in UTC."""
        return _midnight(self.first_day, time_zone)

    def end(self, time_zone: str) -> datetime:
        """Local midnight of the next period's first day, in UTC (exclusive)."""
        return _midnight(self.next_first_day, time_zone)

    def query_bounds(self) -> tuple[datetime, datetime]:
        """UTC bounds wide enough for any zone (±14 h): select with these, then keep what
        ``contains`` says."""
        return (datetime.combine(self.first_day, time(), UTC) - timedelta(days=1),
                datetime.combine(self.next_first_day, time(), UTC) + timedelta(days=1))

    def months(self) -> tuple[Period, ...]:
        out, day = [], self.first_day
        while day < self.next_first_day:
            out.append(month_of(day.year, day.month))
            day = out[-1].next_first_day
        return tuple(out)


def month_of(year: int, month: int) -> Period:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return Period(date(year, month, 1), nxt, f"{year:04d}-{month:02d}")


def quarter_of(year: int, quarter: int) -> Period:
    first = 3 * (quarter - 1) + 1
    nxt = date(year + 1, 1, 1) if quarter == 4 else date(year, first + 3, 1)
    return Period(date(year, first, 1), nxt, f"{year:04d}-Q{quarter}")


def parse_month(text: str) -> Period:
    """'2026-11' -> November 2026; ValueError otherwise."""
    m = _MONTH.match(text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month {text!r}: expected YYYY-MM")
    return month_of(int(m.group(1)), int(m.group(2)))


def parse_quarter(text: str) -> Period:
    """'2026-Q4' -> October to December 2026; ValueError otherwise."""
    m = _QUARTER.match(text)
    if m is None:
        raise ValueError(f"quarter {text!r}: expected YYYY-Qn with n 1..4")
    return quarter_of(int(m.group(1)), int(m.group(2)))


def _midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(time_zone)).astimezone(UTC)
