"""The health registry: what readers see of a device's polls, whichever way they were recorded."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta

from sitewatch.collector.errors import DeviceRejected, DeviceTimeout
from sitewatch.collector.health import HealthRegistry
from sitewatch.domain.health import HealthState
from sitewatch.domain.time import UTC

T0 = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


def at(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


def test_successful_polls_are_counted_whenever_the_record_is_read():
    health = HealthRegistry(offline_after_failures=3)
    health.register("rs-1")
    for i in range(5):
        health.record_success("rs-1", at=at(i))
    record = health.get("rs-1")
    assert (record.state, record.polls_ok, record.last_success) == (HealthState.ONLINE, 5, at(4))
    assert health.get("rs-1") is record, "unchanged: the same record"
    health.record_success("rs-1", at=at(5))
    assert [(r.polls_ok, r.last_success) for r in health.all()] == [(6, at(5))]
    assert health.get("rs-1") is not record


def test_a_failure_and_a_partial_error_after_successes_keep_every_count():
    health = HealthRegistry(offline_after_failures=2)
    health.register("rs-1")
    for i in range(3):
        health.record_success("rs-1", at=at(i))
    health.record_failure("rs-1", at=at(3), error=DeviceTimeout(device_id="rs-1", message="no reply"))
    assert health.failures("rs-1") == 1
    health.record_success("rs-1", at=at(4))
    health.record_success("rs-1", at=at(5), partial_errors=[DeviceRejected(device_id="rs-1", code=2)])
    health.record_success("rs-1", at=at(6))
    record = health.get("rs-1")
    assert (record.polls_ok, record.polls_failed, record.consecutive_failures) == (6, 1, 0)
    assert (record.timeouts, record.exception_responses, record.last_success, record.last_failure) == (
        1, 1, at(6), at(5))
    assert health.failures("rs-1") == 0


def test_forgotten_devices_leave_no_pending_polls():
    health = HealthRegistry(offline_after_failures=3)
    health.register("rs-1")
    health.record_success("rs-1", at=at(0))
    health.record_success("rs-1", at=at(1))
    health.forget(["rs-1"])
    assert health.all() == []
    health.register("rs-1")
    assert health.get("rs-1").polls_ok == 0


async def test_a_waiter_sees_every_successful_poll():
    health = HealthRegistry(offline_after_failures=3)
    health.register("rs-1")
    health.record_success("rs-1", at=at(0))
    waiting = asyncio.create_task(health.wait_for("rs-1", lambda r: r.polls_ok >= 3, timeout_s=5))
    await asyncio.sleep(0)
    for i in range(1, 3):
        health.record_success("rs-1", at=at(i))
    assert (await waiting).polls_ok == 3


def test_readers_in_other_threads_lose_no_poll():
    health = HealthRegistry(offline_after_failures=3)
    health.register("rs-1")
    health.record_success("rs-1", at=at(0))
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            health.all()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 20_000):
            health.record_success("rs-1", at=at(i))
    finally:
        done.set()
        reader.join()
    assert health.get("rs-1").polls_ok == 20_000
