"""The time-series store's upkeep, run by the process as a chore: rollups and retention.

Every ``CHECK_EVERY_S`` the last hours are rolled up again, from two hours (and to the hour)
before the rollup's watermark up to the last whole minute: samples that came in late (a
store-and-forward replay, a slow alarm host) are folded into the minutes and hours they
belong to. Once an hour, data past the retention of ``[storage.retention]`` is expired.

A store never rolled up (a new one, or one from before rollups) is rolled up from as far
back as raw samples are kept, ``CATCH_UP`` per round so that one round stays short: charts
read raw samples wherever the rollup does not reach yet, so catching up changes only how
fast they are drawn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sitewatch.config.storage import RetentionSettings
from sitewatch.domain.time import UTC, require_utc
from sitewatch.storage.timeseries import HOUR, MINUTE, TimeSeriesStore, grid_floor

log = logging.getLogger(__name__)

CHECK_EVERY_S = 300.0
LATE = timedelta(hours=2)  # how late a sample may come and still reach the rollups by itself
CATCH_UP = timedelta(hours=12)  # the longest period one round rolls up (10-20 s on DuckDB at 500 stations)
EXPIRE_EVERY = timedelta(hours=1)
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Round:
    """What one run did: the period rolled up and the rows written; rows expired (None:
    expiry was not due)."""

    start: datetime
    end: datetime
    rolled_up: int
    expired: int | None


class StoreMaintenance:
    """Not thread-safe: one chore calls ``run_once``; the store's own calls may run beside
    writers and readers."""

    def __init__(self, store: TimeSeriesStore, retention: RetentionSettings, *,
                 catch_up: timedelta = CATCH_UP) -> None:
        self._store = store
        self._retention = retention
        self._catch_up = catch_up
        self._expired_at: datetime | None = None  # in this process: the first round expires

    def run_once(self, now: datetime) -> Round:
        """Roll up what is due, then expire if an hour has passed since the last expiry.
        A TimeSeriesError ends the round (the chore logs it, the next round starts over)."""
        now = require_utc(now)
        end = grid_floor(now, MINUTE)
        raw_kept_from = now - timedelta(days=self._retention.raw_days)
        watermark = self._store.rollup_watermark()
        # From the hour, so every hour the late samples land in is recomputed whole.
        start = grid_floor(raw_kept_from if watermark is None else min(watermark, end) - LATE, HOUR)
        end = min(end, start + self._catch_up)
        rolled = self._store.roll_up(start=start, end=end)
        log.debug("store maintenance: rolled up [%s, %s): %d row(s)", start, end, rolled)
        expired = None
        if self._expired_at is None or now - self._expired_at >= EXPIRE_EVERY:
            expired = self._expire(now, raw_kept_from)
            self._expired_at = now
        return Round(start=start, end=end, rolled_up=rolled, expired=expired)

    def _expire(self, now: datetime, raw_kept_from: datetime) -> int:
        # Raw samples are never expired before they are rolled up (a store still catching up).
        watermark = self._store.rollup_watermark()
        raw_before = _NEVER if watermark is None else min(raw_kept_from, watermark)
        expired = self._store.expire(raw_before=raw_before,
                                     minute_before=now - timedelta(days=self._retention.minute_days),
                                     hour_before=now - timedelta(days=self._retention.hour_days))
        if expired:
            log.info("store maintenance: %d row(s) past their retention deleted", expired)
        return expired
