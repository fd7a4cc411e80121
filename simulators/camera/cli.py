"""Command line: `serve` a fleet and its control API; `inject` / `clear` faults through it."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import httpx

from simulators.camera.control import ControlServer
from simulators.camera.faults import FAULT_KINDS
from simulators.camera.fleet import build
from simulators.camera.spec import FleetConfig, make_camera_specs

HTTP_TIMEOUT_S = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.camera",
        description="Simulated ONVIF cameras (device, media, events, snapshots) on 127.0.0.1.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run N cameras and the control API until SIGINT/SIGTERM"
    )
    serve.add_argument(
        "--cameras", type=_positive_int, default=1, help="number of cameras (default 1)"
    )
    serve.add_argument(
        "--base-port",
        type=_port,
        default=0,
        help="first camera's port, then +1 each (0 = ephemeral)",
    )
    serve.add_argument(
        "--seed", type=int, default=0, help="seed of the first camera, then +1 each"
    )
    serve.add_argument(
        "--control-port", type=_port, default=0, help="control API port (0 = ephemeral)"
    )
    serve.set_defaults(handler=_serve)

    faults = ", ".join(FAULT_KINDS)
    inject = commands.add_parser(
        "inject", help="start a fault on a camera", epilog=f"faults: {faults}"
    )
    inject.add_argument("--control", required=True, help="control API URL, as printed by serve")
    inject.add_argument("--camera", required=True)
    inject.add_argument("--fault", required=True)
    inject.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="KEY=VALUE",
        help="fault parameter, e.g. seconds=-120 (repeatable)",
    )
    inject.set_defaults(handler=_inject)

    clear = commands.add_parser("clear", help="end one fault, or all faults, of a camera")
    clear.add_argument("--control", required=True)
    clear.add_argument("--camera", required=True)
    clear.add_argument("--fault", help="the fault to end (default: all)")
    clear.set_defaults(handler=_clear)
    return parser


def _serve(args: argparse.Namespace) -> int:
    config = FleetConfig(
        cameras=make_camera_specs(args.cameras, base_port=args.base_port, seed=args.seed)
    )
    return asyncio.run(_run(config, control_port=args.control_port))


async def _run(config: FleetConfig, *, control_port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fleet = build(config)
    control = ControlServer(fleet, host=config.host, port=control_port)
    try:
        await fleet.start()
        await control.start()
        for spec in fleet.cameras:
            port = fleet.port_of(spec.camera_id)
            print(f"{spec.camera_id} {fleet.host}:{port} user={spec.username}")
        print(f"control {control.url}", flush=True)
        await stop.wait()
    finally:
        await control.stop()
        await fleet.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def _inject(args: argparse.Namespace) -> int:
    url = f"{args.control.rstrip('/')}/cameras/{args.camera}/faults"
    return _call("POST", url, json={"fault": args.fault, "params": dict(args.param)})


def _clear(args: argparse.Namespace) -> int:
    url = f"{args.control.rstrip('/')}/cameras/{args.camera}/faults"
    return _call("DELETE", url if args.fault is None else f"{url}/{args.fault}")


def _call(method: str, url: str, *, json: object = None) -> int:
    try:
        response = httpx.request(method, url, json=json, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        print(f"error: {method} {url}: {exc}", file=sys.stderr)
        return 1
    if response.is_error:
        print(f"error: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    if response.content:
        print(response.text)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value}")
    return value


def _param(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a number") from None
