"""Time helpers: UTC inside, the site's local time only at the edges."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = timezone.utc


class Clock(Protocol):
    """What the scheduler and rules need of time; injected so tests can drive it."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ShiftedClock:
    """Real time moved to begin at ``start``: it runs at the real pace from there. Lets a
    live system of simulators and services run at 03:00 site time, whatever the hour."""

    def __init__(self, start: datetime, *, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = require_utc(start) - self._base.now()

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def monotonic(self) -> float:
        return self._base.monotonic()


def require_utc(ts: datetime) -> datetime:
    """Refuse naive datetimes: a naive time is the classic source of 8-hour errors."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: timestamps must be timezone-aware")
    return ts.astimezone(UTC)


def to_local(ts: datetime, time_zone: str) -> datetime:
    return require_utc(ts).astimezone(ZoneInfo(time_zone))
