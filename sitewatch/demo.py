"""``sitewatch demo``: simulated stations, cameras and alarm hosts, watched end to end.

The demo configuration is the shipped example (profile, rules, SLA zones) with the
assets replaced by simulated ones on loopback, so what the demo shows is what a real
deployment runs: Modbus regulator stations (some behind a DTU gateway: demo_gateway.py),
ONVIF cameras whose passwords sit in the encrypted vault, and alarm hosts publishing to
an MQTT broker (a private Mosquitto when one is installed, else an embedded one). Before
the fleet goes live, a week of its past is written into the new stores
(sitewatch/history/), with one user per role. Paging sends its messages to an inbox
simulator on loopback (sitewatch/demo_paging.py), whose page shows what the people on
duty and their group chats were sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sitewatch import i18n
from sitewatch.broker import demo_broker
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo_gateway import (
    GATEWAY_ID,
    add_gateway,
    gateway_page_line,
    gateway_schedule_line,
    gateway_specs,
    gateway_station_specs,
)
from sitewatch.demo_paging import DemoPaging, PagingSecrets, inbox_config, paging_section, put_credentials
from sitewatch.domain.time import Clock, ShiftedClock, SystemClock
from sitewatch.history.people import TECHNICIAN, Login, add_people, demo_people, logins_table
from sitewatch.history.seed import Fleet, seed_history
from sitewatch.paging.planner import settle_past
from sitewatch.serve import serve
from sitewatch.simulators.alarmhost.control import ControlServer as HostControl
from sitewatch.simulators.alarmhost.fleet import AlarmHostFleet
from sitewatch.simulators.alarmhost.fleet import build as build_hosts
from sitewatch.simulators.alarmhost.spec import FleetConfig as HostFleetConfig
from sitewatch.simulators.alarmhost.spec import HostSpec, make_host_specs
from sitewatch.simulators.camera.control import ControlServer as CameraControl
from sitewatch.simulators.camera.fleet import CameraFleet
from sitewatch.simulators.camera.fleet import build as build_cameras
from sitewatch.simulators.camera.spec import CameraSpec, make_camera_specs
from sitewatch.simulators.camera.spec import FleetConfig as CameraFleetConfig
from sitewatch.simulators.inbox.server import build as build_inbox
from sitewatch.simulators.regulator.control import ControlServer
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from sitewatch.storage.tables import UserRow
from sitewatch.vault import generate_key

log = logging.getLogger(__name__)

# (id, name, address, SLA zone, time zone): three sites in different SLA zones.
SITES = (
    ("centre", "Centre district", "Inside the 1st ring road", "ring1", "Asia/Shanghai"),
    ("north", "North district", "North 2nd ring road", "ring2", "Asia/Shanghai"),
    ("county", "Shunyi county", "Neighbouring county", "county", "Asia/Shanghai"),
)

# (seconds after start, asset, fault or action, inject?) — the first ticket appears within
# two minutes: the outlet passes 2.9 kPa ~1 s after the fault, then 10 s of duration.
SCHEDULE = (
    (30, "rs-003", "regulator_failure", True),
    (60, "cam-005", "tamper", True),
    (75, "ah-002", "zone_fault", True),
    (90, "cam-012", "video_loss", True),
    (150, "rs-003", "regulator_failure", False),
    (180, "rs-011", "comm_loss", True),
    (240, "cam-012", "video_loss", False),
    (300, "rs-011", "comm_loss", False),
    (330, "rs-007", "pipe_burst", True),
    (420, "rs-007", "pipe_burst", False),
    (480, GATEWAY_ID, "comm_loss", True),  # one gateway ticket, its stations held under it
    (660, GATEWAY_ID, "comm_loss", False),
)
TOPIC_PREFIX = "sitewatch/alarmhost"
# The county site is another customer's, so that a user scoped to one customer can be tried.
SECOND_CUSTOMER = {"id": "shunyi-gas", "name": "Shunyi Gas Co.", "phone": "+86 10 0000 0002"}
SITE_CUSTOMERS = {"county": SECOND_CUSTOMER["id"]}
# Field plant on the inspection plans (valve wells, valves, cathodic-protection points).
PLANT = {
    "centre": [{"id": "well-c-1", "kind": "valve_well", "name": "Valve well by the canal", "low_lying": True},
               {"id": "valve-c-1", "kind": "valve", "name": "Main valve", "dn_mm": 150}],
    "north": [{"id": "well-n-1", "kind": "valve_well", "name": "Valve well at the crossing"},
              {"id": "cp-n-1", "kind": "cathodic_protection", "name": "CP test point 1"}],
    "county": [{"id": "valve-y-1", "kind": "valve", "name": "Service valve", "dn_mm": 50},
               {"id": "cp-y-1", "kind": "cathodic_protection", "name": "CP test point 2"}],
}
TOKEN_ROLE = "manager"  # the printed API token: every ticket move and the 08:30 log, no user admin


@dataclass(frozen=True)
class DemoOptions:
    stations: int = 20
    gateway_stations: int = 4  # behind one DTU gateway on the north site (0: no gateway)
    cameras: int = 30
    alarm_hosts: int = 5
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str | None = None
    poll_interval_s: float = 5.0
    camera_interval_s: float = 30.0
    schedule: bool = True
    site_time: dt.time | None = None  # start the clock at this local time at the sites (None: real time)
    history: bool = True  # a week of past in new stores (users are made either way)


@dataclass
class Fleets:
    stations: RegulatorFleet
    cameras: CameraFleet
    hosts: AlarmHostFleet


def example_config() -> dict:
    text = resources.files("sitewatch.config").joinpath("sitewatch.example.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def demo_raw_config(
    station_ports: dict[str, int], *, data_dir: Path, host: str, port: int, poll_interval_s: float, token_sha256: str
) -> dict:
    """The example configuration with simulated stations as its assets, unvalidated."""
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"host": host, "port": port, "tokens": [{"name": "demo-operator", "sha256": token_sha256}]}
    raw["sites"] = [
        {"id": i, "customer": raw["customers"][0]["id"], "name": n, "address": a, "sla_zone": z, "time_zone": tz}
        for i, n, a, z, tz in SITES
    ]
    limits, regulator = raw["assets"][0]["limits"], raw["assets"][0]["regulator"]
    raw["assets"] = [
        {
            "id": station_id,
            "site": SITES[number % len(SITES)][0],
            "kind": "regulator_station",
            "name": f"Regulator station {station_id[3:]}",
            "poll_interval_s": poll_interval_s,
            "modbus": {"host": "127.0.0.1", "port": station_port, "device_id": 1,
                       "profile": "regulator-v1", "timeout_s": 1.0},
            "limits": limits,
            "regulator": regulator,  # the simulator's StationSpec defaults
        }
        for number, (station_id, station_port) in enumerate(station_ports.items())
    ]
    raw.pop("mqtt")  # only wanted with alarm hosts
    return raw


def add_security_assets(raw: dict, cameras: Sequence[CameraSpec], hosts: Sequence[HostSpec], *,
                        camera_port: Callable[[str], int], broker: tuple[str, int], camera_interval_s: float,
                        key_file: Path) -> None:
    """Cameras (passwords in the vault, by name) and alarm hosts (over the broker)."""
    raw["vault"] = {"key_file": str(key_file)}
    raw["mqtt"] = {"host": broker[0], "port": broker[1], "client_id": "sitewatch-demo", "topic_prefix": TOPIC_PREFIX}
    for number, spec in enumerate(cameras):
        raw["assets"].append({
            "id": spec.camera_id, "site": SITES[number % len(SITES)][0], "kind": "camera",
            "name": f"Camera {spec.camera_id[4:]}", "poll_interval_s": camera_interval_s,
            "onvif": {"host": "127.0.0.1", "port": camera_port(spec.camera_id),
                      "credential": spec.camera_id, "timeout_s": 3.0, "events_interval_s": 2.0},
        })
    for number, spec in enumerate(hosts):
        raw["assets"].append({
            "id": spec.host_id, "site": SITES[number % len(SITES)][0], "kind": "alarm_host",
            "name": f"Alarm host {spec.host_id[3:]}", "alarm_host": {"host_id": spec.host_id, "zones": spec.zones},
        })


def add_customers_and_plant(raw: dict) -> None:
    """A second customer, field plant on every site and the technician who inspects it."""
    raw["customers"].append(dict(SECOND_CUSTOMER))
    for site in raw["sites"]:
        site["customer"] = SITE_CUSTOMERS.get(site["id"], site["customer"])
        site["technicians"] = {"default": TECHNICIAN.username}
        site["plant"] = [dict(item) for item in PLANT.get(site["id"], ())]


def scheduled_assets() -> frozenset[str]:
    """The assets the live fault schedule works on: the history's stories keep off them."""
    return frozenset(asset_id for _, asset_id, _, _ in SCHEDULE)


def demo_config(fleet: Fleet, *, station_port: Callable[[str], int], camera_port: Callable[[str], int],
                broker: tuple[str, int], options: DemoOptions, data_dir: Path, token_sha256: str,
                paging: DemoPaging | None = None) -> Config:
    """The demo's whole configuration for a fleet whose simulators listen on these ports
    (and, given ``paging``, whose messages go to its inbox)."""
    own = {s.station_id: station_port(s.station_id) for s in fleet.stations if s.gateway is None}
    raw = demo_raw_config(own, data_dir=data_dir, host=options.host, port=options.port,
                          poll_interval_s=options.poll_interval_s, token_sha256=token_sha256)
    raw["api"]["tokens"][0]["role"] = TOKEN_ROLE
    add_gateway(raw, fleet.stations, station_port=station_port, poll_interval_s=options.poll_interval_s)
    add_security_assets(raw, fleet.cameras, fleet.hosts, camera_port=camera_port, broker=broker,
                        camera_interval_s=options.camera_interval_s, key_file=_key_file(data_dir))
    add_customers_and_plant(raw)
    if paging is not None:
        raw["paging"] = paging_section(paging)
    return config_from_dict(raw, source="demo")


def demo_fleet(options: DemoOptions) -> Fleet:
    stations = make_station_specs(options.stations, seed=2026)
    behind = gateway_station_specs(options.gateway_stations, seed=2026 + options.stations)
    return Fleet(stations + behind, make_camera_specs(options.cameras, seed=2026), make_host_specs(options.alarm_hosts))


async def run_demo(options: DemoOptions, *, stop: asyncio.Event) -> None:
    data_dir = Path(options.data_dir) if options.data_dir else Path(tempfile.mkdtemp(prefix="sitewatch-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(16)
    clock = demo_clock(options.site_time)
    fleet = demo_fleet(options)
    async with contextlib.AsyncExitStack() as stack:
        stations = build(FleetConfig(stations=tuple(fleet.stations), gateways=gateway_specs(fleet.stations)),
                         clock=clock)
        cameras = build_cameras(CameraFleetConfig(cameras=fleet.cameras), clock=clock)
        broker = await stack.enter_async_context(demo_broker())
        hosts = build_hosts(HostFleetConfig(broker_host=broker[0], broker_port=broker[1], topic_prefix=TOPIC_PREFIX,
                                            run_id="demo", hosts=fleet.hosts), clock=clock)
        fleets = Fleets(stations, cameras, hosts)
        controls = [ControlServer(stations), CameraControl(cameras), HostControl(hosts)]
        paging_secrets = PagingSecrets.generate()
        inbox = build_inbox(inbox_config(paging_secrets, time_zone=SITES[0][4]), clock=clock)
        for part in (stations, cameras, *controls, inbox):
            await part.start()
            stack.push_async_callback(part.stop)

        port = options.port or _free_port(options.host)
        paging = DemoPaging(inbox_url=inbox.url, dashboard_url=f"http://{options.host}:{port}", now=clock.now(),
                            time_zone=SITES[0][4])
        config = demo_config(fleet, station_port=stations.port_of, camera_port=cameras.port_of, broker=broker,
                             options=options, data_dir=data_dir,
                             token_sha256=hashlib.sha256(token.encode()).hexdigest(), paging=paging)
        past = await asyncio.to_thread(write_past, config, clock, fleet, options)
        # Built after the past is written: the rules engine counts silence from its start,
        # and the seconds of seeding would read as every device gone quiet.
        parts = build_components(config, clock=clock)
        stack.callback(parts.close)
        assert parts.vault is not None
        for spec in cameras.cameras:  # as the after-sales lead would with `sitewatch vault set`
            parts.vault.put(spec.camera_id, username=spec.username, password=spec.password,
                            actor="demo", now=parts.clock.now())
        put_credentials(parts.vault, paging_secrets, now=parts.clock.now())

        async def ready(port: int) -> None:
            await hosts.start()  # after the consumer subscribed: nothing they say is missed
            stack.push_async_callback(hosts.stop)
            with i18n.using(console_locale()):
                print(banner(options, config, port=port, token=token, data_dir=data_dir, past=past,
                             urls=[c.url for c in controls], inbox=inbox.url), flush=True)

        schedule = asyncio.create_task(_play(fleets), name="fault-schedule") if options.schedule else None
        try:
            await serve(parts, host=options.host, port=port, stop=stop, on_ready=ready)
        finally:
            if schedule is not None:
                schedule.cancel()
                await asyncio.gather(schedule, return_exceptions=True)


@dataclass(frozen=True)
class Past:
    """What the demo starts with: the week just seeded (and how long it took), a previous
    run's stores, or empty ones."""

    seeded_in_s: float | None
    reused: bool
    logins: list[Login]

    def describe(self) -> str:
        _ = i18n.gettext
        if self.seeded_in_s is not None:
            return _("a week up to now, written in %(seconds).1f s", seconds=self.seeded_in_s)
        return _("kept from the previous run in this folder") if self.reused else _("none (--no-history)")


def write_past(config: Config, clock: Clock, fleet: Fleet, options: DemoOptions) -> Past:
    """Seed the week in new stores, else only (re)make the users' passwords."""
    people = demo_people(scoped_customer=SECOND_CUSTOMER["id"])
    parts = build_components(config, clock=clock)
    try:
        with parts.sessions() as session:
            reused = session.scalars(select(UserRow.id).limit(1)).first() is not None
        if options.history and not reused:
            seeded = seed_history(parts, fleet, people=people, locale=i18n.DEFAULT_LOCALE,
                                  avoid=scheduled_assets() if options.schedule else ())
            # The week was written after the fact: its tickets are history, not news to page anyone about.
            settle_past(parts.sessions, now=parts.clock.now())
            return Past(sum(seeded.seconds.values()), False, seeded.logins)
        return Past(None, reused, add_people(parts.sessions, people, at=parts.clock.now()))
    finally:
        parts.close()


def banner(options: DemoOptions, config: Config, *, port: int, token: str, data_dir: Path, past: Past,
           urls: Sequence[str], inbox: str | None = None) -> str:
    """What the demo prints once it serves: where to look, how to log in, what will happen."""
    _ = i18n.gettext
    count = {kind: sum(1 for a in config.assets if a.kind == kind) for kind in ("regulator_station", "camera",
                                                                                "alarm_host")}
    base = f"http://{options.host}:{port}"
    lines = [
        "",
        _("Sitewatch demo: %(stations)s regulator stations, %(cameras)s cameras, %(hosts)s alarm hosts on "
          "%(sites)s sites", stations=count["regulator_station"], cameras=count["camera"],
          hosts=count["alarm_host"], sites=len(config.sites)),
        "  " + _("dashboard:  %(url)s", url=base + "/"),
        "  " + _("API docs:   %(url)s", url=base + "/docs"),
        "  " + _("API write token (role %(role)s): %(token)s  (header Authorization: Bearer)", role=_(TOKEN_ROLE),
                 token=token),
        "  " + _("history:    %(past)s", past=past.describe()),
        "  " + _("data:       %(folder)s", folder=data_dir),
        "  " + _("simulators: %(stations)s  %(cameras)s  %(hosts)s", stations=urls[0] + "/stations",
                 cameras=urls[1] + "/cameras", hosts=urls[2] + "/hosts"),
    ]
    if inbox is not None:
        lines.append("  " + _("messages sent: %(url)s", url=inbox + "/"))
    lines += gateway_page_line(config, base)
    lines += [
        "  " + _("inject a fault yourself:"),
        f"    sitewatch simulate inject --control {urls[0]} --station rs-004 --fault pipe_burst",
    ]
    if options.schedule:
        lines.append("  " + _("scheduled: regulator failure on rs-003 at +30 s (a ticket within two minutes), camera "
                              "tamper at +60 s, alarm zone fault at +75 s, video loss at +90 s, comm loss at +180 s"))
        lines += gateway_schedule_line(config, SCHEDULE)
    lines += ["  " + _("logins (passwords made for this run):"), logins_table(past.logins),
              "  " + _("Ctrl-C stops."), ""]
    return "\n".join(lines)


def console_locale() -> str:
    """The terminal's language (LC_ALL, LC_MESSAGES, LANG) when Sitewatch speaks it, else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return i18n.normalise(value.split(".")[0]) or "en"
    return "en"


def demo_clock(site_time: dt.time | None) -> Clock:
    """The real clock, or one that starts today at ``site_time`` at the demo's sites (they
    share one zone) and runs on at the real pace: simulators and service alike follow it."""
    if site_time is None:
        return SystemClock()
    zone = ZoneInfo(SITES[0][4])
    return ShiftedClock(dt.datetime.combine(SystemClock().now().astimezone(zone).date(), site_time, zone))


def _free_port(host: str) -> int:
    """A port free now, for ``--port 0``: the messages' links must name the dashboard's port
    before it is bound (another process taking it meanwhile makes the start fail, and say so)."""
    with socket.create_server((host, 0)) as sock:
        return sock.getsockname()[1]


def _key_file(data_dir: Path) -> Path:
    """A fresh vault key for this demo, readable by its owner only (the vault refuses others)."""
    path = data_dir / "vault.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate_key() + "\n")
    return path


async def _play(fleets: Fleets) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    for at_s, asset_id, fault, inject in SCHEDULE:
        await asyncio.sleep(max(0.0, started + at_s - loop.time()))
        if asset_id.startswith("rs-") and asset_id in {s.station_id for s in fleets.stations.stations}:
            await (fleets.stations.inject(asset_id, fault) if inject else fleets.stations.clear(asset_id, fault))
        elif asset_id in {g.gateway_id for g in fleets.stations.gateway_specs}:
            gateways = fleets.stations.gateways
            await (gateways.inject(asset_id, fault) if inject else gateways.clear(asset_id, fault))
        elif asset_id.startswith("cam-") and asset_id in {c.camera_id for c in fleets.cameras.cameras}:
            await (fleets.cameras.inject(asset_id, fault) if inject else fleets.cameras.clear(asset_id, fault))
        elif asset_id.startswith("ah-") and asset_id in {h.host_id for h in fleets.hosts.hosts}:
            await fleets.hosts.act(asset_id, fault, zone=3 if fault.startswith("zone_") else None)
        else:
            continue
        log.info("demo schedule: %s %s on %s", "injected" if inject else "cleared", fault, asset_id)
