"""The demo's Modbus gateway (sitewatch/demo_gateway.py): one simulated DTU carrying RTU
frames over TCP with four regulator stations behind it on the north site.

Its configuration and its place in the live fault schedule and the banner are read
directly; then the demo's stations and gateway run in this event loop against a whole
Sitewatch service (tests/sitewatch/service.py) with the gateway rules' timings divided by
ten, and the gateway is taken down and brought back as the schedule does: one gateway
ticket, the stations' no-data alerts held under it, the gateway's page listing them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from sitewatch import i18n
from sitewatch.config.models import Config
from sitewatch.demo import SCHEDULE, DemoOptions, Past, banner, demo_config, demo_fleet, demo_raw_config
from sitewatch.demo_gateway import GATEWAY_ID, GATEWAY_NAME, GATEWAY_SITE, add_gateway, gateway_specs
from sitewatch.domain.samples import Quality
from sitewatch.simulators.regulator.fleet import build
from sitewatch.simulators.regulator.spec import FleetConfig
from sitewatch.storage.tables import AlertRow, TicketRow
from tests.api.test_gateway_pages import station_rows
from tests.sitewatch.service import Service

GATEWAY_PORT = 4001  # where these configuration-only tests say the simulated DTU listens
BEHIND = [f"{GATEWAY_ID}-rs-{n:03d}" for n in range(1, 5)]  # device ids 1..4
ANSWERING, THROUGH = "answering", f"not answering through gateway {GATEWAY_NAME}, which is down"  # in English


def config_of(options: DemoOptions, data_dir: Path) -> Config:
    """The demo's whole configuration, its own stations at 1502 and the gateway at GATEWAY_PORT."""
    def port(station_id: str) -> int:  # the simulator reports a station behind a gateway at the gateway's port
        return GATEWAY_PORT if station_id.startswith(f"{GATEWAY_ID}-") else 1502

    return demo_config(demo_fleet(options), station_port=port, camera_port=lambda _: 8080,
                       broker=("127.0.0.1", 1883), options=options, data_dir=data_dir, token_sha256="0" * 64)


def english_banner(options: DemoOptions, config: Config, data_dir: Path) -> str:
    with i18n.using("en"):
        return banner(options, config, port=8000, token="T", data_dir=data_dir, past=Past(None, False, []),
                      urls=["http://s", "http://c", "http://h"])


def rule(config: Config, rule_id: str):
    return next(r for r in config.rules if r.id == rule_id)


def test_the_demo_has_a_dtu_with_four_stations_behind_it_that_depend_on_it(tmp_path):
    options = DemoOptions(stations=3, cameras=1, alarm_hosts=1)
    config = config_of(options, tmp_path)
    gateway = config.asset(GATEWAY_ID)
    assert gateway.kind == "modbus_gateway" and gateway.site == GATEWAY_SITE
    link = gateway.modbus_gateway
    assert link is not None and (link.framing, link.host, link.port) == ("rtu_over_tcp", "127.0.0.1", GATEWAY_PORT)
    behind = {a.id: a for a in config.assets if a.modbus is not None and a.modbus.gateway == GATEWAY_ID}
    assert list(behind) == BEHIND, "four stations behind the gateway, by device id"
    for device_id, asset in enumerate(behind.values(), start=1):
        assert asset.kind == "regulator_station" and asset.site == GATEWAY_SITE and asset.depends_on == GATEWAY_ID
        assert asset.modbus.device_id == device_id and asset.modbus.profile == "regulator-v1"
        assert asset.limits == config.asset("rs-001").limits, "judged as the stations beside them are"
    own = [a for a in config.assets if a.modbus is not None and a.modbus.gateway is None]
    assert [a.id for a in own] == ["rs-001", "rs-002", "rs-003"], "the other stations keep their own ports"
    assert all(a.modbus.port == 1502 for a in own)

    # The simulator built from the same fleet has the gateway, its stations at their device ids.
    fleet = demo_fleet(options)
    assert [g.gateway_id for g in gateway_specs(fleet.stations)] == [GATEWAY_ID]
    assert [(s.station_id, s.device_id) for s in fleet.stations if s.gateway == GATEWAY_ID] == [
        (station, n) for n, station in enumerate(BEHIND, start=1)]
    assert len({s.seed for s in fleet.stations}) == len(fleet.stations), "every station its own model"


def test_the_gateway_rule_fires_before_its_stations(tmp_path):
    """collector/modbus/README.md: the gateway's after_s plus its poll interval below the
    stations' after_s minus theirs. (Stations backing off are polled at once when their
    gateway answers again: collector/scheduler.py, PollJob.upstream.)"""
    for poll_s in (5.0, 10.0, 0.5):
        config = config_of(DemoOptions(stations=1, cameras=1, alarm_hosts=1, poll_interval_s=poll_s), tmp_path)
        gateway, station = config.asset(GATEWAY_ID), config.asset(BEHIND[0])
        first = rule(config, "gateway-offline").after_s + gateway.poll_interval_s
        assert first < rule(config, "no-data").after_s - station.poll_interval_s, f"poll {poll_s} s"


def test_no_gateway_when_asked_for_none(tmp_path):
    options = DemoOptions(stations=3, cameras=1, alarm_hosts=1, gateway_stations=0)
    config = config_of(options, tmp_path)
    assert not [a for a in config.assets if a.kind == "modbus_gateway" or (a.modbus and a.modbus.gateway)]
    assert gateway_specs(demo_fleet(options).stations) == ()
    assert GATEWAY_ID not in english_banner(options, config, tmp_path)


def test_the_schedule_takes_the_gateway_down_once_for_a_few_minutes_and_the_banner_says_so(tmp_path):
    events = [(at, fault, inject) for at, asset, fault, inject in SCHEDULE if asset == GATEWAY_ID]
    assert [(fault, inject) for _, fault, inject in events] == [("comm_loss", True), ("comm_loss", False)], events
    (down, _, _), (up, _, _) = events
    assert 120 <= up - down <= 300, f"down for {up - down} s"
    assert [at for at, *_ in SCHEDULE] == sorted(at for at, *_ in SCHEDULE), "played in order"
    options = DemoOptions(stations=3, cameras=1, alarm_hosts=1)
    text = english_banner(options, config_of(options, tmp_path), tmp_path)
    assert f"gateway:    http://127.0.0.1:8000/asset/{GATEWAY_ID} (stations behind it: 4)" in text, text
    assert f"scheduled: gateway {GATEWAY_ID} down at +{down} s for {round((up - down) / 60)} min" in text, text
    assert "20 regulator stations" not in text and "7 regulator stations" in text, "those behind it count too"


# The gateway rules' timings of the example divided by ten, and the stations' no-data's and
# the holds' grace with them, so that their order (the gateway's first) is the demo's.
POLL_S = 0.5
TIMINGS = {"gateway-offline": {"after_s": 1.5}, "no-data": {"after_s": 3.0}, "gateway-line-silent": {"for_s": 2.0}}


def live_raw_config(ports: Callable[[str], int], stations, data_dir: Path) -> dict:
    """The demo's stations and gateway (no cameras or alarm hosts) with faster rules."""
    raw = demo_raw_config({s.station_id: ports(s.station_id) for s in stations if s.gateway is None},
                          data_dir=data_dir, host="127.0.0.1", port=0, poll_interval_s=POLL_S, token_sha256="0" * 64)
    for entry in raw["rules"]:
        entry |= TIMINGS.get(entry["id"], {})
    raw["rules_engine"] |= {"tick_s": 0.2, "release_grace_s": 6.0}
    raw["collector"] |= {"backoff_max_s": 1.0}
    raw["storage"]["flush_interval_s"] = 0.2
    add_gateway(raw, stations, station_port=ports, poll_interval_s=POLL_S)  # its hold follows the back-off above
    return raw


def rows(service: Service) -> tuple[list[AlertRow], list[TicketRow]]:
    with service.parts.sessions() as session:
        alerts = list(session.scalars(select(AlertRow).order_by(AlertRow.id)))
        tickets = list(session.scalars(select(TicketRow).order_by(TicketRow.id)))
        session.expunge_all()
    return alerts, tickets


async def wait_for(what: str, check: Callable[[], object], *, timeout_s: float) -> object:
    """``check()`` once it is truthy; the service writes from its own tasks, so look again."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)


async def connections(service: Service) -> dict[str, str]:
    """The gateway page's stations: id -> what its connection cell says."""
    async with service.client() as client:
        page = await client.get(f"/asset/{GATEWAY_ID}", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text[:300]
    return {station: cells[3] for station, cells in station_rows(page.text).items()}


async def test_a_dead_gateway_is_one_ticket_with_its_stations_held_under_it(tmp_path):
    fleet = demo_fleet(DemoOptions(stations=3, cameras=1, alarm_hosts=1))
    simulator = build(FleetConfig(stations=tuple(fleet.stations), gateways=gateway_specs(fleet.stations)))
    async with simulator:
        await simulator.inject(BEHIND[2], "mains_loss")  # tells device id 3's answers from the others'
        async with Service(live_raw_config(simulator.port_of, fleet.stations, tmp_path)) as service:
            # Up: every station answers through the gateway, each with its own values.
            def mains() -> dict[str, float] | None:
                latest = service.parts.store.latest(asset_ids=BEHIND)
                found = {s.asset_id: s.value for s in latest if s.channel == "mains_ok" and s.quality is Quality.GOOD}
                return found if len(found) == len(BEHIND) else None

            assert await wait_for("a sample of every station behind the gateway", mains, timeout_s=5) == {
                BEHIND[0]: 1.0, BEHIND[1]: 1.0, BEHIND[2]: 0.0, BEHIND[3]: 1.0}
            assert await connections(service) == dict.fromkeys(BEHIND, ANSWERING), "listed, by device id"

            # Down: one ticket for the gateway, its stations' silence recorded under it.
            await simulator.gateways.inject(GATEWAY_ID, "comm_loss")

            def held() -> bool:
                alerts, _ = rows(service)
                return {a.asset_id for a in alerts if a.rule_id == "no-data" and a.state == "firing"} == set(BEHIND)

            await wait_for("the no-data alerts of the four stations", held, timeout_s=8)
            alerts, tickets = rows(service)
            assert [(t.asset_id, t.rule_id) for t in tickets] == [(GATEWAY_ID, "gateway-offline")], [
                (t.asset_id, t.title) for t in tickets]
            silent = [a for a in alerts if a.asset_id in BEHIND]
            assert {(a.asset_id, a.suppressed_by, a.ticket_id) for a in silent} == {
                (station, f"offline:{GATEWAY_ID}", None) for station in BEHIND}, [
                (a.asset_id, a.rule_id, a.suppressed_by, a.ticket_id) for a in silent]
            assert await connections(service) == dict.fromkeys(BEHIND, THROUGH), "offline, through the gateway"

            # Back: everything resolves, and the stations never got a ticket of their own.
            await simulator.gateways.clear(GATEWAY_ID, "comm_loss")

            def resolved() -> bool:
                return not [a for a in rows(service)[0] if a.state == "firing"]

            # Resolved, a held alert can no longer be announced: what is written now stays.
            await wait_for("every alert resolved after the gateway came back", resolved, timeout_s=8)
            alerts, tickets = rows(service)
    assert [(t.asset_id, t.rule_id) for t in tickets] == [(GATEWAY_ID, "gateway-offline")], "one ticket, not five"
    assert all(a.ticket_id is None for a in alerts if a.asset_id in BEHIND), [
        (a.asset_id, a.rule_id, a.ticket_id) for a in alerts]
