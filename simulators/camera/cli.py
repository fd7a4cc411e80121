"""Command line: `serve` a fleet and its control API; `inject` / `clear` faults through it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from sitewatch.simulators.camera.control import ControlServer
from sitewatch.simulators.camera.faults import FAULT_KINDS
from sitewatch.simulators.camera.fleet import build
from sitewatch.simulators.camera.spec import FleetConfig, make_camera_specs
from sitewatch.simulators.common.cli import run_fault_fleet_cli, serve_until_signalled

PROG = "python -m sitewatch.simulators.camera"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    tls, args = _tls_options(args)

    async def serve(*, count: int, base_port: int, seed: int, control_port: int) -> int:
        return await _serve(count=count, base_port=base_port, seed=seed, control_port=control_port, tls=tls)

    return run_fault_fleet_cli(
        args,
        prog=PROG,
        description=(
            "Simulated ONVIF cameras (device, media, events, snapshots) on 127.0.0.1. "
            "`serve --tls-cert FILE --tls-key FILE`: every camera answers https only, with that "
            "certificate (PEM, chain after it) and key."
        ),
        noun="camera",
        faults=FAULT_KINDS,
        param_example="seconds=-120",
        serve=serve,
    )


def _tls_options(args: list[str]) -> tuple[dict[str, Path], list[str]]:
    """`--tls-cert` and `--tls-key` of `serve` (as FleetConfig keys), and the arguments without
    them: the parser shared by the simulators (simulators/common/cli.py) has no place for one
    simulator's own serve options."""
    if args[:1] != ["serve"]:
        return {}, args
    parser = argparse.ArgumentParser(prog=f"{PROG} serve", add_help=False)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    known, rest = parser.parse_known_args(args[1:])
    tls = {"tls_cert_file": known.tls_cert, "tls_key_file": known.tls_key}
    try:  # refused here, as a usage error, rather than as a traceback once serving starts
        FleetConfig.model_validate({"cameras": make_camera_specs(1), **tls})
    except ValidationError as exc:
        parser.error("; ".join(str(error["msg"]) for error in exc.errors()))
    return {k: v for k, v in tls.items() if v is not None}, ["serve", *rest]


async def _serve(*, count: int, base_port: int, seed: int, control_port: int, tls: dict[str, Path]) -> int:
    config = FleetConfig.model_validate({"cameras": make_camera_specs(count, base_port=base_port, seed=seed), **tls})
    fleet = build(config)

    def describe() -> list[str]:
        return [
            f"{c.camera_id} {fleet.host}:{fleet.port_of(c.camera_id)} user={c.username}"
            + (f" {config.scheme}" if tls else "")
            for c in fleet.cameras
        ]

    control = ControlServer(fleet, host=config.host, port=control_port)
    return await serve_until_signalled(fleet, control, describe=describe)
