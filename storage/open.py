"""Opening the configured time-series store: the embedded DuckDB file or an
InfluxDB-protocol server (``[storage] timeseries``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

from sitewatch.config.storage import StorageSettings
from sitewatch.domain.time import Clock, SystemClock
from sitewatch.storage.timeseries import TimeSeriesStore


def open_timeseries(settings: StorageSettings, *, data_dir: Path, site_of: Mapping[str, str],
                    secret: Callable[[str], tuple[str, str]] | None, clock: Clock | None = None) -> TimeSeriesStore:
    """``site_of``: asset id -> site id (the site tag); ``secret``: the vault's lookup of a
    credential name -> (username, password), None when there is no vault. ``clock`` is
    what latest() counts its look-back from (the raw retention)."""
    if settings.timeseries == "duckdb":
        from sitewatch.storage.duckdb_store import DuckDBStore

        return DuckDBStore(data_dir / settings.timeseries_path)
    from sitewatch.storage.influx import connect

    influx = settings.influx
    assert influx is not None  # StorageSettings refuses timeseries = "influx" without it
    credentials = None
    if influx.credential is not None:
        if secret is None:
            raise ValueError(f"[storage.influx] credential = {influx.credential!r} needs the vault, and there is none")
        credentials = secret(influx.credential)
    return connect(influx, credentials=credentials, site_of=site_of,
                   lookback=timedelta(days=settings.retention.raw_days), clock=clock or SystemClock())
