"""Hostile Modbus devices (issue 15): the real Scheduler and ModbusPoller against a station
that misbehaves one way per case (hostile_server.py), beside a healthy simulated station
polled every HEALTHY_INTERVAL_S in the same scheduler.

Each case checks the row of collector/modbus/README.md's "Hostile devices" table: the
hostile station's health state and counters once it has been polled enough, what went over
the wire (requests, connections), that the healthy station kept its interval meanwhile, and
that no task, connection or file descriptor is left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.modbus.client import Link, ModbusClient, ModbusConnection
from sitewatch.collector.modbus.config import ModbusEndpoint, ModbusProfile, ModbusWorkarounds, RegisterSpec
from sitewatch.collector.modbus.poller import ModbusPoller
from sitewatch.collector.scheduler import PollJob, Scheduler
from sitewatch.config.models import CollectorSettings
from sitewatch.domain.health import DeviceHealth, HealthState
from sitewatch.domain.samples import Quality, Sample
from sitewatch.simulators.regulator.fleet import build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from tests.collector.test_admission import Now
from tests.collector.test_scheduler import ListSink, job_for

from .hostile_server import STALE_VALUE, Fault, HostileServer
from .servers import HOST

HEALTHY, HOSTILE, NEIGHBOUR = "rs-001", "rs-hostile", "rs-neighbour"
HEALTHY_INTERVAL_S = 0.2
HEALTHY_POLLS = 8  # at least this many during each run: ~1.6 s of the healthy station's interval
HOSTILE_INTERVAL_S = 0.1
REPLY_TIMEOUT_S = 0.3  # the hostile station's timeout_s: far below SLOW's 5 s
OFFLINE_AFTER = 3
SETTINGS = CollectorSettings(offline_after_failures=OFFLINE_AFTER, backoff_max_s=0.4, jitter_fraction=0.0)
# Two blocks a poll (holding 0 and holding 10): one read answered and one refused is visible.
PROFILE = ModbusProfile(
    name="hostile",
    registers=(RegisterSpec(channel="a", address=0, type="uint16", unit="V"),
               RegisterSpec(channel="b", address=10, type="uint16", unit="V")),
    workarounds=ModbusWorkarounds(max_gap_registers=0),
)


@dataclass
class Run:
    hostile: DeviceHealth  # when the case's condition was first met
    hostile_end: DeviceHealth  # when the run ended (the healthy station's polls take longer)
    server: HostileServer
    samples: list[Sample]  # the hostile station's
    healthy: DeviceHealth
    healthy_samples: list[Sample]
    healthy_gaps: list[float]  # seconds between its polls
    neighbour: DeviceHealth | None  # the station sharing the hostile one's gateway connection, if any
    neighbour_samples: list[Sample]


@pytest.fixture
async def healthy_port():
    fleet = build(FleetConfig(stations=make_station_specs(1, seed=7)))
    await fleet.start()
    yield fleet.port_of(HEALTHY)
    await fleet.stop()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _failed(times: int) -> Callable[[DeviceHealth], bool]:
    return lambda h: h.consecutive_failures >= times


def _station_jobs(port: int, *, behind_gateway: bool) -> list[PollJob]:
    """The hostile station's job (unit 2 behind a gateway, or unit 1 on its own address); behind
    a gateway also its neighbour's, unit 1 on the same connection."""
    stations = [(HOSTILE, 1)]
    connection = None
    if behind_gateway:
        stations = [(HOSTILE, 2), (NEIGHBOUR, 1)]
        connection = ModbusConnection(Link("tcp", HOST, port, connect_timeout_s=REPLY_TIMEOUT_S), name="gw")
    jobs = []
    for asset_id, unit in stations:
        endpoint = (ModbusEndpoint(gateway="gw", device_id=unit, profile=PROFILE.name, timeout_s=REPLY_TIMEOUT_S)
                    if behind_gateway else
                    ModbusEndpoint(host=HOST, port=port, profile=PROFILE.name, timeout_s=REPLY_TIMEOUT_S))
        client = ModbusClient(endpoint=endpoint, asset_id=asset_id, connection=connection)
        poller = ModbusPoller(asset_id=asset_id, endpoint=endpoint, profile=PROFILE, client=client)
        # The budget sitewatch/jobs.py gives a station: every read its timeout, plus a connect,
        # times the stations sharing the connection.
        budget_s = REPLY_TIMEOUT_S * (poller.reads_per_poll + 1) * len(stations)
        jobs.append(PollJob(asset_id, HOSTILE_INTERVAL_S, budget_s, poll=poller.poll, channels=poller.channels,
                            close=poller.close))
    return jobs


async def run_against(fault: Fault, until: Callable[[DeviceHealth], bool], *, healthy_port: int,
                      behind_gateway: bool = False, **server) -> Run:
    """Poll the stations until the hostile one's health meets ``until`` and the healthy one
    has polled HEALTHY_POLLS times; check nothing is left behind; return what was seen."""
    fds, tasks = _open_fds(), asyncio.all_tasks()
    hostile_server = HostileServer(fault, units=frozenset({2}) if behind_gateway else None, **server)
    await hostile_server.start()
    try:
        attempts: list[float] = []
        healthy = job_for(HEALTHY, healthy_port, interval_s=HEALTHY_INTERVAL_S, attempts=attempts)
        stations = _station_jobs(hostile_server.port, behind_gateway=behind_gateway)
        sink, health = ListSink(), HealthRegistry(offline_after_failures=OFFLINE_AFTER)
        scheduler = Scheduler(jobs=[healthy, *stations], sink=sink, health=health, settings=SETTINGS, rng=Now())
        task = asyncio.create_task(scheduler.run())
        try:
            seen = await health.wait_for(HOSTILE, until, timeout_s=10)
            await health.wait_for(HEALTHY, lambda h: h.polls_ok >= HEALTHY_POLLS, timeout_s=10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # The collector closed every connection it opened here, the timed-out ones included.
        async with asyncio.timeout(2):
            await hostile_server.wait_until_none_open()
    finally:
        await hostile_server.stop()
    for _ in range(20):  # transports close their sockets in callbacks of the next loop turns
        await asyncio.sleep(0)
    assert _open_fds() <= fds, f"file descriptors: {fds} before, {_open_fds()} after"
    leaked = [t for t in asyncio.all_tasks() - tasks if not t.done()]
    assert not leaked, f"tasks left running: {leaked}"
    samples = list(sink.samples)
    return Run(hostile=seen, hostile_end=health.get(HOSTILE), server=hostile_server,
               samples=[s for s in samples if s.asset_id == HOSTILE], healthy=health.get(HEALTHY),
               healthy_samples=[s for s in samples if s.asset_id == HEALTHY],
               healthy_gaps=[b - a for a, b in itertools.pairwise(attempts)],
               neighbour=health.get(NEIGHBOUR) if behind_gateway else None,
               neighbour_samples=[s for s in samples if s.asset_id == NEIGHBOUR])


def assert_healthy_station_kept_its_interval(run: Run) -> None:
    assert run.healthy.polls_failed == 0 and run.healthy.state is HealthState.ONLINE, run.healthy
    assert run.healthy_samples and all(s.quality is Quality.GOOD for s in run.healthy_samples)
    assert max(run.healthy_gaps) <= 2 * HEALTHY_INTERVAL_S, (
        f"the healthy station's polls came up to {max(run.healthy_gaps):.2f} s apart (interval {HEALTHY_INTERVAL_S} s)")


def assert_one_connection_per_request(run: Run) -> None:
    # (One more connection when the run ended while one was being opened.)
    server = run.server
    assert server.requests <= server.connections <= server.requests + 1, (server.requests, server.connections)


@pytest.mark.parametrize("fault", [Fault.SLOW, Fault.WRONG_TRANSACTION_ID, Fault.HALF_FRAME,
                                   Fault.LENGTH_BEYOND_DATA, Fault.OTHER_UNIT])
async def test_no_usable_reply_is_a_timeout_and_the_station_goes_offline(fault: Fault, healthy_port: int) -> None:
    started = time.monotonic()
    run = await run_against(fault, _failed(OFFLINE_AFTER), healthy_port=healthy_port)
    assert time.monotonic() - started < 5, "SLOW's 5 s replies were waited for"
    h = run.hostile
    assert h.state is HealthState.OFFLINE, h
    assert h.polls_ok == 0 and h.timeouts == h.polls_failed == OFFLINE_AFTER and h.malformed_replies == 0, h
    assert h.last_error and f"no reply within {REPLY_TIMEOUT_S} s" in h.last_error, h.last_error
    # Each timed-out request's connection was closed: whatever came (or would come) on it
    # later is never read as the answer to another request.
    assert_one_connection_per_request(run)
    assert run.samples and all(s.quality is Quality.COMM_ERROR for s in run.samples)
    assert_healthy_station_kept_its_interval(run)


@pytest.mark.parametrize(("fault", "message"), [
    (Fault.GARBAGE, "malformed reply (not a Modbus TCP frame)"),
    (Fault.CLOSE_MID_REPLY, "malformed or truncated reply"),
])
async def test_broken_replies_are_malformed_at_once_and_the_station_goes_offline(
        fault: Fault, message: str, healthy_port: int) -> None:
    run = await run_against(fault, _failed(OFFLINE_AFTER), healthy_port=healthy_port)
    h = run.hostile
    # Not taken for a device that answers with no data: no block got a usable reply.
    assert h.state is HealthState.OFFLINE, h
    assert h.polls_ok == 0 and h.malformed_replies == h.polls_failed == OFFLINE_AFTER, h
    assert h.timeouts == 0, f"a broken reply was waited on until the timeout: {h}"
    assert h.last_error and message in h.last_error, h.last_error
    # Each broken reply's connection was dropped and a new one opened for the next read;
    # both blocks were asked in each poll.
    assert_one_connection_per_request(run)
    assert run.server.requests >= 2 * run.hostile_end.polls_failed, run.server.requests
    assert run.samples and all(s.quality is Quality.COMM_ERROR for s in run.samples)
    assert_healthy_station_kept_its_interval(run)


async def test_busy_device_fails_its_polls_on_one_connection(healthy_port: int) -> None:
    run = await run_against(Fault.BUSY, _failed(OFFLINE_AFTER), healthy_port=healthy_port)
    h = run.hostile
    assert h.polls_ok == 0 and h.polls_failed == OFFLINE_AFTER, h
    assert h.timeouts == 0 and h.malformed_replies == 0, h
    assert h.last_error and "exception 6 (server device busy)" in h.last_error, h.last_error
    # A busy reply is a proper answer: the connection stays, and the poll ends at the first
    # busy block (the scheduler backs off and asks again later).
    assert run.server.connections == 1
    polls = run.hostile_end.polls_failed
    assert polls <= run.server.requests <= polls + 1, (polls, run.server.requests)  # (+1: cancelled in flight)
    assert_healthy_station_kept_its_interval(run)


async def test_busy_device_is_alive_not_offline(healthy_port: int) -> None:
    run = await run_against(Fault.BUSY, _failed(OFFLINE_AFTER + 1), healthy_port=healthy_port)
    h = run.hostile
    assert h.state is HealthState.DEGRADED, h
    assert h.exception_responses == h.polls_failed, h


async def test_an_exception_every_other_request_keeps_the_station_online(healthy_port: int) -> None:
    run = await run_against(Fault.EXCEPTION_EVERY_OTHER, lambda h: h.polls_ok >= 4, healthy_port=healthy_port)
    h = run.hostile
    # Requests alternate answered / refused, two a poll: block a is always answered and
    # block b always refused (exception 4), on the one connection.
    assert h.state is HealthState.ONLINE and h.polls_failed == 0, h
    assert h.exception_responses == h.polls_ok, h
    assert h.last_error and "exception 4 (server device failure)" in h.last_error, h.last_error
    assert run.server.connections == 1
    by_channel = {channel: {(s.value, s.quality) for s in run.samples if s.channel == channel} for channel in "ab"}
    assert by_channel["a"] == {(1000, Quality.GOOD)}, by_channel
    assert {quality for _, quality in by_channel["b"]} == {Quality.COMM_ERROR}, by_channel
    assert_healthy_station_kept_its_interval(run)


async def test_a_late_reply_is_never_taken_for_a_later_request(healthy_port: int) -> None:
    # The classic stale-reply desync: the first request times out, and its reply arrives on
    # the next connection just ahead of the reply to that connection's first request.
    run = await run_against(Fault.STALE_REPLY, lambda h: h.polls_ok >= 3, healthy_port=healthy_port)
    h = run.hostile
    assert run.server.stale_sent, "the late reply was never sent: the case did not happen"
    assert h.state is HealthState.ONLINE and h.timeouts == h.polls_failed == 1, h
    assert run.server.connections == 2
    values = {(s.channel, s.value) for s in run.samples if s.quality is Quality.GOOD}
    assert values == {("a", 1000), ("b", 1010)}, f"a stale reply ({STALE_VALUE}) was taken: {values}"
    assert_healthy_station_kept_its_interval(run)


async def test_junk_after_a_sound_reply_is_dropped_and_the_reply_taken(healthy_port: int) -> None:
    run = await run_against(Fault.REPLY_THEN_GARBAGE, lambda h: h.polls_ok >= 3, healthy_port=healthy_port)
    h = run.hostile
    assert h.state is HealthState.ONLINE and h.polls_failed == 0 and h.malformed_replies == 0, h
    assert run.server.connections == 1, "the junk after a reply is not the next request's: no reconnect"
    assert {(s.channel, s.value, s.quality) for s in run.samples} == {("a", 1000, Quality.GOOD),
                                                                      ("b", 1010, Quality.GOOD)}
    assert_healthy_station_kept_its_interval(run)


async def test_well_formed_unusable_replies_keep_the_station_online_with_malformed_counted(healthy_port: int) -> None:
    # Too few registers in every reply, as from a profile that does not fit the device: the
    # device is alive and answering, and the operator must see why its data is missing.
    run = await run_against(Fault.SHORT_REPLY, lambda h: h.polls_ok >= 3, healthy_port=healthy_port)
    h = run.hostile
    assert h.state is HealthState.ONLINE and h.polls_failed == 0, h
    assert h.malformed_replies == 2 * h.polls_ok, h  # both blocks of every poll
    assert h.last_error and "asked for 1 registers, the reply holds 0" in h.last_error, h.last_error
    assert run.server.connections == 1
    assert run.samples and all(s.quality is Quality.COMM_ERROR for s in run.samples)
    assert_healthy_station_kept_its_interval(run)


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.OTHER_UNIT, Fault.STALE_REPLY, Fault.CLOSE_MID_REPLY])
async def test_a_hostile_station_behind_a_gateway_never_garbles_its_neighbours_data(
        fault: Fault, healthy_port: int) -> None:
    # Unit 2 misbehaves, unit 1 behind the same Modbus TCP gateway (one connection, one
    # request at a time) answers properly; OTHER_UNIT's replies to unit 2 come as unit 1's.
    run = await run_against(fault, lambda h: h.polls_failed >= 1, healthy_port=healthy_port, behind_gateway=True)
    assert run.server.faulty_requests >= 1
    neighbour = run.neighbour
    assert neighbour is not None and neighbour.state is HealthState.ONLINE, neighbour
    assert neighbour.polls_failed == 0 and neighbour.last_error is None, neighbour
    # Never a value of unit 2's (stale) replies: the neighbour waits its turn, never reads another's answer.
    assert {(s.channel, s.value, s.quality) for s in run.neighbour_samples} == {("a", 1000, Quality.GOOD),
                                                                                ("b", 1010, Quality.GOOD)}
    assert_healthy_station_kept_its_interval(run)

