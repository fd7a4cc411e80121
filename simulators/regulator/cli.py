"""Command line: `serve` a fleet and its control API; `inject` / `clear` faults through it."""

from __future__ import annotations

from collections.abc import Sequence

from simulators.common.cli import run_fault_fleet_cli, serve_until_signalled
from simulators.regulator.control import ControlServer
from simulators.regulator.faults import FAULT_KINDS
from simulators.regulator.fleet import build
from simulators.regulator.spec import FleetConfig, make_station_specs


def main(argv: Sequence[str] | None = None) -> int:
    return run_fault_fleet_cli(
        argv,
        prog="python -m simulators.regulator",
        description="Simulated city-gas regulator stations answering Modbus TCP on 127.0.0.1.",
        noun="station",
        faults=FAULT_KINDS,
        param_example="rate_kpa_s=0.1",
        serve=_serve,
    )


async def _serve(*, count: int, base_port: int, seed: int, control_port: int) -> int:
    config = FleetConfig(stations=make_station_specs(count, base_port=base_port, seed=seed))
    fleet = build(config)

    def describe() -> list[str]:
        return [
            f"{s.station_id} {fleet.host}:{fleet.port_of(s.station_id)} device_id={s.device_id}"
            for s in fleet.stations
        ]

    control = ControlServer(fleet, host=config.host, port=control_port)
    return await serve_until_signalled(fleet, control, describe=describe)
