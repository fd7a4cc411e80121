"""Command line: `serve` a fleet and its control API; `inject` / `clear` faults through it."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Sequence
from pathlib import Path

from pydantic import ValidationError

from sitewatch.simulators.camera.control import ControlServer
from sitewatch.simulators.camera.faults import FAULT_KINDS
from sitewatch.simulators.camera.fleet import build
from sitewatch.simulators.camera.spec import FleetConfig, make_camera_specs
from sitewatch.simulators.common.cli import run_fault_fleet_cli, serve_until_signalled

PROG = "python -m sitewatch.simulators.camera"


def main(argv: Sequence[str] | None = None) -> int:
    return run_fault_fleet_cli(
        argv,
        prog=PROG,
        description=(
            "Simulated ONVIF cameras (device, media, events, snapshots) on 127.0.0.1. "
            "`serve --tls-cert FILE --tls-key FILE`: every camera answers https only, with that "
            "certificate (PEM, chain after it) and key."
        ),
        noun="camera",
        faults=FAULT_KINDS,
        param_example="seconds=-120",
        serve=_serve,
        serve_options=_tls_options,
    )


def _tls_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--tls-cert", type=Path, help="serve https only, with this certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="the certificate's key (PEM)")


def _serve(
    *, count: int, base_port: int, seed: int, control_port: int, tls_cert: Path | None, tls_key: Path | None
) -> Awaitable[int]:
    tls = {k: v for k, v in {"tls_cert_file": tls_cert, "tls_key_file": tls_key}.items() if v is not None}
    try:  # a usage error (simulators/common/cli.py), not a traceback once serving starts
        config = FleetConfig.model_validate(
            {"cameras": make_camera_specs(count, base_port=base_port, seed=seed), **tls}
        )
    except ValidationError as exc:
        raise ValueError("; ".join(str(error["msg"]) for error in exc.errors())) from None
    return _serve_fleet(config, control_port=control_port)


async def _serve_fleet(config: FleetConfig, *, control_port: int) -> int:
    fleet = build(config)

    def describe() -> list[str]:
        return [
            f"{c.camera_id} {fleet.host}:{fleet.port_of(c.camera_id)} user={c.username}"
            + (f" {config.scheme}" if config.tls_cert_file is not None else "")
            for c in fleet.cameras
        ]

    control = ControlServer(fleet, host=config.host, port=control_port)
    return await serve_until_signalled(fleet, control, describe=describe)
