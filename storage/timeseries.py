"""The narrow interface every time-series backend implements (DuckDB today, InfluxDB later).

Methods are synchronous: callers (the flush worker, API routes) run them in a thread.
Every datetime going in must be timezone-aware (naive ones raise ValueError); every
datetime coming out is aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sitewatch.domain.samples import ChannelStats, Sample
from sitewatch.domain.time import UTC


class TimeSeriesError(Exception):
    """The backend failed (file locked by another process, disk full, store closed...).

    Backends translate their library's exceptions into this one, so callers never
    import duckdb or influxdb_client to catch errors.
    """


@dataclass(frozen=True, slots=True)
class Bucket:
    """Good samples of one series within [start, start + width): a chart's point."""

    start: datetime
    count: int
    min: float
    max: float
    mean: float


class TimeSeriesStore(Protocol):
    def write(self, samples: Sequence[Sample]) -> int:
        """Store a batch (thousands per call are expected); returns the rows written.

        Samples of any quality are stored, NaN values included, so gaps stay visible.
        """
        ...

    def query(
        self,
        *,
        asset_id: str,
        start: datetime,
        end: datetime,
        channel: str | None = None,
        limit: int | None = None,
    ) -> list[Sample]:
        """Samples of one asset with start <= ts < end, ordered by ts then channel."""
        ...

    def latest(self, *, asset_ids: Sequence[str] | None = None) -> list[Sample]:
        """The newest sample per (asset, channel), whatever its quality; None = all assets."""
        ...

    def aggregate(
        self,
        *,
        start: datetime,
        end: datetime,
        asset_ids: Sequence[str] | None = None,
    ) -> list[ChannelStats]:
        """Per asset and channel over start <= ts < end, counting good samples only.

        A channel with only bad samples in the window appears with count 0, NaN
        min/max/mean/last and last_ts None. Ordered by asset, then channel.
        """
        ...

    def buckets(
        self,
        *,
        asset_id: str,
        channel: str,
        start: datetime,
        end: datetime,
        width_s: float,
    ) -> list[Bucket]:
        """One series over start <= ts < end in buckets of ``width_s`` seconds from ``start``,
        good samples only, ordered by time; a bucket without any is absent (a gap). One scan,
        for charts: a month of a 5 s poll is 518k samples, drawn as ~360 buckets.

        Reads the coarsest rollup that fits (see ``roll_up``): the 1-hour rollup when
        ``width_s`` is a multiple of 3600 and ``start`` is on the UTC hour grid, else the
        1-minute rollup when ``width_s`` is a multiple of 60 and ``start`` is on the minute
        grid, else raw samples. The answer is the one raw samples give (count, min and max
        exactly, mean to ~1e-9 relative) wherever the rollup covers the range; the part of
        the range the rollup does not cover yet (before its first or after its last
        ``roll_up``, the last minutes before now) is read from raw samples, so a chart up to
        now is whole. Where raw samples were expired, only the rollup can answer."""
        ...

    def roll_up(self, *, start: datetime, end: datetime) -> int:
        """(Re)compute the 1-minute and 1-hour rollups of every series; returns rows written
        (a backend may skip rows a recomputation would not change).

        A rollup row holds, for one series and one whole minute (hour) of the UTC grid, its
        good samples' count, min, max and sum (means combine exactly enough: sum / count),
        and the unit of the newest of them; a minute without good samples has no row. The
        minute rollup is computed from raw samples for the whole minutes within [start,
        end), the hour rollup from the minute rollup for the whole hours within it (a
        partial minute or hour at either edge is left as it is).

        Idempotent: recomputing a period replaces its rows, which is how late or back-filled
        samples are folded in (the maintenance chore recomputes the last two hours and
        more). A level is never recomputed where its source was expired (before the last
        ``expire``'s ``raw_before`` for minutes, ``minute_before`` for hours): what remains
        of it there is kept as it is.

        The store keeps, per level, the span its rollup covers; a call contiguous with (or
        overlapping) that span extends it, a call leaving a gap leaves it unchanged (its
        rows are written, but ``buckets`` keeps reading raw samples there).
        """
        ...

    def rollup_watermark(self) -> datetime | None:
        """Where the 1-minute rollup's covered span ends (a whole minute), None before the
        first ``roll_up``: the chore rolls up from shortly before it."""
        ...

    def expire(self, *, raw_before: datetime, minute_before: datetime, hour_before: datetime) -> int:
        """Delete raw samples with ts < raw_before, 1-minute rollup rows of minutes starting
        before minute_before and 1-hour rows of hours starting before hour_before; returns the
        rows deleted, all levels together. ``latest`` keeps each series' newest sample.

        A backend whose server expires data by its own retention (a retention policy, a
        global retention period) deletes nothing here and returns 0: its documentation
        (storage/README.md) says what the operator sets instead."""
        ...

    def close(self) -> None: ...


MINUTE = timedelta(minutes=1)  # the rollups' steps
HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)


def grid_floor(ts: datetime, step: timedelta) -> datetime:
    """``ts`` down to a multiple of ``step`` since the Unix epoch: the grid rollups and chart
    buckets share. An aware ``ts`` stays aware (any zone: the grid is UTC's), a naive one
    (naive UTC inside a backend) stays naive."""
    return ts - (ts - (_EPOCH if ts.tzinfo is None else _EPOCH_UTC)) % step


def grid_ceil(ts: datetime, step: timedelta) -> datetime:
    down = grid_floor(ts, step)
    return down if down == ts else down + step
