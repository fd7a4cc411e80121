"""The health stage: a worker process's device health (collector/health.py) saved to the
database (storage/device_health.py), where API processes and the other workers read it.

Every SAVE_EVERY_S it saves the records whose state changed since they were last saved (a
device going offline reaches every control room within a round, and on PostgreSQL the row's
trigger tells them at once); every REFRESH_EVERY_S it also saves the records that changed
otherwise (last success, counters), so 15,000 devices polled every 10 s cost 15,000 row
writes every 30 s rather than every 2 s. A record that did not change since its last save
is not written again: a device whose shard moved to another worker keeps that worker's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from sitewatch.components import Components
from sitewatch.domain.health import DeviceHealth
from sitewatch.storage.device_health import save
from sitewatch.supervise import Supervisor
from sitewatch.threads import OwnThread

log = logging.getLogger(__name__)

HEALTH = "device-health"  # the loop's name, as /healthz shows it
SAVE_EVERY_S = 2.0  # a state change reaches the database within this (the control room: within 2 s more)
REFRESH_EVERY_S = 30.0  # last success and counters: what the asset page shows, never urgent


class HealthStage:
    def __init__(self, parts: Components, *, every_s: float = SAVE_EVERY_S,
                 refresh_s: float = REFRESH_EVERY_S) -> None:
        self.parts = parts
        self.every_s = every_s
        self._refresh = timedelta(seconds=refresh_s)
        self._saved: dict[str, DeviceHealth] = {}  # each device's record as last saved
        self._thread = OwnThread("device-health")  # saved on time, whatever else the process hands its pool
        self._refreshed_at: datetime | None = None  # when every changed record was last saved
        self.rows_written = 0
        self.rounds_skipped = 0  # rounds the database refused

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [(HEALTH, supervisor.every(HEALTH, self.every_s, self._save_round))]

    async def _save_round(self) -> None:
        """A database outage skips the round, with one log line; the records stay due."""
        now = self.parts.clock.now()
        everything = self._refreshed_at is None or not timedelta(0) <= now - self._refreshed_at < self._refresh
        due = self._due(everything=everything)
        try:
            await self._thread.run(self._save, due, now)
        except SQLAlchemyError as exc:
            self.rounds_skipped += 1
            log.error("device health: not saved this round (%d record(s) wait), will retry: %s", len(due), exc)
            return
        if everything:
            self._refreshed_at = now

    def _due(self, *, everything: bool) -> list[DeviceHealth]:
        # The registry replaces a record on every change, so "unchanged" is "the same object".
        saved = self._saved
        return [record for record in self.parts.health.all()
                if (last := saved.get(record.device_id)) is not record
                and (everything or last is None or last.state is not record.state)]

    def _save(self, records: list[DeviceHealth], now: datetime) -> None:
        self.rows_written += save(self.parts.sessions, records, now=now)
        for record in records:
            self._saved[record.device_id] = record

    def shutdown(self) -> None:
        """The last save, of everything that changed: the next holder of these devices, and the
        API processes meanwhile, start from what this process last knew."""
        due = self._due(everything=True)
        try:
            self._save(due, self.parts.clock.now())
        except SQLAlchemyError as exc:
            log.error("device health: %d record(s) not saved at shutdown: %s", len(due), exc)
        finally:
            self._thread.close()
