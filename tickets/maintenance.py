"""Maintenance windows: while one covers an asset its alerts are recorded but page nobody.

A technician testing lock-up pressure must not page the control room (DOMAIN.md, issue 4).
Windows are one-off (start/end instants) or recurring on the site's wall clock: daily,
weekly (an ISO weekday) or monthly (a day of the month; a month without that day has no
window). Pure: the writer asks ``covering`` for each alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sitewatch.domain.time import require_utc, to_local


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    reason: str = ""
    assets: tuple[str, ...] = ()  # the window covers these assets ...
    sites: tuple[str, ...] = ()  # ... and every asset of these sites
    # one-off
    start: dt.datetime | None = None  # with its UTC offset
    end: dt.datetime | None = None
    # recurring, on the site's local clock
    every: Literal["day", "week", "month"] | None = None
    at: dt.time | None = None  # local start time
    duration_min: float | None = Field(default=None, gt=0, le=7 * 24 * 60)
    weekday: int | None = Field(default=None, ge=1, le=7)  # ISO, for every = "week"
    day: int | None = Field(default=None, ge=1, le=31)  # for every = "month"

    @model_validator(mode="after")
    def _one_kind(self) -> "MaintenanceWindow":
        if not self.assets and not self.sites:
            raise ValueError("a window needs assets or sites")
        if self.every is None:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs start and end")
            require_utc(self.start)
            require_utc(self.end)
            if self.end <= self.start:
                raise ValueError("end must be after start")
        else:
            if self.at is None or self.duration_min is None:
                raise ValueError("a recurring window needs at and duration_min")
            if self.every == "week" and self.weekday is None:
                raise ValueError("every = 'week' needs weekday")
            if self.every == "month" and self.day is None:
                raise ValueError("every = 'month' needs day")
        return self

    def covers(self, at: dt.datetime, *, asset_id: str, site_id: str, time_zone: str) -> bool:
        if asset_id not in self.assets and site_id not in self.sites:
            return False
        at = require_utc(at)
        if self.every is None:
            assert self.start is not None and self.end is not None
            return self.start <= at < self.end
        local = to_local(at, time_zone)
        # A window may run past midnight: look at starts on this day and the days before.
        assert self.duration_min is not None
        span = dt.timedelta(minutes=self.duration_min)
        for back in range(0, span.days + 2):
            day = local.date() - dt.timedelta(days=back)
            if not self._starts_on(day):
                continue
            start = dt.datetime.combine(day, self.at, tzinfo=local.tzinfo)
            # Wall-clock start, elapsed duration: a window across a DST change lasts as long.
            start_utc = require_utc(start)
            if start_utc <= at < start_utc + span:
                return True
        return False

    def _starts_on(self, day: dt.date) -> bool:
        if self.every == "day":
            return True
        if self.every == "week":
            return day.isoweekday() == self.weekday
        return day.day == self.day


def covering(
    windows: Sequence[MaintenanceWindow], at: dt.datetime, *, asset_id: str, site_id: str, time_zone: str
) -> MaintenanceWindow | None:
    """The first window covering the asset at ``at``, if any."""
    for window in windows:
        if window.covers(at, asset_id=asset_id, site_id=site_id, time_zone=time_zone):
            return window
    return None
