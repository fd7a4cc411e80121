"""``sitewatch demo``: a fleet of simulated stations, watched end to end, in one process.

The demo configuration is the shipped example (profile, rules, SLA zones) with the
stations replaced by simulated ones on loopback, so what the demo shows is what a real
deployment runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from config.load import config_from_dict
from simulators.regulator.control import ControlServer
from simulators.regulator.fleet import RegulatorFleet, build
from simulators.regulator.spec import FleetConfig, make_station_specs
from sitewatch.runtime import build_components
from sitewatch.serve import serve

log = logging.getLogger(__name__)

# (id, name, address, SLA zone, time zone): three sites in different SLA zones.
SITES = (
    ("centre", "Centre district", "Inside the 1st ring road", "ring1", "Asia/Shanghai"),
    ("north", "North district", "North 2nd ring road", "ring2", "Asia/Shanghai"),
    ("county", "Shunyi county", "Neighbouring county", "county", "Asia/Shanghai"),
)

# (seconds after start, station number, fault, inject?) — the first ticket appears within
# two minutes: the outlet passes 2.9 kPa ~1 s after the fault, then 10 s of duration.
SCHEDULE = (
    (30, 3, "regulator_failure", True),
    (150, 3, "regulator_failure", False),
    (180, 11, "comm_loss", True),
    (300, 11, "comm_loss", False),
    (330, 7, "pipe_burst", True),
    (420, 7, "pipe_burst", False),
)


@dataclass(frozen=True)
class DemoOptions:
    stations: int = 20
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str | None = None
    poll_interval_s: float = 5.0
    schedule: bool = True


def example_config() -> dict:
    text = resources.files("config").joinpath("sitewatch.example.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def demo_raw_config(
    station_ports: dict[str, int], *, data_dir: Path, host: str, port: int, poll_interval_s: float, token_sha256: str
) -> dict:
    """The example configuration with the simulated stations as its assets, unvalidated."""
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"host": host, "port": port, "tokens": [{"name": "demo-operator", "sha256": token_sha256}]}
    raw["sites"] = [
        {"id": i, "customer": raw["customers"][0]["id"], "name": n, "address": a, "sla_zone": z, "time_zone": tz}
        for i, n, a, z, tz in SITES
    ]
    limits = raw["assets"][0]["limits"]
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
        }
        for number, (station_id, station_port) in enumerate(station_ports.items())
    ]
    return raw


async def run_demo(options: DemoOptions, *, stop: asyncio.Event) -> None:
    data_dir = Path(options.data_dir) if options.data_dir else Path(tempfile.mkdtemp(prefix="sitewatch-demo-"))
    token = secrets.token_urlsafe(16)
    fleet = build(FleetConfig(stations=make_station_specs(options.stations, seed=2026)))
    await fleet.start()
    control = ControlServer(fleet)
    await control.start()
    try:
        ports = {spec.station_id: fleet.port_of(spec.station_id) for spec in fleet.stations}
        raw = demo_raw_config(ports, data_dir=data_dir, host=options.host, port=options.port,
                              poll_interval_s=options.poll_interval_s,
                              token_sha256=hashlib.sha256(token.encode()).hexdigest())
        config = config_from_dict(raw, source="demo")
        parts = build_components(config)
        control_url = control.url

        async def ready(port: int) -> None:
            print(
                f"\nSitewatch demo: {len(config.assets)} simulated regulator stations on {len(config.sites)} sites\n"
                f"  dashboard:  http://{options.host}:{port}/\n"
                f"  API docs:   http://{options.host}:{port}/docs\n"
                f"  write token (for ticket transitions): {token}\n"
                f"  data:       {data_dir}\n"
                f"  simulator:  {control_url}/stations\n"
                f"  inject a fault yourself:\n"
                f"    sitewatch simulate inject --control {control_url} --station rs-004 --fault pipe_burst\n"
                + ("  scheduled: regulator failure on rs-003 at +30 s (a ticket within two minutes), "
                   "comm loss on rs-011 at +180 s, pipe burst on rs-007 at +330 s\n" if options.schedule else "")
                + "  Ctrl-C stops.\n",
                flush=True,
            )

        schedule = asyncio.create_task(_play(fleet, stop), name="fault-schedule") if options.schedule else None
        try:
            await serve(parts, host=options.host, port=options.port, stop=stop, on_ready=ready)
        finally:
            if schedule is not None:
                schedule.cancel()
                await asyncio.gather(schedule, return_exceptions=True)
            parts.close()
    finally:
        await control.stop()
        await fleet.stop()


async def _play(fleet: RegulatorFleet, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    for at_s, number, fault, inject in SCHEDULE:
        await asyncio.sleep(max(0.0, started + at_s - loop.time()))
        station_id = f"rs-{number:03d}"
        if station_id not in {s.station_id for s in fleet.stations}:
            continue
        if inject:
            await fleet.inject(station_id, fault)
        else:
            await fleet.clear(station_id, fault)
        log.info("demo schedule: %s %s on %s", "injected" if inject else "cleared", fault, station_id)
