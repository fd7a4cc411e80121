"""The narrow interface every time-series backend implements (DuckDB today, InfluxDB later).

Methods are synchronous: callers (the flush worker, API routes) run them in a thread.
Every datetime going in must be timezone-aware (naive ones raise ValueError); every
datetime coming out is aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.samples import ChannelStats, Sample


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
        for charts: a month of a 5 s poll is 518k samples, drawn as ~360 buckets."""
        ...

    def close(self) -> None: ...
