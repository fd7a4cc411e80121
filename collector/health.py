"""Device health records. The scheduler is the only writer; rules and API read them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sitewatch.collector.errors import CollectorError, DecodeError, DeviceBusy, DeviceRejected, DeviceTimeout
from sitewatch.domain.health import DeviceHealth, HealthState

log = logging.getLogger(__name__)


class HealthRegistry:
    def __init__(self, *, offline_after_failures: int) -> None:
        self._offline_after = offline_after_failures
        self._records: dict[str, DeviceHealth] = {}
        # Successful polls of an online device not yet in its record: (how many, the last one's
        # time). The scheduler records hundreds a second; replacing the frozen record each time
        # cost more than the rest of recording, so a reader's get()/all() folds them in instead.
        self._successes: dict[str, tuple[int, datetime]] = {}
        # Readers fold too, and some read from worker threads (API routes, metrics).
        self._folding = threading.Lock()
        # Events of the tasks waiting in wait_for; recording costs nothing when nobody waits
        # (the scheduler records hundreds of polls per second).
        self._waiters: set[asyncio.Event] = set()

    def register(self, device_id: str) -> None:
        if device_id not in self._records:
            self._store(DeviceHealth(device_id=device_id))

    def forget(self, device_ids: Iterable[str]) -> None:
        """Devices another process polls now (their shard moved): their records are its."""
        for device_id in device_ids:
            self._records.pop(device_id, None)
            self._successes.pop(device_id, None)

    def get(self, device_id: str) -> DeviceHealth:
        return self._settled(device_id)

    def all(self) -> list[DeviceHealth]:
        for device_id in list(self._successes):
            self._settled(device_id)
        return list(self._records.values())

    def failures(self, device_id: str) -> int:
        """Consecutive failed polls (the scheduler's question after every poll)."""
        return self._records[device_id].consecutive_failures

    def record_success(
        self, device_id: str, *, at: datetime, partial_errors: Sequence[CollectorError] = ()
    ) -> None:
        old = self._records[device_id]
        if old.state is HealthState.ONLINE and not partial_errors:
            # The usual poll: counted now, folded into the record when someone reads it.
            with self._folding:
                pending = self._successes.get(device_id)
                self._successes[device_id] = (1 if pending is None else pending[0] + 1, at)
            if self._waiters:
                self._store(self._settled(device_id))
            return
        old = self._settled(device_id)
        if old.state is HealthState.OFFLINE:
            # Logged once on recovery, not on every poll (the Home Assistant habit).
            log.warning("%s: back online after %d failed polls", device_id, old.consecutive_failures)
        new = dataclasses.replace(
            old,
            state=HealthState.ONLINE,
            last_success=at,
            consecutive_failures=0,
            polls_ok=old.polls_ok + 1,
            **_error_counts(old, partial_errors),
        )
        if partial_errors:
            new = dataclasses.replace(new, last_error=str(partial_errors[-1]), last_failure=at)
        self._store(new)

    def record_failure(self, device_id: str, *, at: datetime, error: CollectorError) -> None:
        old = self._settled(device_id)
        failures = old.consecutive_failures + 1
        # A busy device answers: it is there and failing (degraded), never "not answering".
        offline = failures >= self._offline_after and not isinstance(error, DeviceBusy)
        state = HealthState.OFFLINE if offline else HealthState.DEGRADED
        if state is HealthState.OFFLINE and old.state is not HealthState.OFFLINE:
            log.warning("%s: offline after %d failed polls: %s", device_id, failures, error)
        new = dataclasses.replace(
            old,
            state=state,
            last_failure=at,
            last_error=str(error),
            consecutive_failures=failures,
            polls_failed=old.polls_failed + 1,
            **_error_counts(old, [error]),
        )
        self._store(new)

    async def wait_for(
        self, device_id: str, predicate: Callable[[DeviceHealth], bool], *, timeout_s: float
    ) -> DeviceHealth:
        """Wait until the device's record satisfies ``predicate`` (for tests and the demo)."""
        changed = asyncio.Event()
        self._waiters.add(changed)
        try:
            async with asyncio.timeout(timeout_s):
                # A device may not be registered yet when a caller starts waiting for it.
                while device_id not in self._records or not predicate(self._settled(device_id)):
                    changed.clear()
                    await changed.wait()
            return self._settled(device_id)
        finally:
            self._waiters.discard(changed)

    def _settled(self, device_id: str) -> DeviceHealth:
        """The device's record with its pending successful polls folded in."""
        with self._folding:
            record = self._records[device_id]
            pending = self._successes.pop(device_id, None)
            if pending is not None:
                count, at = pending
                record = self._records[device_id] = dataclasses.replace(record, polls_ok=record.polls_ok + count,
                                                                        last_success=at)
            return record

    def _store(self, record: DeviceHealth) -> None:
        self._records[record.device_id] = record
        for changed in self._waiters:
            changed.set()


def _error_counts(old: DeviceHealth, errors: Sequence[CollectorError]) -> dict[str, int]:
    if not errors:
        return {}  # the usual successful poll: nothing to count, three fields fewer to replace
    return {
        "exception_responses": old.exception_responses
        + sum(isinstance(e, (DeviceRejected, DeviceBusy)) for e in errors),
        "malformed_replies": old.malformed_replies + sum(isinstance(e, DecodeError) for e in errors),
        "timeouts": old.timeouts + sum(isinstance(e, DeviceTimeout) for e in errors),
    }
