"""Issue 13 acceptance, the product running: status-word bits raising alerts, eight stations
behind one RTU-over-TCP converter, and that converter dying.

The devices are umodbus' (over Modbus TCP, and its RTU server on a socat serial line behind
RtuBridge, a transparent TCP-to-serial converter); the product is the real pipeline
(sitewatch.pipeline: collector, rules, ticket writer and holds) on the system clock, or, for
the eight stations, its collector alone (sitewatch/jobs.py's jobs under the scheduler).
Times are compressed: polls every 0.05-0.2 s instead of 1-10 s, rule delays in seconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.scheduler import Scheduler
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.health import HealthState
from sitewatch.domain.samples import Quality, Sample
from sitewatch.jobs import modbus_jobs
from sitewatch.pipeline import Pipeline
from sitewatch.storage.tables import AlertRow, TicketRow
from tests.collector.modbus.peer_tools import RtuFrameWatch, umodbus_tcp_tables
from tests.collector.modbus.serial_line import (
    RtuBridge,
    RtuDevices,
    Table,
    pty_pair,
    umodbus_rtu_server,
)
from tests.collector.modbus.servers import HOST

T = TypeVar("T")
BAUDRATE = 115200  # the RTU devices' end-of-frame silence: 0.3 ms; a round trip ~2.3 ms on the pty
WAIT_S = 15.0  # the longest any single awaited event may take before the test fails
GATEWAY = "gw-east"
STATIONS = [f"rb-east-{n:02d}" for n in range(1, 9)]  # device ids 1..8 behind GATEWAY
DEVICE_ID = {station: n for n, station in enumerate(STATIONS, start=1)}


# --- the world -------------------------------------------------------------------------------


def _example_rule(raw: dict, rule_id: str, **changes: object) -> dict:
    [rule] = [r for r in raw["rules"] if r["id"] == rule_id]
    return rule | changes


def _world(data_dir: Path, *, profiles: list[dict], assets: list[dict], rules: list[dict]) -> dict:
    """The example configuration (customers, site, SLA, correlation, holds settings) with
    these profiles, assets and rules only, and fast loops."""
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir), "flush_interval_s": 0.2}
    raw["rules_engine"] = raw["rules_engine"] | {"tick_s": 0.05}
    # A station failing three polls is offline (the example's count); back-off capped at two
    # poll intervals so a returning converter is used within a few tenths of a second.
    raw["collector"] = raw["collector"] | {"backoff_max_s": 0.4}
    raw["modbus_profiles"], raw["assets"], raw["rules"] = profiles, assets, rules
    return raw


@dataclass
class _Run:
    parts: Components
    task: asyncio.Task[None]  # the pipeline


@asynccontextmanager
async def _running(raw: dict) -> AsyncIterator[_Run]:
    """The whole pipeline (collector, store writer, rules worker, ticket writer) until exit."""
    parts = build_components(config_from_dict(raw))
    run = _Run(parts, asyncio.create_task(Pipeline(parts).run()))
    try:
        yield run
    finally:
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)
        parts.close()


@dataclass(frozen=True)
class Alert:
    asset_id: str
    rule_id: str
    state: str
    suppressed_by: str | None
    ticket_id: int | None


def _alerts(parts: Components) -> list[Alert]:
    with parts.sessions() as session:
        rows = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        return [Alert(r.asset_id, r.rule_id, r.state, r.suppressed_by, r.ticket_id) for r in rows]


def _tickets(parts: Components) -> list[tuple[int, str, str | None, str]]:
    with parts.sessions() as session:
        rows = session.scalars(select(TicketRow).order_by(TicketRow.id)).all()
        return [(r.id, r.asset_id, r.rule_id, r.state) for r in rows]


def _answering(parts: Components) -> float | None:
    """The gateway's latest count of stations answering, as stored."""
    latest = {s.channel: s.value for s in parts.store.latest(asset_ids=[GATEWAY])}
    return latest.get("stations_answering")


def _firing(parts: Components) -> set[tuple[str, str]]:
    return {(a.asset_id, a.rule_id) for a in _alerts(parts) if a.state == "firing"}


async def _until(run: _Run, what: str, read: Callable[[Components], T], done: Callable[[T], bool]) -> T:
    """Read the database until ``done`` holds (or the pipeline died, or WAIT_S passed)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = await asyncio.to_thread(read, run.parts)
        if done(value):
            return value
        assert not run.task.done(), f"the pipeline ended while waiting for {what}: {run.task}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S} s; last seen: {value!r}"
        await asyncio.sleep(0.02)


# --- a. one status word, three alarms --------------------------------------------------------

STATION = "rs-status-01"
# bit -> (channel, rule). Each bit of holding register 10 is an alarm of its own.
STATUS_BITS = {0: ("slam_shut_closed", "slam-shut-closed"), 1: ("door_open", "door-open-bit"),
               2: ("mains_lost", "mains-lost")}
STATUS_PROFILE = {
    "name": "rtu-x-status",
    "function": "holding",
    "registers": [
        *({"channel": channel, "address": 10, "type": "uint16", "bit": bit, "unit": "state"}
          for bit, (channel, _) in STATUS_BITS.items()),
        # Neighbours in the same word, each with a rule that must stay quiet: a decoder
        # taking the wrong bit, or leaking one into a mask, would fire them.
        {"channel": "spare_alarm", "address": 10, "type": "uint16", "bit": 3, "unit": "state"},
        {"channel": "run_mode", "address": 10, "type": "uint16", "mask": 0x0F00, "unit": "state"},
        {"channel": "outlet_kpa", "address": 11, "type": "uint16", "scale": 0.01, "unit": "kPa"},
    ],
}


def _above_half(rule_id: str, channel: str) -> dict:
    return {"id": rule_id, "kind": "threshold", "channel": channel, "direction": "above", "level": 0.5,
            "severity": "major"}


async def test_each_bit_of_a_status_word_raises_its_own_alert_and_nothing_else(tmp_path: Path) -> None:
    """Bit 0, then 1, then 2 of holding register 10 set alone (0 in between), read by the
    pipeline from umodbus over Modbus TCP: each step fires exactly its rule's alert (one
    ticket each) and resolves it; the quiet bit, the mode field and no-data never fire."""
    raw = example_config()
    rules = [*(_above_half(rule_id, channel) for channel, rule_id in STATUS_BITS.values()),
             _above_half("spare-alarm", "spare_alarm"), _above_half("run-mode-set", "run_mode"),
             _example_rule(raw, "no-data", after_s=2.0)]
    with umodbus_tcp_tables({1: {("holding", 10): 0, ("holding", 11): 250}}) as (port, devices):
        asset = {"id": STATION, "site": "north", "kind": "regulator_station", "name": "Status word station",
                 "poll_interval_s": 0.1,
                 "modbus": {"host": HOST, "port": port, "device_id": 1, "profile": "rtu-x-status", "timeout_s": 1.0}}
        world = _world(tmp_path, profiles=[STATUS_PROFILE], assets=[asset], rules=rules)
        async with _running(world) as run:
            await run.parts.health.wait_for(STATION, lambda h: h.state is HealthState.ONLINE, timeout_s=WAIT_S)
            for bit, (_, rule_id) in STATUS_BITS.items():
                devices.set(1, {("holding", 10): 1 << bit})
                firing = await _until(run, f"an alert for bit {bit}", _firing, bool)
                assert firing == {(STATION, rule_id)}, f"bit {bit} alone set: {firing}"
                devices.set(1, {("holding", 10): 0})
                await _until(run, f"bit {bit}'s alert resolved", _firing, lambda f: not f)
            alerts, tickets = _alerts(run.parts), _tickets(run.parts)
    expected = [rule_id for _, rule_id in STATUS_BITS.values()]
    assert [(a.asset_id, a.rule_id, a.state) for a in alerts] == [(STATION, r, "resolved") for r in expected], \
        "one alert per bit, nothing else ever fired"
    assert [(asset_id, rule_id) for _, asset_id, rule_id, _ in tickets] == [(STATION, r) for r in expected]
    assert [a.ticket_id for a in alerts] == [ticket_id for ticket_id, *_ in tickets]
    assert all(a.suppressed_by is None for a in alerts)


# --- b, c. eight stations behind one RTU-over-TCP converter ----------------------------------

BOX_PROFILE = {
    "name": "box-8",
    "function": "holding",
    "registers": [
        {"channel": "outlet_kpa", "address": 0, "type": "uint16", "scale": 0.01, "unit": "kPa"},
        {"channel": "volume_nm3", "address": 1, "type": "uint32", "unit": "Nm3"},
        {"channel": "temperature_c", "address": 3, "type": "int16", "scale": 0.1, "unit": "degC"},
    ],
}


def _words(unit: int) -> list[int]:
    """Every register different for each unit: a reply meant for another shows."""
    return [200 + unit, unit, 0x1000 + unit, -10 * unit & 0xFFFF]


def _values(unit: int) -> dict[str, float]:
    words = _words(unit)
    return {"outlet_kpa": words[0] * 0.01, "volume_nm3": float(words[1] << 16 | words[2]),
            "temperature_c": (words[3] - 0x10000) * 0.1}


def _units() -> dict[int, dict[tuple[Table, int], int]]:
    return {unit: {("holding", a): w for a, w in enumerate(_words(unit))} for unit in DEVICE_ID.values()}


def _gateway_assets(port: int, *, station_poll_s: float, gateway_poll_s: float) -> list[dict]:
    gateway = {"id": GATEWAY, "site": "north", "kind": "modbus_gateway", "name": "East converter",
               "poll_interval_s": gateway_poll_s,
               "modbus_gateway": {"framing": "rtu_over_tcp", "host": HOST, "port": port, "timeout_s": 1.0}}
    stations = [{"id": station, "site": "north", "kind": "regulator_box", "name": f"East box {n}",
                 "poll_interval_s": station_poll_s,
                 "modbus": {"gateway": GATEWAY, "device_id": n, "profile": "box-8", "timeout_s": 1.0}}
                for station, n in DEVICE_ID.items()]
    return [gateway, *stations]


@contextmanager
def _rtu_line() -> Iterator[tuple[str, RtuDevices]]:
    """Units 1..8 (umodbus) on one serial line; yields the converter's end and their state."""
    with pty_pair() as (device_end, converter_end), \
            umodbus_rtu_server(device_end, units=_units(), baudrate=BAUDRATE) as devices:
        yield converter_end, devices


class _Collected:
    """The scheduler's sink: every sample published."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    async def publish(self, samples: Sequence[Sample]) -> None:
        self.samples += samples


POLLS = 300  # per station: the acceptance's 5 minutes at 1 s
FAST_POLL_S = 0.05  # the shortest poll interval a configuration accepts


async def test_eight_stations_through_one_converter_never_get_a_reply_meant_for_another(tmp_path: Path) -> None:
    """The acceptance asks for 8 stations at 1 s for 5 minutes (300 polls each, 8 requests/s)
    with no garbled reply. Compressed 20x: the same 300 polls each at 0.05 s (~15 s, 160
    requests/s on a line whose round trip is ~2.5 ms, so it is ~40 % busy where the
    acceptance's is 2 %): a harder test of one-request-at-a-time. No pause between requests.

    Between the product and the converter a relay reads every RTU frame: no request may
    leave before the previous one's reply is back, and each reply must be for the unit and
    function asked. The product's own view: no failed poll, no malformed reply, no timeout,
    every sample is its station's own value, and the gateway counts 8 stations answering.
    """
    with _rtu_line() as (converter_end, devices):
        async with RtuBridge(converter_end, baudrate=BAUDRATE) as bridge, RtuFrameWatch(bridge.port) as watch:
            assets = _gateway_assets(watch.port, station_poll_s=FAST_POLL_S, gateway_poll_s=0.5)
            config = config_from_dict(_world(tmp_path, profiles=[BOX_PROFILE], assets=assets, rules=[]))
            health = HealthRegistry(offline_after_failures=config.collector.offline_after_failures)
            sink = _Collected()
            scheduler = Scheduler(jobs=modbus_jobs(config), sink=sink, health=health, settings=config.collector)
            task = asyncio.create_task(scheduler.run())
            try:
                for station in STATIONS:  # done, or failing: a failed poll ends the test at once
                    await health.wait_for(station, lambda h: h.polls_ok >= POLLS or h.polls_failed > 0,
                                          timeout_s=POLLS * FAST_POLL_S * 3)
                # What the line and the product saw up to here (cancelling may cut a request short).
                exchanges, abandoned = list(watch.exchanges), watch.abandoned
                polls = {station: health.get(station).polls_ok for station in STATIONS}
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    assert watch.overlaps == [], f"requests overlapping on the converter's line: {watch.overlaps[:5]}"
    assert watch.bad_frames == [] and watch.unsolicited == [], (watch.bad_frames[:5], watch.unsolicited[:5])
    assert abandoned == 0, "a connection was dropped with a request unanswered"
    for station in STATIONS:
        h = health.get(station)
        counts = (h.polls_failed, h.malformed_replies, h.timeouts, h.exception_responses)
        assert h.polls_ok >= POLLS and counts == (0, 0, 0, 0), \
            f"{station}: {h.polls_ok} polls ok; failed, malformed, timeouts, exceptions: {counts}; {h.last_error}"
    wrong = [s for s in sink.samples if s.asset_id in DEVICE_ID
             and (s.quality is not Quality.GOOD or s.value != _values(DEVICE_ID[s.asset_id])[s.channel])]
    assert not wrong, f"{len(wrong)} samples not their station's own value, e.g. {wrong[:3]}"
    per_station = Counter(s.asset_id for s in sink.samples if s.asset_id in DEVICE_ID)
    assert min(per_station[station] for station in STATIONS) >= POLLS * len(BOX_PROFILE["registers"])
    gateway = [s for s in sink.samples if s.asset_id == GATEWAY]
    assert health.get(GATEWAY).polls_failed == 0 and {s.value for s in gateway if s.channel == "connected"} == {1.0}
    assert [s.value for s in gateway if s.channel == "stations_answering"][-1] == len(STATIONS)

    by_unit = Counter(e.unit for e in exchanges)
    for station, unit in DEVICE_ID.items():
        # One request a poll (a reply may be on its way to the product at the snapshot).
        assert 0 <= by_unit[unit] - polls[station] <= 1, f"unit {unit}: {by_unit[unit]} exchanges, {polls[station]} polls"
    assert {fc for _, fc in devices.requests} == {3} and set(by_unit) == set(DEVICE_ID.values())
    median_ms = statistics.median(e.round_trip_s for e in exchanges) * 1000
    assert median_ms < FAST_POLL_S * 1000 / len(STATIONS), f"a round trip of {median_ms:.1f} ms: the line is full"


async def test_a_dead_converter_pages_once_for_the_gateway_and_holds_its_stations(tmp_path: Path) -> None:
    """The converter stops (connections refused): the gateway's offline alert pages, one
    ticket; the 8 stations' no-data alerts fire under it (``offline:gw-east``), no ticket of
    their own; the stations are offline in the registry. The converter comes back: stations
    and gateway answer again, every alert resolves, and still only the gateway's ticket.

    Rule delays as the README's rule wants, compressed: the gateway's after_s (0.6 s) plus
    its poll interval (0.2 s) below the stations' after_s (1.5 s) minus theirs (0.2 s).
    gateway-line-silent (connected, nobody answering) waits 2 s: the stations answer again
    within the back-off cap (0.4 s) of the converter's return, so it must not fire.
    """
    raw = example_config()
    rules = [_example_rule(raw, "gateway-offline", after_s=0.6),
             _example_rule(raw, "gateway-line-silent", for_s=2.0),
             _example_rule(raw, "no-data", after_s=1.5)]
    every = [GATEWAY, *STATIONS]
    with _rtu_line() as (converter_end, _):
        async with RtuBridge(converter_end, baudrate=BAUDRATE) as bridge:
            assets = _gateway_assets(bridge.port, station_poll_s=0.2, gateway_poll_s=0.2)
            async with _running(_world(tmp_path, profiles=[BOX_PROFILE], assets=assets, rules=rules)) as run:
                health = run.parts.health
                for asset_id in every:
                    await health.wait_for(asset_id, lambda h: h.state is HealthState.ONLINE, timeout_s=WAIT_S)
                # Steady state: the gateway's first poll may come before any station's and count
                # 0 answering; stopped before its next, gateway-line-silent would fire (below).
                await _until(run, "the gateway counting its stations", _answering, lambda n: n == len(STATIONS))

                await bridge.stop()
                silent = {(GATEWAY, "gateway-offline"), *((station, "no-data") for station in STATIONS)}
                firing = await _until(run, "the gateway's and the stations' alerts", _firing,
                                      lambda f: f >= silent)
                assert firing == silent, f"alerts not expected: {firing - silent}"
                for asset_id in every:
                    await health.wait_for(asset_id, lambda h: h.state is HealthState.OFFLINE, timeout_s=WAIT_S)
                down, down_tickets = _alerts(run.parts), _tickets(run.parts)

                await bridge.start()
                for asset_id in every:
                    await health.wait_for(asset_id, lambda h: h.state is HealthState.ONLINE, timeout_s=WAIT_S)
                await _until(run, "every alert resolved", _firing, lambda f: not f)
                back, back_tickets = _alerts(run.parts), _tickets(run.parts)

    assert [(asset_id, rule_id) for _, asset_id, rule_id, _ in down_tickets] == [(GATEWAY, "gateway-offline")], \
        f"one ticket, the gateway's: {down_tickets}"
    ticket_id = down_tickets[0][0]
    assert back_tickets[0][:3] == down_tickets[0][:3] and len(back_tickets) == 1, f"after: {back_tickets}"
    assert back_tickets[0][3] != "closed", "the gateway's ticket waits for a technician"
    for alerts, state in ((down, "firing"), (back, "resolved")):
        assert sorted((a.asset_id, a.rule_id, a.state) for a in alerts) == sorted(
            (asset_id, rule_id, state) for asset_id, rule_id in silent), f"{state}: {alerts}"
        [gateway] = [a for a in alerts if a.asset_id == GATEWAY]
        assert (gateway.suppressed_by, gateway.ticket_id) == (None, ticket_id), gateway
        held = {(a.suppressed_by, a.ticket_id) for a in alerts if a.asset_id != GATEWAY}
        assert held == {(f"offline:{GATEWAY}", None)}, f"the stations' alerts while {state}: {held}"
