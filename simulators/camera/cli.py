"""Command line: `serve` a fleet and its control API; `inject` / `clear` faults through it."""

from __future__ import annotations

from collections.abc import Sequence

from sitewatch.simulators.camera.control import ControlServer
from sitewatch.simulators.camera.faults import FAULT_KINDS
from sitewatch.simulators.camera.fleet import build
from sitewatch.simulators.camera.spec import FleetConfig, make_camera_specs
from sitewatch.simulators.common.cli import run_fault_fleet_cli, serve_until_signalled


def main(argv: Sequence[str] | None = None) -> int:
    return run_fault_fleet_cli(
        argv,
        prog="python -m sitewatch.simulators.camera",
        description="Simulated ONVIF cameras (device, media, events, snapshots) on 127.0.0.1.",
        noun="camera",
        faults=FAULT_KINDS,
        param_example="seconds=-120",
        serve=_serve,
    )


async def _serve(*, count: int, base_port: int, seed: int, control_port: int) -> int:
    config = FleetConfig(cameras=make_camera_specs(count, base_port=base_port, seed=seed))
    fleet = build(config)

    def describe() -> list[str]:
        return [
            f"{c.camera_id} {fleet.host}:{fleet.port_of(c.camera_id)} user={c.username}"
            for c in fleet.cameras
        ]

    control = ControlServer(fleet, host=config.host, port=control_port)
    return await serve_until_signalled(fleet, control, describe=describe)
