"""Headroom: cameras wait for CPU to spare, stations keep their interval (collector/admission.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
from collections.abc import AsyncIterator, Callable

import pytest

from sitewatch.collector import scheduler as scheduler_module
from sitewatch.collector.admission import Headroom
from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.results import PollResult
from sitewatch.collector.scheduler import PollJob, Scheduler
from sitewatch.config.models import CollectorSettings
from sitewatch.domain.samples import Quality, Sample
from sitewatch.simulators.regulator.fleet import build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from tests.collector.test_scheduler import ListSink, job_for

CAMERAS = 150
CAMERA_INTERVAL_S = 0.5
CAMERA_CPU_S = 0.02  # ~ a real camera poll's, in 5 slices: 150 cameras ask for 6 cores
STATION_INTERVAL_S = 0.25
RUN_S = 3.0


async def nothing() -> None:
    return None


async def camera_poll(ts) -> PollResult:
    for _ in range(5):  # SOAP build, parse, picture check...: CPU between awaits
        until = time.perf_counter() + CAMERA_CPU_S / 5
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)
    return PollResult(samples=())


class Now(random.Random):
    """Every job starts at once and polls at its exact interval: the worst case for the loop."""

    def uniform(self, a: float, b: float) -> float:
        return 0.0


@pytest.fixture
async def station():
    fleet = build(FleetConfig(stations=make_station_specs(1, seed=7)))
    await fleet.start()
    yield fleet.port_of("rs-001")
    await fleet.stop()


async def station_gaps(port: int, headroom: Headroom | None) -> list[float]:
    """Gaps between the station's polls while the cameras ask for far more CPU than there is."""
    polled: list[float] = []
    job = job_for("rs-001", port, interval_s=STATION_INTERVAL_S, timeout_s=2.0, attempts=polled)
    cameras = [PollJob(f"cam-{i:03d}", CAMERA_INTERVAL_S, 5.0, poll=camera_poll, channels={}, close=nothing,
                       admission=headroom) for i in range(CAMERAS)]
    scheduler = Scheduler(jobs=[job, *cameras], sink=ListSink(), health=HealthRegistry(offline_after_failures=3),
                          settings=CollectorSettings(jitter_fraction=0.0), rng=Now())
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.sleep(RUN_S)  # the run's length: what is measured is how the station fared in it
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return [b - a for a, b in itertools.pairwise(polled)]


async def test_a_station_keeps_its_interval_while_cameras_ask_for_more_cpu_than_there_is(station):
    starved = await station_gaps(station, None)
    headroom = Headroom()
    kept = await station_gaps(station, headroom)
    # Without headroom the same load starves the station: the test's load is real.
    assert max(starved, default=RUN_S) > 1.0, f"setup: the cameras did not load the loop ({max(starved):.2f} s)"
    assert len(kept) >= RUN_S / STATION_INTERVAL_S * 0.6, f"station polled {len(kept) + 1} times in {RUN_S} s"
    # Late by more than one interval, as bench_fleet counts it: none.
    assert max(kept) < 2 * STATION_INTERVAL_S, (
        f"a station poll came {max(kept):.2f} s after the one before (interval {STATION_INTERVAL_S} s)")
    assert headroom.deferred > 0 and headroom.limit < CAMERAS, "the cameras were made to wait, the slots cut"


async def test_a_poll_that_waited_for_a_slot_gets_its_whole_time_budget_after():
    holding = asyncio.Event()

    async def long_poll(ts) -> PollResult:
        holding.set()
        await asyncio.sleep(0.6)
        return PollResult(samples=())

    async def quick_poll(ts) -> PollResult:
        return PollResult(samples=())

    headroom = Headroom(first=1)
    health = HealthRegistry(offline_after_failures=1)
    jobs = [PollJob("cam-a", 60.0, 2.0, poll=long_poll, channels={}, close=nothing, admission=headroom),
            PollJob("cam-b", 60.0, 0.3, poll=quick_poll, channels={}, close=nothing, admission=headroom)]
    scheduler = Scheduler(jobs=jobs, sink=ListSink(), health=health,
                          settings=CollectorSettings(jitter_fraction=0.0), rng=Now())
    task = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(holding.wait(), 5)
        waited = await health.wait_for("cam-b", lambda h: h.polls_ok + h.polls_failed >= 1, timeout_s=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert waited.polls_ok == 1 and waited.polls_failed == 0, "0.6 s waiting for a slot is not a 0.3 s timeout"
    assert headroom.deferred == 1


async def test_a_waiter_cancelled_before_its_turn_takes_no_slot_with_it():
    headroom = Headroom(first=1)
    inside = asyncio.Event()
    leave = asyncio.Event()

    async def hold() -> None:
        await headroom.acquire()
        try:
            inside.set()
            await leave.wait()
        finally:
            headroom.release()

    async def wait_then_enter() -> None:
        await headroom.acquire()
        headroom.release()

    holder = asyncio.create_task(hold())
    await inside.wait()
    waiter = asyncio.create_task(wait_then_enter())
    while headroom.waiting == 0:
        await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    leave.set()
    await holder
    assert headroom.in_flight == 0 and headroom.waiting == 0
    await asyncio.wait_for(wait_then_enter(), 1)  # the slot is free for the next poll
    assert headroom.in_flight == 0


async def one_slot_taken() -> Headroom:
    """One slot, never more whatever the loop's lag, taken by someone else until the test lets go."""
    headroom = Headroom(first=1, most=1)
    await headroom.acquire()
    return headroom


@contextlib.asynccontextmanager
async def polling(job: PollJob) -> AsyncIterator[tuple[ListSink, HealthRegistry]]:
    """``job`` alone under a scheduler, due at once; cancelled on the way out."""
    sink, health = ListSink(), HealthRegistry(offline_after_failures=3)
    scheduler = Scheduler(jobs=[job], sink=sink, health=health, settings=CollectorSettings(jitter_fraction=0.0),
                          rng=Now())
    task = asyncio.create_task(scheduler.run())
    try:
        yield sink, health
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool], timeout_s: float) -> None:
    async def met() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(met(), timeout_s)


async def reachable(ts) -> PollResult:
    return PollResult(samples=(Sample("cam-a", "reachable", ts, 1.0, "state"),))


async def test_a_poll_held_back_says_so_every_interval_and_polls_when_admitted():
    # The rules must not take the collector's own delay for the camera's silence: while the
    # poll waits, each interval brings its channels as NOT_POLLED (no value), then the poll.
    headroom = await one_slot_taken()
    polled = asyncio.Event()

    async def poll(ts) -> PollResult:
        polled.set()
        return await reachable(ts)

    job = PollJob("cam-a", 0.2, 1.0, poll=poll, channels={"reachable": "state", "motion": "state"}, close=nothing,
                  admission=headroom)
    async with polling(job) as (sink, health):
        await until(lambda: sum(s.quality is Quality.NOT_POLLED for s in sink.samples) >= 4, 5)
        assert not polled.is_set(), "polled without a slot"
        held = list(sink.samples)
        headroom.release()
        await asyncio.wait_for(polled.wait(), 2)
        await health.wait_for("cam-a", lambda h: h.polls_ok >= 1, timeout_s=2)
    assert {(s.asset_id, s.channel, s.unit) for s in held} == {("cam-a", "reachable", "state"),
                                                              ("cam-a", "motion", "state")}
    assert all(s.quality is Quality.NOT_POLLED and math.isnan(s.value) for s in held)
    answered = [s.value for s in sink.samples if s.quality is Quality.GOOD]
    assert answered and set(answered) == {1.0}, answered
    assert health.get("cam-a").polls_failed == 0, "waiting for room is not a failed poll"
    assert headroom.in_flight == 0 and headroom.waiting == 0, "the slot went back after the poll"


async def test_a_poll_that_must_wait_says_so_soon_not_an_interval_later(monkeypatch):
    # A camera polled every 60 s whose no-data rule allows 120 s: marked only one interval
    # into the wait, a poll due at 60 s and still waiting reaches 120 s with no mark at all.
    monkeypatch.setattr(scheduler_module, "MARK_AFTER_S", 0.3)
    headroom = await one_slot_taken()

    async def poll(ts) -> PollResult:
        raise AssertionError("polled without a slot")

    job = PollJob("cam-a", 60.0, 1.0, poll=poll, channels={"reachable": "state"}, close=nothing,
                  admission=headroom)
    try:
        async with polling(job) as (sink, _):
            await until(lambda: bool(sink.samples), 5)
    finally:
        headroom.release()
    assert [(s.channel, s.quality) for s in sink.samples] == [("reachable", Quality.NOT_POLLED)]
    assert headroom.in_flight == 0 and headroom.waiting == 0, "the cancelled wait took no slot"


async def test_a_short_wait_for_room_marks_nothing():
    # Waiting a moment for a slot is not "not polled": the camera's page keeps its last values.
    headroom = await one_slot_taken()
    job = PollJob("cam-a", 60.0, 1.0, poll=reachable, channels={"reachable": "state"}, close=nothing,
                  admission=headroom)
    async with polling(job) as (sink, health):
        await until(lambda: headroom.waiting > 0, 5)
        await asyncio.sleep(0.5)  # the wait being measured: well under MARK_AFTER_S
        headroom.release()
        await health.wait_for("cam-a", lambda h: h.polls_ok >= 1, timeout_s=5)
    assert [(s.channel, s.quality) for s in sink.samples] == [("reachable", Quality.GOOD)]
