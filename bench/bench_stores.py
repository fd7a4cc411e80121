"""Which embedded store holds the samples: SQLite vs DuckDBStore on the same rows and query.

    python -m bench.bench_stores [--rows 1000000] [--stations 500] [--channels 14]

Both sides start from the same Sample objects (the collector's output) and write them in
batches of --batch rows: SQLite in WAL mode with executemany, one transaction per batch,
with the (asset_id, channel, ts) index in place; DuckDB through DuckDBStore.write. Rounds
of one sample per channel are spread over two days (1 % comm errors with NaN), and both
run the daily-review aggregate over the first day: per asset and channel, count, min,
max, mean and last of the good samples, as ChannelStats. The two results must agree.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from sitewatch.domain.samples import ChannelStats, Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.duckdb_store import DuckDBStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

_SQLITE_SCHEMA = """
    CREATE TABLE samples (ts INTEGER NOT NULL, asset_id TEXT NOT NULL, channel TEXT NOT NULL,
                          value REAL, unit TEXT NOT NULL, quality INTEGER NOT NULL);
    CREATE INDEX ix_samples_series ON samples (asset_id, channel, ts);
"""

# Same semantics as DuckDBStore.aggregate: SQLite stores NaN as NULL too; "last" is the
# good value at the newest good ts, found through the series index.
_SQLITE_AGGREGATE = """
    WITH stats AS (
        SELECT asset_id, channel, max(unit) AS unit,
            count(*)   FILTER (WHERE quality = 0 AND value IS NOT NULL) AS n,
            min(value) FILTER (WHERE quality = 0) AS lo,
            max(value) FILTER (WHERE quality = 0) AS hi,
            avg(value) FILTER (WHERE quality = 0) AS mean,
            max(ts)    FILTER (WHERE quality = 0 AND value IS NOT NULL) AS last_ts
        FROM samples WHERE ts >= ? AND ts < ?
        GROUP BY asset_id, channel
    )
    SELECT stats.asset_id, stats.channel, stats.unit, n, lo, hi, mean, s.value, stats.last_ts
    FROM stats LEFT JOIN samples AS s
        ON s.asset_id = stats.asset_id AND s.channel = stats.channel
        AND s.ts = stats.last_ts AND s.quality = 0
    ORDER BY stats.asset_id, stats.channel
"""


def make_samples(rows: int, stations: int, channels: int) -> list[Sample]:
    per_round = stations * channels
    rounds = max(1, rows // per_round)
    step_s = 2 * DAY.total_seconds() / rounds
    rng = np.random.default_rng(1)
    values = rng.normal(2.5, 0.1, rounds * per_round)
    comm_error = rng.random(rounds * per_round) < 0.01
    names = [(f"rs-{s:04d}", f"ch{c:02d}_kpa") for s in range(stations) for c in range(channels)]
    samples = []
    for r in range(rounds):
        ts = T0 + timedelta(seconds=r * step_s)
        for k, (asset_id, channel) in enumerate(names):
            i = r * per_round + k
            if comm_error[i]:
                samples.append(Sample(asset_id, channel, ts, math.nan, "kPa", Quality.COMM_ERROR))
            else:
                samples.append(Sample(asset_id, channel, ts, float(values[i]), "kPa"))
    return samples


def _micros(ts: datetime) -> int:
    return round(ts.timestamp() * 1e6)


def sqlite_write(con: sqlite3.Connection, samples: Sequence[Sample], batch: int) -> None:
    for start in range(0, len(samples), batch):
        rows = [
            (_micros(s.ts), s.asset_id, s.channel, s.value, s.unit, int(s.quality))
            for s in samples[start : start + batch]
        ]
        with con:  # one transaction per batch
            con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)


def sqlite_aggregate(con: sqlite3.Connection, start: datetime, end: datetime) -> list[ChannelStats]:
    def nan(x: float | None) -> float:
        return math.nan if x is None else x

    return [
        ChannelStats(
            asset_id=a, channel=c, unit=u, count=n, min=nan(lo), max=nan(hi), mean=nan(mean), last=nan(last),
            last_ts=None if last_ts is None else T0 + timedelta(microseconds=last_ts - _micros(T0)),
        )
        for a, c, u, n, lo, hi, mean, last, last_ts in con.execute(_SQLITE_AGGREGATE, (_micros(start), _micros(end)))
    ]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeat)) * 1000


def check_agree(a: list[ChannelStats], b: list[ChannelStats]) -> None:
    assert len(a) == len(b), (len(a), len(b))
    for x, y in zip(a, b):
        assert (x.asset_id, x.channel, x.count, x.last_ts) == (y.asset_id, y.channel, y.count, y.last_ts), (x, y)
        if x.count:
            assert math.isclose(x.mean, y.mean, rel_tol=1e-9) and x.last == y.last, (x, y)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--channels", type=int, default=14)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per write / transaction")
    parser.add_argument("--repeat", type=int, default=5, help="aggregate runs (median reported)")
    args = parser.parse_args(argv)

    samples = make_samples(args.rows, args.stations, args.channels)
    n = len(samples)
    start, end = T0, T0 + DAY
    with tempfile.TemporaryDirectory(prefix="bench_stores_") as folder:
        con = sqlite3.connect(Path(folder) / "samples.sqlite")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.executescript(_SQLITE_SCHEMA)
        sqlite_s, _ = timed(lambda: sqlite_write(con, samples, args.batch))
        sqlite_result = sqlite_aggregate(con, start, end)
        sqlite_ms = median_ms(lambda: sqlite_aggregate(con, start, end), args.repeat)
        con.close()

        store = DuckDBStore(Path(folder) / "samples.duckdb")
        try:
            duck_s, _ = timed(
                lambda: [store.write(samples[i : i + args.batch]) for i in range(0, n, args.batch)]
            )
            duck_result = store.aggregate(start=start, end=end)
            duck_ms = median_ms(lambda: store.aggregate(start=start, end=end), args.repeat)
        finally:
            store.close()

    check_agree(sqlite_result, duck_result)
    in_window = sum(s.count for s in duck_result)
    print(f"stores: {n:,} rows ({args.stations} stations x {args.channels} channels), batches of {args.batch:,}")
    print(f"aggregate: {len(duck_result):,} series, {in_window:,} good rows in the day")
    print(f"SQLite write:  {n / sqlite_s:12,.0f} rows/s  ({sqlite_s:.2f} s)   aggregate {sqlite_ms:8.1f} ms")
    print(f"DuckDB write:  {n / duck_s:12,.0f} rows/s  ({duck_s:.2f} s)   aggregate {duck_ms:8.1f} ms")
    print(f"SQLite time / DuckDB time: write {sqlite_s / duck_s:.1f}x, aggregate {sqlite_ms / duck_ms:.1f}x")


if __name__ == "__main__":
    main()
