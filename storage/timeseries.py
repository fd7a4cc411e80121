"""The narrow interface every time-series backend implements (DuckDB today, InfluxDB later).

Methods are synchronous: callers (the flush worker, API routes) run them in a thread.
Every datetime going in must be timezone-aware (naive ones raise ValueError); every
datetime coming out is aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.samples import ChannelStats, Sample


class TimeSeriesError(Exception):
    """The backend failed (file locked by another process, disk full, store closed...).

    Backends translate their library's exceptions into this one, so callers never
    import duckdb or influxdb_client to catch errors.
    """


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

    def close(self) -> None: ...
