"""The command line every simulator shares: serve a fleet with its control API until signalled,
and, for fault-injecting fleets, `inject` / `clear` faults through that API."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import httpx

from sitewatch.simulators.common.control import ControlServer

HTTP_TIMEOUT_S = 5.0


class Fleet(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServeFleet(Protocol):
    """Builds a fleet of `count` devices and serves it; the awaitable gives the exit code. Also
    takes, by their dest, the options ``serve_options`` added; a ValueError raised before the
    awaitable is returned (a bad combination of them) is a usage error."""

    def __call__(self, *, count: int, base_port: int, seed: int, control_port: int, **options: Any) -> Awaitable[int]: ...


async def serve_until_signalled(
    fleet: Fleet, control: ControlServer, *, describe: Callable[[], Iterable[str]]
) -> int:
    """Start both, print `describe()` (once ports are bound) and the control URL, run until
    SIGINT/SIGTERM, then stop both."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await fleet.start()
        await control.start()
        for line in describe():
            print(line)
        print(f"control {control.url}", flush=True)
        await stop.wait()
    finally:
        await control.stop()
        await fleet.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def run_fault_fleet_cli(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    noun: str,
    faults: Iterable[str],
    param_example: str,
    serve: ServeFleet,
    serve_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """`serve`, `inject` and `clear` for a fleet of `noun`s whose API lives under `/{noun}s`;
    ``serve_options`` adds a simulator's own options to `serve`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve", help=f"run N {noun}s and the control API until SIGINT/SIGTERM"
    )
    serve_cmd.add_argument(
        f"--{noun}s",
        dest="count",
        metavar=f"{noun.upper()}S",
        type=positive_int,
        default=1,
        help=f"number of {noun}s (default 1)",
    )
    serve_cmd.add_argument(
        "--base-port",
        type=_port,
        default=0,
        help=f"first {noun}'s port, then +1 each (0 = ephemeral)",
    )
    serve_cmd.add_argument(
        "--seed", type=int, default=0, help=f"seed of the first {noun}, then +1 each"
    )
    serve_cmd.add_argument(
        "--control-port", type=_port, default=0, help="control API port (0 = ephemeral)"
    )
    if serve_options is not None:
        serve_options(serve_cmd)

    inject = commands.add_parser(
        "inject", help=f"start a fault on a {noun}", epilog=f"faults: {', '.join(faults)}"
    )
    inject.add_argument("--control", required=True, help="control API URL, as printed by serve")
    inject.add_argument(f"--{noun}", dest="device", metavar=noun.upper(), required=True)
    inject.add_argument("--fault", required=True)
    inject.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="KEY=VALUE",
        help=f"fault parameter, e.g. {param_example} (repeatable)",
    )

    clear = commands.add_parser("clear", help=f"end one fault, or all faults, of a {noun}")
    clear.add_argument("--control", required=True)
    clear.add_argument(f"--{noun}", dest="device", metavar=noun.upper(), required=True)
    clear.add_argument("--fault", help="the fault to end (default: all)")

    args = parser.parse_args(argv)
    if args.command == "serve":
        shared = {"command", "count", "base_port", "seed", "control_port"}
        options = {dest: value for dest, value in vars(args).items() if dest not in shared}
        try:
            serving = serve(
                count=args.count, base_port=args.base_port, seed=args.seed, control_port=args.control_port, **options
            )
        except ValueError as exc:
            serve_cmd.error(str(exc))
        return asyncio.run(serving)
    url = f"{args.control.rstrip('/')}/{noun}s/{args.device}/faults"
    if args.command == "inject":
        return call_control("POST", url, json={"fault": args.fault, "params": dict(args.param)})
    return call_control("DELETE", url if args.fault is None else f"{url}/{args.fault}")


def call_control(method: str, url: str, *, json: object = None) -> int:
    """One control-API request; prints the answer (or the error, on stderr) as an exit code."""
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


def positive_int(text: str) -> int:
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
