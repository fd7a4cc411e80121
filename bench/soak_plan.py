"""What the soak (bench/soak.py) runs: the demo's configuration with production stores and its
time compressed, and the plan of faults and restarts.

Compression by a factor F: every duration that makes up the fleet's life is divided by F —
poll intervals (stations 5 s, cameras 30 s in the demo), alarm-host heartbeats (30 s), the
rules' ``for_s``, ``after_s``, ``escalate_after_s``, night-creep ``gap_s``/``settle_s``, the
correlation window, the flap window, the release grace and the collector's back-off cap. So
the fleet produces F times the samples, judgements and faults per wall second: one hour of its
life passes in 60/F wall minutes. Not compressed: the simulated physics (a failed regulator's
outlet still climbs 0.5 kPa/s), the rate-of-change rules' windows (rates are physical), device
timeouts, the rules tick (1 s), the store's flush interval, camera event pulls (2 s), SLA
deadlines (hours) and the wall clock the devices stamp their data with.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from bench.fleet_config import CAMERA_CREDENTIAL
from sitewatch.demo import DemoOptions, add_customers_and_plant, add_security_assets, demo_fleet, demo_raw_config
from sitewatch.demo_gateway import GATEWAY_ID, add_gateway
from sitewatch.simulators.regulator.spec import StationSpec

RULE_DURATIONS = ("for_s", "after_s", "escalate_after_s", "gap_s", "settle_s")
ENGINE_DURATIONS = ("flap_window_s", "release_grace_s")
HOST_HEARTBEAT_S = 30.0  # the simulator's default, what the demo's hosts send


def soak_config(*, factor: float, ports: dict, data_dir: Path, database_url: str, vm_url: str,
                broker_port: int, key_file: Path, api_port: int) -> dict:
    """The demo's configuration (sitewatch/demo.py) for the fleet bench/soak_fleet.py serves,
    with records in PostgreSQL, samples on VictoriaMetrics, no paging, and time compressed."""
    fleet = demo_fleet(DemoOptions())
    options = DemoOptions()
    station_ports = ports["stations"]
    own = {s.station_id: station_ports[s.station_id] for s in fleet.stations if s.gateway is None}
    raw = demo_raw_config(own, data_dir=data_dir, host="127.0.0.1", port=api_port,
                          poll_interval_s=options.poll_interval_s / factor, token_sha256="0" * 64)
    compress_rules(raw, factor)  # first: the gateway's poll interval follows the no-data rules
    add_gateway(raw, fleet.stations, station_port=station_ports.__getitem__,
                poll_interval_s=options.poll_interval_s / factor)
    add_security_assets(raw, fleet.cameras, fleet.hosts, camera_port=ports["cameras"].__getitem__,
                        broker=("127.0.0.1", broker_port), camera_interval_s=options.camera_interval_s / factor,
                        key_file=key_file)
    add_customers_and_plant(raw)
    for asset in raw["assets"]:
        if "onvif" in asset:  # every simulated camera answers admin / sitewatch: one vault entry
            asset["onvif"]["credential"] = CAMERA_CREDENTIAL
    raw["storage"] |= {
        "timeseries": "influx",
        "database_url": database_url,
        "influx": {"url": vm_url, "write_api": "v2", "reader": "victoriametrics", "measurement": "samples",
                   "gzip": False},
    }
    return raw


def compress_rules(raw: dict, factor: float) -> None:
    for rule in raw["rules"]:
        for key in RULE_DURATIONS:
            if key in rule:
                rule[key] = rule[key] / factor
    raw["correlation"]["window_s"] = raw["correlation"].get("window_s", 1800.0) / factor
    engine = raw.setdefault("rules_engine", {})
    for key in ENGINE_DURATIONS:
        if key in engine:
            engine[key] = engine[key] / factor
    collector = raw.setdefault("collector", {})
    collector["backoff_max_s"] = collector.get("backoff_max_s", 60.0) / factor


# --- faults ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault: what to inject where, how to end it, and the ticket it should open."""

    collection: str  # the control API it goes through: stations, gateways, cameras, hosts
    asset: str
    fault: str  # the simulator's fault name, or the alarm host's action
    group: str  # the fault group (``[correlation.faults]``) of the one ticket it should open
    restore: str | None = None  # alarm hosts: the action that ends it
    zone: int | None = None
    hold_s: float = 90.0  # fleet seconds until it is cleared


# Fault kinds in the order they take turns; each asset gets at most one fault of a family, so
# that every fault should open a ticket of its own (a second pressure fault on a station would
# rightly join the first one's ticket while the correlation window runs).
STATION_PRESSURE = (("regulator_failure", "pressure-control"), ("slam_shut_trip", "downstream-loss"),
                    ("pipe_burst", "downstream-loss"))
STATION_OTHER = (("gas_leak", "gas"), ("door_open", "door"), ("comm_loss", "communication"))
CAMERA = (("video_loss", "picture"), ("tamper", "tamper"))
HOST = (("zone_fault", "zone_fault_restore", "detector"), ("zone_alarm", "zone_restore", "intrusion"),
        ("tamper", "tamper_restore", "tamper"))
GATEWAY_HOLD_S = 180.0  # the demo's DTU outage: 3 minutes


def fault_plan(minutes: int, *, broker_minutes: frozenset[int]) -> list[Fault]:
    """One fault per fleet minute, kinds taking turns, assets drawn so that none repeats a
    family; the DTU gateway goes down once, mid-run; at the broker's restarts an alarm host
    acts (its event waits in the simulator's MQTT client for the broker to return)."""
    fleet = demo_fleet(DemoOptions())
    own: list[StationSpec] = [s for s in fleet.stations if s.gateway is None]
    pressure = iter(_station_faults(own, STATION_PRESSURE))
    other = iter(_station_faults(list(reversed(own)), STATION_OTHER))
    cameras = iter(Fault("cameras", c.camera_id, *CAMERA[n % len(CAMERA)]) for n, c in enumerate(fleet.cameras))
    hosts = iter(Fault("hosts", h.host_id, action, group, restore=restore, zone=1 + (n + k) % h.zones)
                 for k, (action, restore, group) in enumerate(HOST) for n, h in enumerate(fleet.hosts))
    turns = itertools.cycle((pressure, cameras, hosts, other, cameras, pressure, other))
    plan: list[Fault] = []
    for minute in range(minutes):
        if minute == minutes // 2 and any(s.gateway == GATEWAY_ID for s in fleet.stations):
            plan.append(Fault("gateways", GATEWAY_ID, "comm_loss", "communication", hold_s=GATEWAY_HOLD_S))
            continue
        source = hosts if minute in broker_minutes else next(turns)
        fault = next(source, None)
        for _ in range(7):  # a kind used up: the next one in turn
            if fault is not None:
                break
            fault = next(next(turns), None)
        if fault is None:
            break
        plan.append(fault)
    return plan


def _station_faults(stations: list[StationSpec], kinds: tuple[tuple[str, str], ...]) -> list[Fault]:
    return [Fault("stations", s.station_id, *kinds[n % len(kinds)]) for n, s in enumerate(stations)]


def restart_minutes(minutes: int) -> tuple[frozenset[int], frozenset[int]]:
    """The fleet minutes at which the database and the broker restart: twice each, apart."""
    last = minutes - 1
    return (frozenset({round(minutes * 0.25), min(last, round(minutes * 0.65))}),
            frozenset({max(1, round(minutes * 0.45)), min(last, round(minutes * 0.85))}))
