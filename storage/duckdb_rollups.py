"""The DuckDB store's 1-minute and 1-hour rollups, their use by charts, and expiry.

Tables ``samples_1m`` and ``samples_1h`` hold one row per series and whole minute (hour) of
the UTC grid with good samples in it: count ``n``, ``lo``, ``hi`` and the sum ``total`` (a
mean is total / n, so means of any coarser bucket combine). Minutes come from raw samples,
hours from minutes (60x fewer rows to read). Like ``samples`` they have no index: rows of
one roll-up land together, so ``ts`` zone maps stay tight and prune time ranges.

``rollup_spans`` keeps, per level, the span [covered_from, covered_to) its rollup covers
and the time before which its source was expired (samples for minutes, minutes for
hours): a chart reads the rollup inside the span and raw samples around it, and a level is
never recomputed from a source that is no longer there.

What it costs (bench/bench_rollups.py): storage/duckdb_store.py's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from sitewatch.domain.samples import Quality
from sitewatch.storage.timeseries import HOUR, MINUTE, grid_ceil, grid_floor

GOOD = f"quality = {int(Quality.GOOD)} AND value IS NOT NULL"

_ROLLUP_COLUMNS = """
        ts       TIMESTAMP NOT NULL,  -- UTC, the minute's (hour's) start
        asset_id VARCHAR   NOT NULL,
        channel  VARCHAR   NOT NULL,
        unit     VARCHAR   NOT NULL,  -- of the newest good sample in it
        n        BIGINT    NOT NULL,  -- good samples
        lo       DOUBLE    NOT NULL,
        hi       DOUBLE    NOT NULL,
        total    DOUBLE    NOT NULL   -- their sum: mean = total / n
"""

SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS samples_1m ({_ROLLUP_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS samples_1h ({_ROLLUP_COLUMNS})",
    """
    CREATE TABLE IF NOT EXISTS rollup_spans (
        level                 VARCHAR   PRIMARY KEY,  -- 'minute' | 'hour'
        covered_from          TIMESTAMP,              -- NULL: never rolled up
        covered_to            TIMESTAMP,
        source_expired_before TIMESTAMP               -- NULL: nothing expired yet
    )
    """,
)


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    step: timedelta
    table: str
    source_sql: str  # SELECT ts-of-the-level, asset_id, channel, unit, n, lo, hi, total over [$lo, $hi)


MINUTE_LEVEL = Level("minute", MINUTE, "samples_1m", f"""
    SELECT date_trunc('minute', ts) AS minute, asset_id, channel, arg_max(unit, ts),
        count(*), min(value), max(value), sum(value)
    FROM samples
    WHERE ts >= $lo AND ts < $hi AND {GOOD}
    GROUP BY minute, asset_id, channel
    ORDER BY asset_id, channel, minute
""")
HOUR_LEVEL = Level("hour", HOUR, "samples_1h", """
    SELECT date_trunc('hour', ts) AS hour, asset_id, channel, arg_max(unit, ts),
        sum(n), min(lo), max(hi), sum(total)
    FROM samples_1m
    WHERE ts >= $lo AND ts < $hi
    GROUP BY hour, asset_id, channel
    ORDER BY asset_id, channel, hour
""")
LEVELS = (MINUTE_LEVEL, HOUR_LEVEL)  # finer first: hours are made of the minutes just computed

@dataclass(frozen=True, slots=True)
class Span:
    covered_from: datetime | None  # None (both): never rolled up
    covered_to: datetime | None
    source_expired_before: datetime | None


def span(cur: duckdb.DuckDBPyConnection, level: Level) -> Span | None:
    row = cur.execute("SELECT covered_from, covered_to, source_expired_before FROM rollup_spans WHERE level = $level",
                      {"level": level.name}).fetchone()
    return None if row is None else Span(*row)


def roll_up(cur: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> int:
    """Both levels over the whole minutes (hours) in [start, end) (naive UTC); rows written.
    One transaction per level: a failure leaves the minutes done and the hours as they were."""
    written = 0
    for level in LEVELS:
        lo, hi = grid_ceil(start, level.step), grid_floor(end, level.step)
        known = span(cur, level)
        if known is not None and known.source_expired_before is not None:
            lo = max(lo, grid_ceil(known.source_expired_before, level.step))
        if lo >= hi:
            continue
        params = {"lo": lo, "hi": hi}
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(f"DELETE FROM {level.table} WHERE ts >= $lo AND ts < $hi", params)
            (rows,) = cur.execute(f"INSERT INTO {level.table} {level.source_sql}", params).fetchone()
            _extend(cur, level, known, lo, hi)
        except duckdb.Error:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        written += rows
    return written


def _extend(cur: duckdb.DuckDBPyConnection, level: Level, known: Span | None, lo: datetime, hi: datetime) -> None:
    """The covered span grows by [lo, hi) when it touches it; a detached range leaves it (a
    chart then reads raw samples there, which are right, rather than trust a gap)."""
    if known is None or known.covered_from is None or known.covered_to is None:
        covered = (lo, hi)
    elif lo <= known.covered_to and hi >= known.covered_from:
        covered = (min(lo, known.covered_from), max(hi, known.covered_to))
    else:
        return
    cur.execute("""
        INSERT INTO rollup_spans VALUES ($level, $lo, $hi, NULL)
        ON CONFLICT (level) DO UPDATE SET covered_from = excluded.covered_from, covered_to = excluded.covered_to
    """, {"level": level.name, "lo": covered[0], "hi": covered[1]})


def expire(cur: duckdb.DuckDBPyConnection, raw_before: datetime, minute_before: datetime,
           hour_before: datetime) -> int:
    """One transaction: the rows deleted, and each level's note of what its source lost."""
    deleted = 0
    cur.execute("BEGIN TRANSACTION")
    try:
        for table, before in (("samples", raw_before), ("samples_1m", minute_before), ("samples_1h", hour_before)):
            (rows,) = cur.execute(f"DELETE FROM {table} WHERE ts < $before", {"before": before}).fetchone()
            deleted += rows
        for level, before in ((MINUTE_LEVEL, raw_before), (HOUR_LEVEL, minute_before)):
            cur.execute("""
                INSERT INTO rollup_spans VALUES ($level, NULL, NULL, $before)
                ON CONFLICT (level) DO UPDATE SET source_expired_before =
                    greatest(coalesce(rollup_spans.source_expired_before, excluded.source_expired_before),
                             excluded.source_expired_before)
            """, {"level": level.name, "before": before})
    except duckdb.Error:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
    return deleted


def chart_level(width: timedelta, start: datetime) -> Level | None:
    """The coarsest level whose rows fit whole in buckets of ``width`` from ``start``."""
    for level in reversed(LEVELS):
        if width % level.step == timedelta(0) and grid_floor(start, level.step) == start:
            return level
    return None


# A chart from a rollup: its rows inside the covered span, raw samples before and after it
# (not rolled up yet, or never). Two plain raw ranges rather than one with an OR, so that
# the ts zone maps skip every row group outside them.
_RAW_PART = f"""
        SELECT ts, 1, value, value, value FROM samples
        WHERE asset_id = $asset_id AND channel = $channel AND ts >= {{lo}} AND ts < {{hi}} AND {GOOD}
"""
BUCKETS_FROM = f"""
    WITH parts AS (
        SELECT ts, n, lo, hi, total FROM {{table}}
        WHERE asset_id = $asset_id AND channel = $channel AND ts >= $roll_from AND ts < $roll_to
        UNION ALL {_RAW_PART.format(lo='$start', hi='$roll_from')}
        UNION ALL {_RAW_PART.format(lo='$roll_to', hi='$end')}
    )
    SELECT time_bucket(to_microseconds($width_us), ts, $start::TIMESTAMP) AS bucket,
        sum(n)::BIGINT, min(lo), max(hi), sum(total) / sum(n)
    FROM parts
    GROUP BY bucket
    ORDER BY bucket
"""


def rollup_range(cur: duckdb.DuckDBPyConnection, level: Level, start: datetime,
                 end: datetime) -> tuple[datetime, datetime]:
    """The part of [start, end) (start on the level's grid) that the level's rows answer:
    whole rows inside the covered span; an empty range at ``start`` when none."""
    known = span(cur, level)
    if known is None or known.covered_from is None or known.covered_to is None:
        return start, start
    roll_from = max(start, known.covered_from)
    roll_to = min(known.covered_to, grid_floor(end, level.step))
    return (roll_from, roll_to) if roll_from < roll_to else (start, start)
