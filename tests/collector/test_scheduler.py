"""The scheduler against real Modbus servers: back-off, offline -> online, no stalls."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Sequence

import pytest

from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.modbus.poller import ModbusPoller
from sitewatch.collector.scheduler import PollJob, Scheduler
from sitewatch.config.load import config_from_dict
from sitewatch.config.models import CollectorSettings
from sitewatch.demo import example_config
from sitewatch.domain.health import HealthState
from sitewatch.domain.samples import Quality, Sample
from sitewatch.simulators.regulator.fleet import build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs


class ListSink:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    async def publish(self, samples: Sequence[Sample]) -> None:
        self.samples.extend(samples)


def profile():
    return config_from_dict(example_config()).profile("regulator-v1")


def job_for(asset_id: str, port: int, *, interval_s: float, timeout_s: float = 1.0, attempts: list | None = None):
    from sitewatch.collector.modbus.config import ModbusEndpoint

    endpoint = ModbusEndpoint(host="127.0.0.1", port=port, profile="regulator-v1", timeout_s=timeout_s)
    poller = ModbusPoller(asset_id=asset_id, endpoint=endpoint, profile=profile())

    async def poll(ts):
        if attempts is not None:
            attempts.append(time.monotonic())
        return await poller.poll(ts)

    return PollJob(device_id=asset_id, interval_s=interval_s, timeout_s=timeout_s * 2, poll=poll,
                   channels=poller.channels, close=poller.close)


@pytest.fixture
async def fleet():
    fleet = build(FleetConfig(stations=make_station_specs(2, seed=5)))
    await fleet.start()
    yield fleet
    await fleet.stop()


def test_backoff_doubles_from_the_interval_up_to_the_cap():
    settings = CollectorSettings(backoff_max_s=1.0, jitter_fraction=0.0)
    scheduler = Scheduler(jobs=[], sink=ListSink(), health=HealthRegistry(offline_after_failures=3), settings=settings)
    job = PollJob("x", 0.2, 1.0, poll=None, channels={}, close=None)  # type: ignore[arg-type]
    delays = [scheduler.next_delay_s(job, consecutive_failures=n, elapsed_s=0.05) for n in range(6)]
    assert delays == pytest.approx([0.15, 0.2, 0.4, 0.8, 1.0, 1.0])


async def test_a_stopped_server_goes_offline_with_backoff_and_comes_back(fleet, caplog):
    caplog.set_level(logging.WARNING, logger="sitewatch.collector.health")
    attempts: list[float] = []
    sink = ListSink()
    health = HealthRegistry(offline_after_failures=3)
    settings = CollectorSettings(offline_after_failures=3, backoff_max_s=0.8, jitter_fraction=0.0)
    job = job_for("rs-001", fleet.port_of("rs-001"), interval_s=0.1, attempts=attempts)
    scheduler = Scheduler(jobs=[job], sink=sink, health=health, settings=settings)
    task = asyncio.create_task(scheduler.run())
    try:
        await health.wait_for("rs-001", lambda h: h.state is HealthState.ONLINE, timeout_s=5)
        await fleet.inject("rs-001", "comm_loss")  # the server is shut down: connections refused
        down = await health.wait_for("rs-001", lambda h: h.consecutive_failures >= 5, timeout_s=10)
        assert down.state is HealthState.OFFLINE, down
        assert down.last_error and "cannot connect" in down.last_error, down.last_error
        first_failure = len(attempts) - 5
        gaps = [b - a for a, b in zip(attempts[first_failure:], attempts[first_failure + 1:])]
        # after failures 1..4 the delays are 0.1, 0.2, 0.4, 0.8 s (interval doubling, capped at 0.8)
        for gap, want in zip(gaps, [0.1, 0.2, 0.4, 0.8]):
            assert want * 0.9 <= gap <= want + 0.25, f"back-off gaps {gaps} should follow 0.1, 0.2, 0.4, 0.8 s"
        await fleet.clear("rs-001", "comm_loss")  # the same port answers again
        back = await health.wait_for("rs-001", lambda h: h.state is HealthState.ONLINE, timeout_s=5)
        assert back.consecutive_failures == 0 and back.polls_failed >= 5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    bad = [s for s in sink.samples if s.quality is Quality.COMM_ERROR]
    assert bad and all(math.isnan(s.value) for s in bad), "failed polls leave visible comm-error samples"
    assert sink.samples[-1].quality is Quality.GOOD
    messages = [r.getMessage() for r in caplog.records]
    assert sum("offline after" in m for m in messages) == 1, "offline is logged once, not per poll"
    assert sum("back online" in m for m in messages) == 1


async def test_a_silent_station_never_stalls_the_others(fleet):
    # A server that accepts and never answers: every poll of it waits out its timeout.
    async def black_hole(reader, writer):
        await reader.read()
        writer.close()

    silent = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    health = HealthRegistry(offline_after_failures=2)
    jobs = [job_for("rs-001", fleet.port_of("rs-001"), interval_s=0.05),
            job_for("silent", silent_port, interval_s=0.05, timeout_s=1.0)]
    scheduler = Scheduler(jobs=jobs, sink=ListSink(), health=health,
                          settings=CollectorSettings(offline_after_failures=2, jitter_fraction=0.0))
    task = asyncio.create_task(scheduler.run())
    try:
        started = time.monotonic()
        await health.wait_for("rs-001", lambda h: h.polls_ok >= 10, timeout_s=5)
        assert time.monotonic() - started < 1.0, "ten good polls must not wait for the silent station's timeout"
        silent_health = await health.wait_for("silent", lambda h: h.timeouts >= 1, timeout_s=5)
        assert silent_health.state is not HealthState.ONLINE
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        silent.close()
        await silent.wait_closed()


async def test_a_station_in_back_off_is_polled_as_soon_as_its_gateway_answers_again():
    """Without the wake-up the station would sleep out its back-off (here 2 s, in the field
    up to backoff_max_s) after the gateway is back, and its silence would outlast the hold."""
    from sitewatch.collector.errors import DeviceUnreachable
    from sitewatch.collector.results import PollResult

    up = asyncio.Event()
    station_polls: list[float] = []

    async def gateway_poll(ts):
        if not up.is_set():
            raise DeviceUnreachable(device_id="gw", message="cannot connect")
        return PollResult(samples=())

    async def station_poll(ts):
        station_polls.append(time.monotonic())
        if not up.is_set():
            raise DeviceUnreachable(device_id="rs", message="cannot connect")
        return PollResult(samples=())

    async def nothing():
        return None

    health = HealthRegistry(offline_after_failures=3)
    settings = CollectorSettings(backoff_max_s=30.0, jitter_fraction=0.0)
    jobs = [PollJob("gw", 0.05, 1.0, poll=gateway_poll, channels={}, close=nothing),
            PollJob("rs", 0.5, 1.0, poll=station_poll, channels={}, close=nothing, upstream="gw")]

    class NoStartDelay(random.Random):
        def uniform(self, a, b):
            return 0.0

    scheduler = Scheduler(jobs=jobs, sink=ListSink(), health=health, settings=settings, rng=NoStartDelay())
    task = asyncio.create_task(scheduler.run())
    try:
        # Two failures: the station's next try is 1 s, then 2 s away.
        await health.wait_for("rs", lambda h: h.consecutive_failures >= 3, timeout_s=5)
        back = time.monotonic()
        up.set()
        recovered = await health.wait_for("rs", lambda h: h.consecutive_failures == 0, timeout_s=5)
        assert recovered.polls_ok == 1
        assert station_polls[-1] - back < 0.5, (
            f"the station was polled {station_polls[-1] - back:.2f} s after its gateway came back, not at once")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_poll_that_outlasts_its_budget_is_a_timeout_and_the_next_poll_gets_a_fresh_one():
    """The scheduler's own deadline, beside the reads' timers: a poll stuck elsewhere (here on
    an event nobody sets, as on a shared connection's lock) ends at the job's budget. Polls
    that end in time before and after it must not be cut short by a deadline left armed."""
    from sitewatch.collector.results import PollResult

    stuck = asyncio.Event()
    started: list[float] = []
    ended: list[tuple[float, str]] = []

    async def poll(ts):
        started.append(time.monotonic())
        try:
            if len(started) == 3:
                await asyncio.wait_for(stuck.wait(), 5.0)  # the budget below is 0.3 s
            else:
                await asyncio.sleep(0.2)  # within the budget, and most of it
        except asyncio.CancelledError:
            ended.append((time.monotonic(), "cancelled"))
            raise
        ended.append((time.monotonic(), "done"))
        return PollResult(samples=())

    async def nothing():
        return None

    health = HealthRegistry(offline_after_failures=5)
    sink = ListSink()
    job = PollJob("rs", 0.0, 0.3, poll=poll, channels={"inlet_mpa": "MPa"}, close=nothing)
    scheduler = Scheduler(jobs=[job], sink=sink, health=health,
                          settings=CollectorSettings(jitter_fraction=0.0))
    task = asyncio.create_task(scheduler.run())
    try:
        after = await health.wait_for("rs", lambda h: h.polls_ok >= 4, timeout_s=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [what for _, what in ended[:4]] == ["done", "done", "cancelled", "done"]
    assert 0.25 < ended[2][0] - started[2] < 0.6, f"cut after {ended[2][0] - started[2]:.2f} s, budget 0.3 s"
    assert after.timeouts == 1 and after.polls_failed == 1 and after.state is HealthState.ONLINE
    assert [s.quality for s in sink.samples] == [Quality.COMM_ERROR], "the timed-out poll's channels"


async def test_cancelling_the_scheduler_during_a_poll_stops_it_rather_than_counting_a_timeout():
    from sitewatch.collector.results import PollResult

    polling = asyncio.Event()

    async def poll(ts):
        polling.set()
        await asyncio.sleep(10)
        return PollResult(samples=())

    async def nothing():
        return None

    health = HealthRegistry(offline_after_failures=5)
    job = PollJob("rs", 0.0, 0.2, poll=poll, channels={}, close=nothing)
    scheduler = Scheduler(jobs=[job], sink=ListSink(), health=health, settings=CollectorSettings(jitter_fraction=0.0))
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(polling.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done and task.cancelled(), "the cancel must end the scheduler, not become a failed poll"
    assert health.get("rs").polls_failed == 0
