"""When each site's review is due, and the window it covers, in the site's local time.

A log is named by the site-local date its window ends on: the log of 2026-11-27 covers
[2026-11-26 08:30, 2026-11-27 08:30) site time. On a DST day that window is 23 h or 25 h
long; every instant is computed through the zone, never by adding 24 h.

A review time that falls in a DST gap (a clock skipped over it) is taken as PEP 495's
fold=0 reading (later by the gap's length); in a repeated hour, its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sitewatch.domain.time import UTC, require_utc


@dataclass(frozen=True, slots=True)
class Window:
    day: dt.date  # site-local date the window ends on
    start: dt.datetime  # UTC, inclusive
    end: dt.datetime  # UTC, exclusive

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def due_at(day: dt.date, *, at: dt.time, time_zone: str) -> dt.datetime:
    """The UTC instant of `at` site-local time on `day`: when that day's log is due."""
    local = dt.datetime.combine(day, at, tzinfo=ZoneInfo(time_zone))
    return local.astimezone(UTC)


def window(day: dt.date, *, at: dt.time, time_zone: str) -> Window:
    """The 24 h (23 h, 25 h) before `day`'s review time, site-local."""
    return Window(day, due_at(day - dt.timedelta(days=1), at=at, time_zone=time_zone),
                  due_at(day, at=at, time_zone=time_zone))


def latest_due_day(now: dt.datetime, *, at: dt.time, time_zone: str) -> dt.date:
    """The newest day whose review time has passed at `now`: today's after 08:30, else yesterday's."""
    today = require_utc(now).astimezone(ZoneInfo(time_zone)).date()
    if due_at(today, at=at, time_zone=time_zone) <= now:
        return today
    return today - dt.timedelta(days=1)
