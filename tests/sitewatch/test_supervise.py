"""The supervisor: a failing loop is recorded and started again; only cancellation ends it."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sitewatch.domain.time import UTC
from sitewatch.supervise import LoopState, ServiceHealth, Supervisor
from tests.serving import FixedClock

T0 = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


def supervisor(health: ServiceHealth, clock: FixedClock) -> Supervisor:
    return Supervisor(health, clock=clock, first_backoff_s=0.01, max_backoff_s=0.04)


async def test_a_loop_that_fails_twice_is_started_again_and_its_record_says_so(caplog):
    health, clock = ServiceHealth(), FixedClock(T0)
    starts = 0
    running = asyncio.Event()

    async def flaky() -> None:
        nonlocal starts
        starts += 1
        clock.now_value = T0 + timedelta(seconds=starts)
        if starts <= 2:
            raise ValueError(f"bug number {starts}")
        running.set()
        await asyncio.Event().wait()  # runs until cancelled

    task = asyncio.create_task(supervisor(health, clock).keep_running("collector", flaky))
    await asyncio.wait_for(running.wait(), 5)
    record = health.loops()["collector"]
    assert (record.state, record.restarts, record.errors) == (LoopState.RUNNING, 2, 2)
    assert record.last_error == "ValueError: bug number 2"
    assert record.last_error_at == T0 + timedelta(seconds=2), "stamped by the injected clock"
    failures = [r for r in caplog.records if r.name == "sitewatch.supervise" and r.levelno == logging.ERROR]
    assert len(failures) == 2 and all(r.exc_info for r in failures), "each failure logged with its traceback"
    assert health.degraded(now=T0 + timedelta(minutes=1))
    assert not health.degraded(now=T0 + timedelta(hours=1)), "an old error no longer degrades the service"

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled(), "cancellation ends the supervisor at once, not as an error to restart from"


async def test_a_periodic_body_that_fails_is_counted_and_the_next_run_comes():
    health, clock = ServiceHealth(), FixedClock(T0)
    runs = 0

    async def body() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise KeyError("first run")

    task = asyncio.create_task(supervisor(health, clock).every("store-writer", 0.01, body, first_now=True))
    try:
        record = await health.wait_for("store-writer", lambda h: h.errors == 1, timeout_s=5)
        assert (record.state, record.restarts) == (LoopState.RUNNING, 0)
        async with asyncio.timeout(5):
            while runs < 3:
                await asyncio.sleep(0.01)
        assert health.loops()["store-writer"].errors == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_a_loop_is_restarting_while_it_waits_out_its_back_off():
    health, clock = ServiceHealth(), FixedClock(T0)

    async def broken() -> None:
        raise RuntimeError("always")

    task = asyncio.create_task(
        Supervisor(health, clock=clock, first_backoff_s=60, max_backoff_s=60).keep_running("alarm-hosts", broken)
    )
    try:
        record = await health.wait_for("alarm-hosts", lambda h: h.state is LoopState.RESTARTING, timeout_s=5)
        assert (record.errors, record.restarts) == (1, 0)
        assert health.degraded(now=T0 + timedelta(hours=1)), "restarting is degraded however old the error"
    finally:
        task.cancel()  # in the middle of its back-off
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
