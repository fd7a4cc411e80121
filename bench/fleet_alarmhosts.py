"""A share of the fleet's alarm hosts in one process, numbered from ``--first``.

    python -m bench.fleet_alarmhosts --hosts N --first F --topic-prefix P --run-id R

The same hosts, control API and output as ``python -m sitewatch.simulators.alarmhost serve``, whose
hosts are always ah-001 upwards. One process cannot hold a thousand: paho-mqtt waits on its
sockets with ``select()``, which takes no descriptor past 1023, and each client holds three
(measured: the 340th host never got its CONNACK). The fleet benchmark runs 250 a process.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sitewatch.simulators.alarmhost.control import ControlServer
from sitewatch.simulators.alarmhost.fleet import build
from sitewatch.simulators.alarmhost.spec import FleetConfig, HostSpec
from sitewatch.simulators.common.cli import serve_until_signalled


async def serve(config: FleetConfig) -> int:
    fleet = build(config)

    def describe() -> list[str]:
        return [f"{s.host_id} {config.topic_prefix}/{s.host_id} zones={s.zones}" for s in fleet.hosts]

    return await serve_until_signalled(fleet, ControlServer(fleet, port=0), describe=describe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_alarmhosts", description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--first", type=int, default=1, help="number of the first host (ah-0001)")
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    hosts = tuple(HostSpec(host_id=f"ah-{n:04d}", zones=8, heartbeat_s=args.heartbeat_s)
                  for n in range(args.first, args.first + args.hosts))
    return asyncio.run(serve(FleetConfig(topic_prefix=args.topic_prefix, run_id=args.run_id, hosts=hosts)))


if __name__ == "__main__":
    sys.exit(main())
