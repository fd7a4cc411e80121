"""The soak's simulated fleet in a process of its own: the demo's devices (``sitewatch demo``
defaults: 20 regulator stations + 4 behind the DTU gateway gw-01, 30 cameras, 5 alarm hosts),
with their three control APIs, built by the demo's own functions so the soak watches what the
demo shows.

    python -m bench.soak_fleet --broker-port P --topic-prefix T --run-id R [--heartbeat-s S]

Prints one JSON line without spaces (ports and control URLs), then ``control URL`` (of the
stations, as the simulators do: bench/fleet_procs.py reads up to it) once everything listens
and the alarm hosts are connected, then serves until SIGTERM. Alarm hosts heartbeat every ``--heartbeat-s`` (the demo's
30 s divided by the soak's compression).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from sitewatch.demo import DemoOptions, demo_fleet
from sitewatch.demo_gateway import gateway_specs
from sitewatch.simulators.alarmhost.control import ControlServer as HostControl
from sitewatch.simulators.alarmhost.fleet import build as build_hosts
from sitewatch.simulators.alarmhost.spec import FleetConfig as HostFleetConfig
from sitewatch.simulators.camera.control import ControlServer as CameraControl
from sitewatch.simulators.camera.fleet import build as build_cameras
from sitewatch.simulators.camera.spec import FleetConfig as CameraFleetConfig
from sitewatch.simulators.regulator.control import ControlServer as StationControl
from sitewatch.simulators.regulator.fleet import build as build_stations
from sitewatch.simulators.regulator.spec import FleetConfig


async def serve(args: argparse.Namespace) -> None:
    fleet = demo_fleet(DemoOptions())
    hosts_specs = tuple(h.model_copy(update={"heartbeat_s": args.heartbeat_s}) for h in fleet.hosts)
    stations = build_stations(FleetConfig(stations=tuple(fleet.stations), gateways=gateway_specs(fleet.stations)))
    cameras = build_cameras(CameraFleetConfig(cameras=fleet.cameras))
    hosts = build_hosts(HostFleetConfig(broker_host="127.0.0.1", broker_port=args.broker_port,
                                        topic_prefix=args.topic_prefix, run_id=args.run_id, hosts=hosts_specs))
    controls = {"stations": StationControl(stations), "cameras": CameraControl(cameras), "hosts": HostControl(hosts)}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = []
    try:
        for part in (stations, cameras, hosts, *controls.values()):
            await part.start()
            started.append(part)
        print(json.dumps({
            "stations": {s.station_id: stations.port_of(s.station_id) for s in fleet.stations},
            "cameras": {c.camera_id: cameras.port_of(c.camera_id) for c in fleet.cameras},
            "camera_credentials": {c.camera_id: [c.username, c.password] for c in fleet.cameras},
            "hosts": {h.host_id: h.zones for h in hosts_specs},
            "controls": {name: control.url for name, control in controls.items()},
        }, separators=(",", ":")))
        print(f"control {controls['stations'].url}", flush=True)
        await stop.wait()
    finally:
        for part in reversed(started):
            await part.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_fleet", description=__doc__.split("\n")[0])
    parser.add_argument("--broker-port", type=int, required=True)
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    asyncio.run(serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
