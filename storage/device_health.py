"""Device health in the relational database: the collectors' records (collector/health.py),
saved by each worker process (sitewatch/stages/health.py) for the processes that do not poll
those devices — API processes above all, which read them through :class:`DatabaseHealth`.

One row per device, written with one upsert statement executed for many rows on PostgreSQL
and SQLite alike (``INSERT ... ON CONFLICT (device_id) DO UPDATE``, as storage/leases.py does). On
PostgreSQL a row that is new or changes state notifies ``sitewatch_changes`` (migration
0003), so the control rooms of every API process hear of it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.domain.health import DeviceHealth, HealthState
from sitewatch.domain.time import Clock
from sitewatch.storage.tables import DeviceHealthRow

log = logging.getLogger(__name__)

# Rows per execute: a transaction's work handed to the driver a thousand devices at a time.
CHUNK = 1_000
_FIELDS = ("state", "last_success", "last_failure", "last_error", "consecutive_failures", "polls_ok",
           "polls_failed", "exception_responses", "malformed_replies", "timeouts")


def save(sessions: sessionmaker[Session], records: Iterable[DeviceHealth], *, now: datetime) -> int:
    """Writes ``records`` (inserted or overwritten by device id) in one transaction, stamped
    ``updated_at = now``; returns how many. A database error is raised: nothing was saved."""
    rows = [_row(record, now) for record in records]
    if not rows:
        return 0
    with sessions() as session, session.begin():
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = insert(DeviceHealthRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=[DeviceHealthRow.device_id],
            set_={name: stmt.excluded[name] for name in (*_FIELDS, "updated_at")},
        )
        # One statement, many parameter sets (the driver's executemany): compiled once and
        # cached. A multi-row VALUES clause was compiled afresh for every chunk, in Python,
        # holding the GIL: at 16,000 devices that starved the event loop of the worker
        # (bench_fleet, py-spy: a third of the worker threads' time in SQLAlchemy's compiler).
        for start in range(0, len(rows), CHUNK):
            session.execute(stmt, rows[start:start + CHUNK])
    return len(rows)


def load(session: Session) -> list[DeviceHealth]:
    """Every saved record, by device id."""
    rows = session.scalars(select(DeviceHealthRow).order_by(DeviceHealthRow.device_id)).all()
    return [_record(row) for row in rows]


def _row(record: DeviceHealth, now: datetime) -> dict[str, object]:
    row = {name: getattr(record, name) for name in _FIELDS}
    row.update(device_id=record.device_id, state=record.state.value, updated_at=now)
    return row


def _record(row: DeviceHealthRow) -> DeviceHealth:
    fields = {name: getattr(row, name) for name in _FIELDS}
    fields["state"] = HealthState(row.state)
    return DeviceHealth(device_id=row.device_id, **fields)


class DatabaseHealth:
    """The device health the collectors saved, read by a process that polls nothing
    (api/context.py's DeviceHealthReader): ``get`` raises KeyError for a device no collector
    has saved.

    Every answer comes from one read of the whole table, kept for ``max_age_s``: a page of
    10,000 assets asks ``get`` 10,000 times and costs one query. The read is taken again
    sooner when the process clock moved otherwise than the monotonic one (a test's clock
    jumps) or when :meth:`expire` is called (the control room heard the table change). A
    database that does not answer leaves the last read in place, with one log line per outage.
    """

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, max_age_s: float = 1.0) -> None:
        self._sessions = sessions
        self._clock = clock
        self._max_age_s = max_age_s
        self._records: dict[str, DeviceHealth] = {}
        self._read_at: tuple[float, datetime] | None = None  # (monotonic, clock) when the last read began
        self._lock = threading.Lock()  # readers in the API's threads wait for one read, not make many
        self._failing = False
        self.reads = 0  # how many times the table was read

    def get(self, device_id: str) -> DeviceHealth:
        return self._fresh()[device_id]

    def all(self) -> Sequence[DeviceHealth]:
        return list(self._fresh().values())

    def expire(self) -> None:
        """The next answer reads the table again."""
        self._read_at = None

    def _fresh(self) -> dict[str, DeviceHealth]:
        with self._lock:
            if not self._still_fresh():
                began, now = time.monotonic(), self._clock.now()
                self._read_at = (began, now)  # after a failure too: a page's 10,000 gets try once
                try:
                    with self._sessions() as session:
                        records = load(session)
                except SQLAlchemyError as exc:
                    if not self._failing:
                        log.error("device health: the database does not answer; showing the last read: %s", exc)
                    self._failing = True
                    return self._records
                if self._failing:
                    log.warning("device health: the database answers again")
                self._failing = False
                self._records = {record.device_id: record for record in records}
                self.reads += 1
            return self._records

    def _still_fresh(self) -> bool:
        if self._read_at is None:
            return False
        began, seen = self._read_at
        moved = self._clock.now() - seen
        return time.monotonic() - began < self._max_age_s and timedelta(0) <= moved < timedelta(seconds=self._max_age_s)
