"""The on-disk buffer of store-and-forward: samples the time-series store cannot take now
wait here, in order, until it is back (sitewatch/store_writer.py decides when).

One SQLite file (stdlib ``sqlite3``; ``[storage.buffer]`` path, relative to data_dir):

- ``samples``: one row per sample under an INTEGER PRIMARY KEY ``seq`` (SQLite's rowid),
  so reading ``ORDER BY seq`` gives the samples back in the order they were appended. The
  series (asset, channel, unit) is a small integer into ``series``: a row is then ~25
  bytes instead of ~70, and 10 million samples (two hours of a 500-station fleet) ~250 MB.
- ``stored_events``: (source, event_id) of the events whose samples are durable (written
  to the store or committed here), for the MQTT consumer's duplicate check across a
  restart. Kept for ``EVENTS_KEPT_FOR`` before the newest one: the age is measured from
  the newest row, not the wall clock, so a process that was down for a week still knows
  the events it stored just before it went down when the broker delivers them again.

WAL and ``synchronous = FULL``: a commit is on disk when ``append`` returns. The store
writer acknowledges MQTT messages on that promise, so a power cut must not take back what
a process crash would not (NORMAL would). One fsync per flush, about once a second.

When full (``max_samples``): the OLDEST samples are dropped to make room for the new, as
Telegraf does with ``metric_buffer_limit``: during a long outage what the control room and
the rules need next is the present, and the daily review counts the gap either way. Every
dropped sample is counted (``dropped``; /healthz ``buffers.store.dropped``) and each
burst of drops is logged once. An MQTT event dropped this way was acknowledged when it was
spooled: it is lost like any other sample, and counted with them.

One process per file: two processes sharing a data_dir would replay each other's samples.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC

log = logging.getLogger(__name__)

# How long the ids of stored events are kept, counted back from the newest one: a broker
# delivers an unacknowledged message again as soon as the consumer reconnects, so a day
# covers any redelivery while keeping the table at a day of events.
EVENTS_KEPT_FOR = timedelta(days=1)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS series (
        id       INTEGER PRIMARY KEY,
        asset_id TEXT NOT NULL,
        channel  TEXT NOT NULL,
        unit     TEXT NOT NULL,
        UNIQUE (asset_id, channel, unit)
    )""",
    """CREATE TABLE IF NOT EXISTS samples (
        seq     INTEGER PRIMARY KEY,  -- the order of arrival
        series  INTEGER NOT NULL,     -- series.id
        ts_us   INTEGER NOT NULL,     -- microseconds since 1970-01-01 UTC
        value   REAL,                 -- NULL: NaN (SQLite stores no NaN)
        quality INTEGER NOT NULL      -- sitewatch.domain.samples.Quality
    )""",
    """CREATE TABLE IF NOT EXISTS stored_events (
        source    TEXT NOT NULL,
        event_id  TEXT NOT NULL,
        stored_us INTEGER NOT NULL,
        PRIMARY KEY (source, event_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS stored_events_by_age ON stored_events (stored_us)",
)

_OLDEST = """
    SELECT samples.seq, series.asset_id, series.channel, samples.ts_us, samples.value, series.unit, samples.quality
    FROM samples JOIN series ON series.id = samples.series
    ORDER BY samples.seq LIMIT ?
"""


class SpoolError(Exception):
    """The buffer file cannot be read or written (disk full, file damaged, permissions)."""


class SampleSpool:
    """Thread-safe (one lock): the store writer appends and replays from worker threads,
    the pipeline reads the recent events at start-up."""

    def __init__(self, path: Path, *, max_samples: int, warn_fraction: float = 0.8) -> None:
        self.path = path
        self.max_samples = max_samples
        self.warn_at = max(1, math.ceil(max_samples * warn_fraction))
        self._lock = threading.Lock()
        self.dropped = 0  # since open: pushed out by newer samples when full
        self.spooled = 0  # since open: appended
        self.replayed = 0  # since open: removed once the store had them
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: every transaction below is an explicit BEGIN ... COMMIT.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._series = {(a, c, u): i for i, a, c, u in self._db.execute("SELECT id, asset_id, channel, unit FROM series")}
            (self._count,) = self._db.execute("SELECT count(*) FROM samples").fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open the buffer {path}: {exc}") from exc
        self._warned = self._count >= self.warn_at
        self._dropping = False  # in a burst of drops, which is logged once
        if self._count:
            log.warning("buffer %s: %d sample(s) left by an earlier run wait for the store", path, self._count)

    @property
    def count(self) -> int:
        """Samples waiting."""
        return self._count

    @property
    def warning(self) -> bool:
        """At or above ``warn_fraction`` of ``max_samples``."""
        return self._count >= self.warn_at

    def append(self, samples: Sequence[Sample], *, events: Iterable[tuple[str, str]] = (), at: datetime) -> None:
        """Commit ``samples`` behind those waiting, and ``events`` as stored at ``at``, in one
        transaction. When that overfills the buffer, the oldest samples are dropped first.

        A sample that cannot be encoded (a naive timestamp) raises TypeError/ValueError and
        nothing is written; SpoolError when the file fails."""
        rows = [(self._series_id(s), _micros(s.ts), s.value, int(s.quality)) for s in samples]
        events = list(events)
        if not rows and not events:
            return
        with self._transaction() as db:
            db.executemany("INSERT INTO samples (series, ts_us, value, quality) VALUES (?, ?, ?, ?)", rows)
            self._insert_events(db, events, at)
            over = self._count + len(rows) - self.max_samples
            if over > 0:
                # The rowids of the oldest are the smallest: one range delete through the key.
                db.execute("DELETE FROM samples WHERE seq IN (SELECT seq FROM samples ORDER BY seq LIMIT ?)", (over,))
        over = max(0, over)
        self._count += len(rows) - over
        self.spooled += len(rows)
        self._dropped(over)
        self._check_level()

    def oldest(self, limit: int) -> list[tuple[int, Sample]]:
        """Up to ``limit`` of the oldest waiting samples with their sequence numbers, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(_OLDEST, (limit,)).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read the buffer {self.path}: {exc}") from exc
        return [(seq, _sample(asset, channel, ts_us, value, unit, quality))
                for seq, asset, channel, ts_us, value, unit, quality in rows]

    def remove(self, first_seq: int, last_seq: int) -> None:
        """Forget the samples ``first_seq..last_seq`` (inclusive): the store has them."""
        with self._transaction() as db:
            removed = db.execute("DELETE FROM samples WHERE seq BETWEEN ? AND ?", (first_seq, last_seq)).rowcount
        self._count -= removed
        self.replayed += removed
        self._check_level()

    def remember(self, events: Iterable[tuple[str, str]], *, at: datetime) -> None:
        """Record ``events`` as stored at ``at`` (their samples went straight to the store)."""
        events = list(events)
        if events:
            with self._transaction() as db:
                self._insert_events(db, events, at)

    def recent_events(self, limit: int) -> list[tuple[str, str]]:
        """The ``limit`` most recently stored events, oldest first."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT source, event_id FROM stored_events ORDER BY stored_us DESC LIMIT ?", (limit,)
                ).fetchall()
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read the buffer {self.path}: {exc}") from exc
        return rows[::-1]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- internals -------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot write the buffer {self.path}: {exc}") from exc

    def _insert_events(self, db: sqlite3.Connection, events: list[tuple[str, str]], at: datetime) -> None:
        if not events:
            return
        stamp = _micros(at)
        db.executemany("INSERT OR REPLACE INTO stored_events (source, event_id, stored_us) VALUES (?, ?, ?)",
                       [(source, event_id, stamp) for source, event_id in events])
        # Both ends of this range are found through the index on stored_us.
        db.execute("DELETE FROM stored_events WHERE stored_us < (SELECT max(stored_us) FROM stored_events) - ?",
                   (EVENTS_KEPT_FOR // _MICROSECOND,))

    def _series_id(self, sample: Sample) -> int:
        key = (sample.asset_id, sample.channel, sample.unit)
        found = self._series.get(key)
        if found is None:
            with self._transaction() as db:
                db.execute("INSERT OR IGNORE INTO series (asset_id, channel, unit) VALUES (?, ?, ?)", key)
                (found,) = db.execute("SELECT id FROM series WHERE asset_id = ? AND channel = ? AND unit = ?",
                                      key).fetchone()
            self._series[key] = found
        return found

    def _dropped(self, count: int) -> None:
        if count and not self._dropping:
            log.error("buffer %s is full (%d samples): dropping the oldest to make room (counted as dropped)",
                      self.path, self.max_samples)
        self._dropping = count > 0
        self.dropped += count

    def _check_level(self) -> None:
        """Log the crossing of the warning level, once each way."""
        if self.warning and not self._warned:
            log.warning("buffer %s holds %d samples, %d%% of its %d: the store has been unreachable for long",
                        self.path, self._count, 100 * self._count // self.max_samples, self.max_samples)
        elif self._warned and not self.warning:
            log.info("buffer %s is below its warning level again (%d samples)", self.path, self._count)
        self._warned = self.warning


def _micros(ts: datetime) -> int:
    # Exact integer arithmetic: a float timestamp can be a microsecond off. A naive time
    # raises TypeError here (naive minus aware), as the store refuses it.
    return (ts - _EPOCH) // _MICROSECOND


def _sample(asset_id: str, channel: str, ts_us: int, value: float | None, unit: str, quality: int) -> Sample:
    return Sample(asset_id, channel, _EPOCH + ts_us * _MICROSECOND, math.nan if value is None else value, unit,
                  Quality(quality))
