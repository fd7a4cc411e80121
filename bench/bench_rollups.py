"""What rollups and expiry cost on the embedded store: 500 stations x 14 channels at 5 s.

    python -m bench.bench_rollups [--stations 500] [--channels 14] [--interval-s 5] [--hours 26]

Setup writes --hours of samples (1,400 rows/s at the defaults: 5.04 M an hour, ~121 M a
day) into a DuckDB file with the store's schema, in time order from numpy columns as the
collector's flushes would land, 1 % comm errors (NaN).

Timed, through DuckDBStore:
- roll_up of one hour, the first time (minutes from raw, hours from minutes), then again
  (replacing its rows), then of the rest, then one round of the maintenance chore five
  minutes later (the last 2 h and 5 min rolled up again);
- a chart of one series over the last day in 4-minute buckets (the day view), from raw
  samples (its start a second off the minute grid) against the same from the rollup;
- expire of the first day of raw samples, and the file's size before and after.
The rollup's buckets are checked against numpy over the raw samples of the same range
(count, min, max exactly, mean to 1e-9).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np

from sitewatch.config.storage import RetentionSettings
from sitewatch.domain.time import UTC
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.maintenance import StoreMaintenance
from sitewatch.storage.timeseries import Bucket, grid_floor

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SERIES = ("rs-0123", "ch05_kpa")  # the charted one
T = TypeVar("T")
SLICE_S = 600  # seconds of polls per insert


def generate(path: Path, stations: int, channels: int, interval_s: float, hours: int) -> int:
    DuckDBStore(path).close()  # the store's own schema
    con = duckdb.connect(str(path))
    con.execute("CREATE TEMP TABLE names AS SELECT i::INTEGER AS s, printf('rs-%04d', i) AS asset_id "
                "FROM range(?) t(i)", [stations])
    insert = ("INSERT INTO samples SELECT b.ts, n.asset_id, printf('ch%02d_kpa', b.c), b.value, 'kPa', b.quality "
              "FROM batch b JOIN names n ON n.s = b.s")
    rng = np.random.default_rng(1)
    per_poll = stations * channels
    step_us = int(interval_s * 1e6)
    polls_per_slice = int(SLICE_S / interval_s)
    written = 0
    for first in range(0, int(hours * 3600 / interval_s), polls_per_slice):
        k = np.arange(first, first + polls_per_slice)
        values = rng.normal(2.5, 0.1, size=polls_per_slice * per_poll)
        values[rng.random(values.size) < 0.01] = np.nan
        ts = (int(T0.timestamp() * 1e6) + k * step_us).astype("datetime64[us]")
        batch = {
            "ts": np.repeat(ts, per_poll),
            "s": np.tile(np.repeat(np.arange(stations, dtype=np.int32), channels), polls_per_slice),
            "c": np.tile(np.arange(channels, dtype=np.int32), polls_per_slice * stations),
            "value": values,
            "quality": np.isnan(values).astype(np.uint8),
        }
        con.register("batch", batch)
        con.execute(insert)
        con.unregister("batch")
        written += values.size
    con.close()
    return written


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_timed(fn: Callable[[], T], repeat: int = 5) -> tuple[float, T]:
    runs = [timed(fn) for _ in range(repeat)]
    return statistics.median(s for s, _ in runs), runs[-1][1]


def on_server(kind: str, stations: int, channels: int, interval_s: float, hours: int) -> None:
    """The same data written through InfluxStore into a server of its own (tests/servers.py
    starts Debian's binary), then one hour rolled up, then one round of the chore."""
    from sitewatch.config.storage import InfluxSettings
    from sitewatch.domain.samples import Sample
    from sitewatch.domain.time import SystemClock
    from sitewatch.storage.influx import connect
    from tests.servers import InfluxDB, VictoriaMetrics

    with tempfile.TemporaryDirectory(prefix="bench_rollups_") as folder:
        server = (VictoriaMetrics if kind == "victoriametrics" else InfluxDB)(Path(folder))
        with server:
            if kind == "victoriametrics":
                settings = InfluxSettings(url=server.url, reader="victoriametrics")
            else:
                server.query('CREATE DATABASE "sitewatch"')
                settings = InfluxSettings(url=server.url, write_api="v1", reader="influxql")
            store = connect(settings, credentials=None, site_of={}, lookback=timedelta(days=3650), clock=SystemClock())
            names = [(f"rs-{s:04d}", f"ch{c:02d}_kpa") for s in range(stations) for c in range(channels)]
            rng = np.random.default_rng(1)
            started = time.perf_counter()
            polls = int(hours * 3600 / interval_s)
            for k in range(polls):
                ts = T0 + timedelta(seconds=k * interval_s)
                store.write([Sample(a, c, ts, float(v), "kPa") for (a, c), v in zip(names, rng.normal(2.5, 0.1, len(names)))])
            print(f"setup: {polls * len(names):,} samples into {kind} in {time.perf_counter() - started:.1f} s")
            if kind == "victoriametrics":
                server.force_flush()
            s, n = timed(lambda: store.roll_up(start=T0, end=T0 + timedelta(hours=1)))
            print(f"roll_up of one hour: {s:6.2f} s, {n:,} rows written")
            now = T0 + timedelta(hours=hours, minutes=-1)
            maintenance = StoreMaintenance(store, RetentionSettings())
            for label, at in (("the chore's round", now), ("its next round, 5 min later", now + timedelta(minutes=5))):
                s, done = timed(lambda at=at: maintenance.run_once(at))
                print(f"{label}, rolling up {(done.end - done.start) / timedelta(hours=1):.2f} h: {s:6.2f} s, "
                      f"{done.rolled_up:,} rows written")
            store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--channels", type=int, default=14)
    parser.add_argument("--interval-s", type=float, default=5.0)
    parser.add_argument("--hours", type=int, default=26)
    parser.add_argument("--server", choices=("victoriametrics", "influxql"), default=None,
                        help="measure on this server instead (InfluxStore; --hours 3 is plenty)")
    args = parser.parse_args(argv)
    if args.server is not None:
        on_server(args.server, args.stations, args.channels, args.interval_s, args.hours)
        return
    hour, day = timedelta(hours=1), timedelta(days=1)
    end = T0 + args.hours * hour
    with tempfile.TemporaryDirectory(prefix="bench_rollups_") as folder:
        path = Path(folder) / "samples.duckdb"
        gen_s, rows = timed(lambda: generate(path, args.stations, args.channels, args.interval_s, args.hours))
        print(f"setup: {rows:,} rows over {args.hours} h in {gen_s:.1f} s; file {path.stat().st_size / 1e9:.2f} GB")
        store = DuckDBStore(path)
        try:
            first = end - 3 * hour
            s, n = timed(lambda: store.roll_up(start=first, end=first + hour))
            print(f"roll_up of one hour, first time:   {s:6.2f} s, {n:,} rows written")
            s, n = timed(lambda: store.roll_up(start=first, end=first + hour))
            print(f"roll_up of one hour, recomputed:   {s:6.2f} s, {n:,} rows written")
            s, n = timed(lambda: store.roll_up(start=T0, end=first))
            print(f"roll_up of the {args.hours - 3} h before it:        {s:6.2f} s, {n:,} rows written")
            # The chore five minutes after that: rolls up from 2 h before the watermark (to the
            # hour) to now (its first round also expires: nothing is past the retention here).
            now = store.rollup_watermark() + timedelta(minutes=5, seconds=30)
            s, done = timed(lambda: StoreMaintenance(store, RetentionSettings()).run_once(now))
            print(f"the chore's round, rolling up {(done.end - done.start) / hour:.2f} h: {s:6.2f} s, "
                  f"{done.rolled_up:,} rows written")

            def chart(start: datetime) -> list[Bucket]:
                return store.buckets(asset_id=SERIES[0], channel=SERIES[1], start=start, end=now, width_s=240)

            on_grid = grid_floor(now - day, timedelta(minutes=4))  # on the minute grid: the rollup
            raw_s, raw = median_timed(lambda: chart(on_grid + timedelta(seconds=1)))  # off the minute grid: raw
            roll_s, rolled = median_timed(lambda: chart(on_grid))
            check_same(store, on_grid, now, rolled)
            print(f"day chart, 4-min buckets (median of 5): raw {raw_s * 1000:6.1f} ms, rollup {roll_s * 1000:6.1f} ms "
                  f"({len(raw)} / {len(rolled)} points)")

            before = path.stat().st_size
            s, n = timed(lambda: store.expire(raw_before=T0 + day, minute_before=T0, hour_before=T0))
            print(f"expire of one day of raw samples: {s:6.2f} s, {n:,} rows deleted; "
                  f"file {before / 1e9:.2f} -> {path.stat().st_size / 1e9:.2f} GB (freed blocks are reused)")
        finally:
            store.close()


def check_same(store: DuckDBStore, start: datetime, end: datetime, rolled: list[Bucket]) -> None:
    """The rollup's day chart against the same chart computed by numpy from raw samples."""
    good = [s for s in store.query(asset_id=SERIES[0], channel=SERIES[1], start=start, end=end) if s.is_good]
    index = np.array([(s.ts - start) // timedelta(minutes=4) for s in good])
    values = np.array([s.value for s in good])
    expected = [(start + k * timedelta(minutes=4), values[index == k]) for k in np.unique(index)]
    assert len(expected) == len(rolled), (len(expected), len(rolled))
    for (at, v), got in zip(expected, rolled, strict=True):
        assert (at, v.size, v.min(), v.max()) == (got.start, got.count, got.min, got.max), (at, got)
        assert abs(v.mean() - got.mean) <= 1e-9 * abs(v.mean()), (v.mean(), got.mean)


if __name__ == "__main__":
    main()
