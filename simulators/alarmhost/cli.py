"""Command line: `serve` a fleet and its control API; `act` on a host through it."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from sitewatch.simulators.alarmhost.control import ControlServer
from sitewatch.simulators.alarmhost.fleet import ACTIONS, build
from sitewatch.simulators.alarmhost.spec import FleetConfig, make_host_specs
from sitewatch.simulators.common.cli import call_control, positive_int, serve_until_signalled


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sitewatch.simulators.alarmhost",
        description="Simulated alarm hosts publishing to an MQTT broker.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run N hosts and the control API until SIGINT/SIGTERM")
    serve.add_argument("--broker", default="127.0.0.1:1883", type=_address, help="HOST:PORT (default 127.0.0.1:1883)")
    serve.add_argument("--hosts", type=positive_int, default=1, help="number of hosts (default 1)")
    serve.add_argument("--zones", type=positive_int, default=8, help="zones per host (default 8)")
    serve.add_argument("--heartbeat-s", type=float, default=30.0, help="seconds between heartbeats (default 30)")
    serve.add_argument("--topic-prefix", default="sitewatch/alarmhost")
    serve.add_argument("--run-id", default="run0", help="part of client and event ids (default run0)")
    serve.add_argument("--control-port", type=int, default=0, help="control API port (0 = ephemeral)")
    serve.set_defaults(handler=_serve)

    act = commands.add_parser("act", help="make a host act", epilog=f"actions: {', '.join(ACTIONS)}")
    act.add_argument("--control", required=True, help="control API URL, as printed by serve")
    act.add_argument("--host", required=True)
    act.add_argument("--action", required=True)
    act.add_argument("--zone", type=int)
    act.set_defaults(handler=_act)
    return parser


def _serve(args: argparse.Namespace) -> int:
    host, port = args.broker
    config = FleetConfig(
        broker_host=host,
        broker_port=port,
        topic_prefix=args.topic_prefix,
        run_id=args.run_id,
        hosts=make_host_specs(args.hosts, zones=args.zones, heartbeat_s=args.heartbeat_s),
    )
    return asyncio.run(_run(config, control_port=args.control_port))


async def _run(config: FleetConfig, *, control_port: int) -> int:
    fleet = build(config)

    def describe() -> list[str]:
        return [f"{s.host_id} {config.topic_prefix}/{s.host_id} zones={s.zones}" for s in fleet.hosts]

    return await serve_until_signalled(fleet, ControlServer(fleet, port=control_port), describe=describe)


def _act(args: argparse.Namespace) -> int:
    url = f"{args.control.rstrip('/')}/hosts/{args.host}/actions"
    return call_control("POST", url, json={"action": args.action, "zone": args.zone})


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)
