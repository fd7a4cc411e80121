"""The embedded time-series store: one DuckDB file (or ":memory:") per deployment.

Schema choices (measured on 3M rows, 500 stations x 14 channels, 2 cores):
- No index on `samples`. DuckDB prunes scans with zone maps (min/max per column per row
  group of ~122k rows). Samples arrive in time order, so `ts` zone maps are tight and a
  time-range filter skips every row group outside the window; that is what both the
  per-asset range query and the daily aggregate rely on. `asset_id` zone maps are
  useless (every flush interleaves all stations), and an ART index on
  (asset_id, channel, ts) halved insert speed (2.1M -> 1.0M rows/s) while a one-asset
  range query stayed at ~1.6 ms either way, so there is none. Late back-filled data
  only widens the zone maps of the row groups it lands in.
- `latest` holds the newest sample per (asset, channel), upserted in the same
  transaction as the insert: the live view reads a few thousand rows instead of
  scanning history for arg_max. It is the dearest step of a write (1.5M rows/s against
  2.7M for building the numpy columns and 3M for the insert): write() end to end, from
  Sample objects to a committed file, does ~550k rows/s; stations produce ~1.4k/s.
- `ts` is a plain TIMESTAMP holding UTC. TIMESTAMPTZ would make DuckDB convert through
  the connection's TimeZone setting on every read; we attach UTC ourselves instead.
- `value` NULL means "no value": DuckDB's numpy scan turns NaN into NULL (pandas
  semantics), so a COMM_ERROR sample's NaN is stored as NULL and read back as NaN.
  Aggregates skip NULLs, which is what "good samples only" needs anyway.

Threads: DuckDB 2.0 refuses a second call on a connection that is busy ("connection is
busy with another call"), so each call takes its own cursor (a duplicate connection on
the same database, ~3 us to create); API readers never queue behind the writer, and
DuckDB's MVCC gives each statement a consistent snapshot. Writes are serialised by a
lock because two concurrent `latest` upserts on the same keys would abort with a
transaction conflict.

Only one process may hold a DuckDB file open for writing.

Rollups and expiry (SQL in storage/duckdb_rollups.py): `samples_1m` and `samples_1h` hold
count, min, max and sum of good samples per series and minute (hour); `buckets` reads them
when its grid allows. Measured by bench/bench_rollups.py, 500 stations x 14 channels at 5 s
(5.04 M samples an hour), a file holding 26 h, 2 cores shared with other work:
- roll_up of one hour: 0.5-1.4 s over five runs (427k minute rows, 7k hour rows);
  recomputing it costs about the same; the maintenance chore's round every 5 min (the last
  ~2 h again): 1.3-2.5 s; catching up 23 h at once: 18-43 s.
- one series' day chart in 4-minute buckets: 9-22 ms from the minute rollup, 365-790 ms
  from raw samples (a day is 121 M rows). Rollup rows are inserted sorted by series, so
  `asset_id` zone maps skip most row groups (unsorted: 73 ms).
- expire of one day of raw samples (121 M rows): 0.5-0.9 s. The file does not shrink: the
  freed blocks are reused by later writes (PRAGMA database_size: used blocks fell from 1,085
  to 255, and re-adding data used free ones), so it levels off at `raw_days` of samples plus
  the rollups. Rolling the same hours up again every 5 min levels off too (40 rounds).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from sitewatch.domain.samples import ChannelStats, Quality, Sample, SampleBlock, SampleList
from sitewatch.domain.time import UTC, require_utc
from sitewatch.storage import duckdb_rollups as rollups
from sitewatch.storage.duckdb_export import export_snapshot
from sitewatch.storage.duckdb_rollups import GOOD as _GOOD
from sitewatch.storage.timeseries import Bucket, TimeSeriesError

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS samples (
        ts       TIMESTAMP NOT NULL,  -- UTC
        asset_id VARCHAR   NOT NULL,
        channel  VARCHAR   NOT NULL,
        value    DOUBLE,              -- NULL: no value (NaN on the way in and out)
        unit     VARCHAR   NOT NULL,
        quality  UTINYINT  NOT NULL   -- sitewatch.domain.samples.Quality
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS latest (
        asset_id VARCHAR   NOT NULL,
        channel  VARCHAR   NOT NULL,
        ts       TIMESTAMP NOT NULL,
        value    DOUBLE,
        unit     VARCHAR   NOT NULL,
        quality  UTINYINT  NOT NULL,
        PRIMARY KEY (asset_id, channel)
    )
    """,
)

_COLUMNS = "ts, asset_id, channel, value, unit, quality"

# A batch may hold several samples of one series: keep its newest, and only replace a
# stored row that is not newer (a late back-fill must not hide the live value). Reads
# ``newest``: the batch, or what _newest keeps of a SampleList.
_UPSERT_LATEST = """
    INSERT INTO latest (asset_id, channel, ts, value, unit, quality)
    SELECT asset_id, channel, ts, value, unit, quality FROM newest
    {one_per_series}
    ON CONFLICT (asset_id, channel) DO UPDATE SET
        ts = excluded.ts, value = excluded.value,
        unit = excluded.unit, quality = excluded.quality
    WHERE excluded.ts >= latest.ts
"""
_UPSERT_ANY = _UPSERT_LATEST.format(
    one_per_series="QUALIFY row_number() OVER (PARTITION BY asset_id, channel ORDER BY ts DESC) = 1")
# When ``newest`` holds one row per series at most: the window above costs more than the
# rest of the upsert (~4 ms a flush of 500 stations), and Modbus flushes are such.
_UPSERT_ONE_EACH = _UPSERT_LATEST.format(one_per_series="")

# One scan, grouped by series *and* goodness, then folded per series: ~1.8x less CPU than
# one GROUP BY with a FILTER on every aggregate (bench/bench_review.py, 69 M rows: 4.1-4.4
# against 7.1-8.8 CPU-seconds), since each row feeds plain aggregates once. At most one
# "good" group exists per series, so max(...) FILTER (WHERE good) just picks it.
#
# The mean must not depend on thread scheduling: avg(DOUBLE) sums in whatever order the
# threads finish, so the same day gave a different last bit from run to run (5 runs, 5
# different results over 800 series), and a signed daily review must be reproducible to
# the bit. Each value is taken as DECIMAL(38, 12) instead, summed exactly (a 128-bit
# integer) and divided once: the same mean every time, each value rounded to 1e-12 on the
# way, no slower than avg(DOUBLE). A value of 1e26 or more (never a real reading) cannot be
# cast: that query is then run again with the plain average ({mean}).
_EXACT_MEAN = "avg(value::DECIMAL(38, 12))"
_PLAIN_MEAN = "avg(value)"

# {where_assets} and {mean} are filled per call (an f-string builds the rest once).
_AGGREGATE = f"""
    WITH parts AS (
        SELECT asset_id, channel, ({_GOOD}) AS good,
            arg_max(unit, ts) AS unit, max(ts) AS newest, count(*) AS n,
            min(value) AS lo, max(value) AS hi, {{mean}} AS mean, arg_max(value, ts) AS last
        FROM samples
        WHERE ts >= $start AND ts < $end {{where_assets}}
        GROUP BY asset_id, channel, good
    )
    SELECT asset_id, channel,
        arg_max(unit, newest),
        coalesce(sum(n) FILTER (WHERE good), 0),
        max(lo)     FILTER (WHERE good),
        max(hi)     FILTER (WHERE good),
        max(mean)   FILTER (WHERE good),
        max(last)   FILTER (WHERE good),
        max(newest) FILTER (WHERE good)
    FROM parts
    GROUP BY asset_id, channel
    ORDER BY asset_id, channel
"""

_IN_ASSETS = "list_contains($asset_ids::VARCHAR[], asset_id)"

# A chart's points: the plain (thread-order dependent) mean is fine for drawing.
_BUCKETS = f"""
    SELECT time_bucket(to_microseconds($width_us), ts, $start::TIMESTAMP) AS bucket,
        count(*), min(value), max(value), avg(value)
    FROM samples
    WHERE asset_id = $asset_id AND channel = $channel AND ts >= $start AND ts < $end AND {_GOOD}
    GROUP BY bucket
    ORDER BY bucket
"""


class DuckDBStore:
    """TimeSeriesStore on DuckDB. Safe to share between a writer and reader threads."""

    def __init__(self, path: str | Path) -> None:
        self._write_lock = threading.Lock()
        # roll_up and expire one at a time (they update the same rollup_spans rows); they
        # never take the write lock: appends to `samples` do not conflict with them.
        self._maintenance_lock = threading.Lock()
        # Calls in progress, so close() waits for them: a shutdown cannot stop a chore's
        # query running in a worker thread, and closing under it fails the whole exit.
        self._calls = threading.Condition()
        self._open_calls = 0
        try:
            self._con = duckdb.connect(str(path))
            for statement in (*_SCHEMA, *rollups.SCHEMA):
                self._con.execute(statement)
        except duckdb.Error as exc:
            raise TimeSeriesError(f"cannot open DuckDB store {path}: {exc}") from exc

    def write(self, samples: Sequence[Sample] | SampleList) -> int:
        """Samples, or a SampleList (what the bus drains), whose blocks' columns go in as they are."""
        if not samples:
            return 0
        batch = _columns(samples)
        newest, upsert = batch, _UPSERT_ANY
        if type(samples) is SampleList:
            kept, one_each = _newest(samples)
            newest, upsert = _columns(kept), _UPSERT_ONE_EACH if one_each else _UPSERT_ANY
        with self._write_lock, self._cursor() as cur:
            cur.register("batch", batch)
            cur.register("newest", newest)
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f"INSERT INTO samples ({_COLUMNS}) SELECT {_COLUMNS} FROM batch")
                cur.execute(upsert)
            except duckdb.Error:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        return len(batch["value"])

    def query(
        self,
        *,
        asset_id: str,
        start: datetime,
        end: datetime,
        channel: str | None = None,
        limit: int | None = None,
    ) -> list[Sample]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        params: dict[str, object] = {
            "asset_id": asset_id,
            "start": _naive_utc(start),
            "end": _naive_utc(end),
        }
        sql = f"SELECT {_COLUMNS} FROM samples WHERE asset_id = $asset_id AND ts >= $start AND ts < $end"
        if channel is not None:
            sql += " AND channel = $channel"
            params["channel"] = channel
        sql += " ORDER BY ts, channel"
        if limit is not None:
            sql += " LIMIT $limit"
            params["limit"] = limit
        with self._cursor() as cur:
            rows = cur.execute(sql, params).fetchall()
        return [_sample(row) for row in rows]

    def latest(self, *, asset_ids: Sequence[str] | None = None) -> list[Sample]:
        if asset_ids is not None and not asset_ids:
            return []
        sql = f"SELECT {_COLUMNS} FROM latest"
        params: dict[str, object] = {}
        if asset_ids is not None:
            sql += f" WHERE {_IN_ASSETS}"
            params["asset_ids"] = list(asset_ids)
        sql += " ORDER BY asset_id, channel"
        with self._cursor() as cur:
            rows = cur.execute(sql, params).fetchall()
        return [_sample(row) for row in rows]

    def aggregate(
        self,
        *,
        start: datetime,
        end: datetime,
        asset_ids: Sequence[str] | None = None,
    ) -> list[ChannelStats]:
        params: dict[str, object] = {"start": _naive_utc(start), "end": _naive_utc(end)}
        if asset_ids is not None and not asset_ids:
            return []
        where_assets = ""
        if asset_ids is not None:
            where_assets = f"AND {_IN_ASSETS}"
            params["asset_ids"] = list(asset_ids)
        with self._cursor() as cur:
            try:
                rows = cur.execute(_AGGREGATE.format(where_assets=where_assets, mean=_EXACT_MEAN), params).fetchall()
            except (duckdb.ConversionException, duckdb.OutOfRangeException):
                rows = cur.execute(_AGGREGATE.format(where_assets=where_assets, mean=_PLAIN_MEAN), params).fetchall()
        return [_stats(row) for row in rows]

    def buckets(
        self,
        *,
        asset_id: str,
        channel: str,
        start: datetime,
        end: datetime,
        width_s: float,
    ) -> list[Bucket]:
        width_us = round(width_s * 1e6)
        if width_us <= 0:
            raise ValueError(f"width_s must be positive, got {width_s}")
        params: dict[str, object] = {"asset_id": asset_id, "channel": channel, "start": _naive_utc(start),
                                     "end": _naive_utc(end), "width_us": width_us}
        level = rollups.chart_level(timedelta(microseconds=width_us), params["start"])
        with self._cursor() as cur:
            if level is None:
                rows = cur.execute(_BUCKETS, params).fetchall()
            else:
                params["roll_from"], params["roll_to"] = rollups.rollup_range(cur, level, params["start"],
                                                                              params["end"])
                rows = cur.execute(rollups.BUCKETS_FROM.format(table=level.table), params).fetchall()
        return [Bucket(start=b.replace(tzinfo=UTC), count=n, min=lo, max=hi, mean=mean) for b, n, lo, hi, mean in rows]

    def roll_up(self, *, start: datetime, end: datetime) -> int:
        with self._maintenance_lock, self._cursor() as cur:
            return rollups.roll_up(cur, _naive_utc(start), _naive_utc(end))

    def rollup_watermark(self) -> datetime | None:
        with self._cursor() as cur:
            known = rollups.span(cur, rollups.MINUTE_LEVEL)
        return None if known is None or known.covered_to is None else known.covered_to.replace(tzinfo=UTC)

    def expire(self, *, raw_before: datetime, minute_before: datetime, hour_before: datetime) -> int:
        with self._maintenance_lock, self._cursor() as cur:
            return rollups.expire(cur, _naive_utc(raw_before), _naive_utc(minute_before), _naive_utc(hour_before))

    def export(self, folder: Path) -> dict[str, int]:
        """Every table into ``folder`` as of one snapshot, while writes go on (the backup's
        copy, storage/duckdb_export.py); returns each table's row count in that snapshot."""
        with self._cursor() as cur:
            return export_snapshot(cur, folder)

    def close(self) -> None:
        """Closes once the calls in progress (a flush, a query in a worker thread) are done."""
        with self._write_lock, self._calls:
            self._calls.wait_for(lambda: self._open_calls == 0)
            self._con.close()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of our own for one call; duckdb errors become TimeSeriesError."""
        with self._calls:
            try:
                cur = self._con.cursor()
            except duckdb.Error as exc:
                raise TimeSeriesError(f"DuckDB store unavailable: {exc}") from exc
            self._open_calls += 1
        try:
            yield cur
        except duckdb.Error as exc:
            raise TimeSeriesError(f"DuckDB store failed: {exc}") from exc
        finally:
            cur.close()
            with self._calls:
                self._open_calls -= 1
                self._calls.notify_all()


def _columns(samples: Sequence[Sample] | SampleList) -> dict[str, np.ndarray]:
    """Samples, or a SampleList's blocks and Samples, -> numpy columns for one INSERT ... SELECT
    (FIELD-NOTES: executemany is ~1,000x slower). Refuses the whole batch if any timestamp is naive."""
    if type(samples) is SampleList:
        asset_ids, channels, epoch_s, values, units, qualities = _block_columns(samples.items)
    else:
        asset_ids, channels, stamps, values, units, qualities = zip(*samples)
        asset_ids = np.array(asset_ids, dtype=object)
        epoch_s = _epoch_seconds(stamps)
    return {
        "ts": np.round(epoch_s * 1e6).astype(np.int64).view("datetime64[us]"),
        "asset_id": asset_ids,
        "channel": np.array(channels, dtype=object),
        "value": np.array(values, dtype=np.float64),
        "unit": np.array(units, dtype=object),
        "quality": np.array(qualities, dtype=np.uint8),
    }


def _epoch_seconds(stamps: Sequence[datetime]) -> np.ndarray:
    # One poll stamps all its samples with one time: convert each distinct time once.
    epochs: dict[datetime, float] = {}
    for ts in stamps:
        if ts not in epochs:
            require_utc(ts)  # raises ValueError naming the offending value
            epochs[ts] = ts.timestamp()
    return np.fromiter(map(epochs.__getitem__, stamps), dtype=np.float64, count=len(stamps))


def _newest(samples: SampleList) -> tuple[SampleList, bool]:
    """What ``latest`` needs of a flush holding several polls of each station: the newest
    block of each asset and channel set (each series a block left out has a newer or as new
    row in the one kept), and the loose Samples; and whether that leaves one row per series
    (no two channel sets of one asset, no loose Sample)."""
    newest: dict[tuple[str, tuple[str, ...]], SampleBlock] = {}
    loose: list[Sample | SampleBlock] = []
    for item in samples.items:
        if type(item) is SampleBlock:
            key = (item.asset_id, item.channels)
            kept = newest.get(key)
            if kept is None or item.ts >= kept.ts:
                newest[key] = item
        else:
            loose.append(item)
    one_each = not loose and len({asset_id for asset_id, _ in newest}) == len(newest)
    return SampleList([*newest.values(), *loose]), one_each


def _block_columns(items: list[Sample | SampleBlock]) -> tuple[np.ndarray, list, np.ndarray, list, list, np.ndarray]:
    """The columns of blocks and loose Samples. A block's asset and time are taken once and
    repeated by numpy over its rows (each time converted once); the qualities are an array,
    mostly zeros (GOOD), set only where not."""
    run_assets: list[str] = []  # per block (or loose Sample): its asset, epoch seconds, rows
    run_epochs: list[float] = []
    run_rows: list[int] = []
    channels: list[str] = []
    values: list[float] = []
    units: list[str] = []
    other: list[tuple[int, int, Sequence[Quality]]] = []  # (from, to, qualities) of rows not all GOOD
    good = Quality.GOOD
    for item in items:
        if type(item) is SampleBlock:
            n = len(item.channels)
            ts = item.ts
            if ts.tzinfo is not UTC:
                require_utc(ts)  # raises ValueError naming a naive time
            if item.qualities.count(good) != n:
                other.append((len(values), len(values) + n, item.qualities))
            run_assets.append(item.asset_id)
            run_epochs.append(ts.timestamp())
            run_rows.append(n)
            channels += item.channels
            values += item.values
            units += item.units
        else:
            asset_id, channel, ts, value, unit, quality = item  # type: ignore[misc]
            if ts.tzinfo is not UTC:
                require_utc(ts)
            if quality is not good:
                other.append((len(values), len(values) + 1, (quality,)))
            run_assets.append(asset_id)
            run_epochs.append(ts.timestamp())
            run_rows.append(1)
            channels.append(channel)
            values.append(value)
            units.append(unit)
    rows = np.array(run_rows, dtype=np.int64)
    qualities = np.zeros(len(values), dtype=np.uint8)  # Quality.GOOD is 0
    for start, stop, quality in other:
        qualities[start:stop] = quality
    return (np.repeat(np.array(run_assets, dtype=object), rows), channels,
            np.repeat(np.array(run_epochs, dtype=np.float64), rows), values, units, qualities)


def _naive_utc(ts: datetime) -> datetime:
    return require_utc(ts).replace(tzinfo=None)


def _nan_if_null(value: float | None) -> float:
    return math.nan if value is None else value


def _sample(row: tuple) -> Sample:
    ts, asset_id, channel, value, unit, quality = row
    return Sample(
        asset_id=asset_id,
        channel=channel,
        ts=ts.replace(tzinfo=UTC),
        value=_nan_if_null(value),
        unit=unit,
        quality=Quality(quality),
    )


def _stats(row: tuple) -> ChannelStats:
    asset_id, channel, unit, count, lo, hi, mean, last, last_ts = row
    return ChannelStats(
        asset_id=asset_id,
        channel=channel,
        unit=unit,
        count=count,
        min=_nan_if_null(lo),
        max=_nan_if_null(hi),
        mean=_nan_if_null(mean),
        last=_nan_if_null(last),
        last_ts=None if last_ts is None else last_ts.replace(tzinfo=UTC),
    )
