"""The time-series backends the contract runs on, and how a test opens each.

A backend opens "the store kept under a folder": called twice with the same folder it must
reopen the same data. The server backends keep tests apart by measurement name (derived
from the folder), on the session's shared server (tests/servers.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sitewatch.config.storage import InfluxSettings
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import SystemClock
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.influx import InfluxStore, RetryPolicy, connect
from sitewatch.storage.timeseries import TimeSeriesStore

# Contract data is in March 2026: latest() must look back that far whatever today is.
LOOKBACK = timedelta(days=3650)
SITES = {"rs-1": "north", "rs-2": "south"}


@dataclass(frozen=True, slots=True)
class Backend:
    id: str
    open: Callable[[pytest.FixtureRequest, Path], TimeSeriesStore]
    resolution: timedelta  # times come back truncated to this
    # Readers never see part of a batch. InfluxDB-protocol servers commit per request
    # (VictoriaMetrics per buffer flush), and the store splits a write into requests.
    atomic_batches: bool = True


class FlushingStore:
    """Test-only wrapper: VictoriaMetrics makes points searchable when its in-memory buffer is
    flushed (~1 s); flushing after each write lets the next read see it now. Production
    readers live with the lag."""

    def __init__(self, store: InfluxStore, flush: Callable[[], None]) -> None:
        self._store = store
        self._flush = flush

    def write(self, samples: Sequence[Sample]) -> int:
        written = self._store.write(samples)
        self._flush()
        return written

    def roll_up(self, **period: datetime) -> int:
        written = self._store.roll_up(**period)  # rollup rows are written like samples
        self._flush()
        return written

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def measurement_for(folder: Path) -> str:
    return "t" + hashlib.sha1(str(folder).encode()).hexdigest()[:12]


def victoria_settings(url: str, folder: Path) -> InfluxSettings:
    return InfluxSettings(url=url, write_api="v2", reader="victoriametrics", measurement=measurement_for(folder))


def influxql_settings(url: str, folder: Path) -> InfluxSettings:
    return InfluxSettings(url=url, write_api="v1", reader="influxql", database="sitewatch",
                          measurement=measurement_for(folder))


def open_influx(settings: InfluxSettings) -> InfluxStore:
    return connect(settings, credentials=None, site_of=SITES, lookback=LOOKBACK, clock=SystemClock(),
                   retry=RetryPolicy(attempts=2, backoff_s=0.05))


def _victoria(request: pytest.FixtureRequest, folder: Path) -> TimeSeriesStore:
    server = request.getfixturevalue("victoria_metrics")
    return FlushingStore(open_influx(victoria_settings(server.url, folder)), server.force_flush)


def _influxql(request: pytest.FixtureRequest, folder: Path) -> TimeSeriesStore:
    return open_influx(influxql_settings(request.getfixturevalue("influxdb").url, folder))


BACKENDS = [
    Backend("duckdb", lambda _request, folder: DuckDBStore(folder / "samples.duckdb"), timedelta(microseconds=1)),
    Backend("victoriametrics", _victoria, InfluxStore.time_resolution, atomic_batches=False),
    Backend("influxql", _influxql, InfluxStore.time_resolution, atomic_batches=False),
]
