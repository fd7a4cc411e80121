"""Command line: `serve` a fleet and its control API; `inject` / `clear` faults through it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sitewatch.simulators.common.cli import (
    positive_int,
    run_fault_fleet_cli,
    serve_until_signalled,
)
from sitewatch.simulators.regulator.control import ControlServer
from sitewatch.simulators.regulator.faults import FAULT_KINDS
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.spec import (
    FleetConfig,
    GatewaySpec,
    StationSpec,
    make_gateway_station_specs,
    make_station_specs,
)

GATEWAY_ID = "gw-01"
MAX_DEVICE_ID = 247  # Modbus unit ids 1-247 address devices on a serial line
PROG = "python -m sitewatch.simulators.regulator"


def main(argv: Sequence[str] | None = None) -> int:
    return run_fault_fleet_cli(
        argv,
        prog=PROG,
        description=(
            "Simulated city-gas regulator stations answering Modbus TCP on 127.0.0.1. "
            f"`serve --gateway-stations N` adds a gateway ({GATEWAY_ID}, RTU over TCP) with N "
            "stations behind it at device ids 1..N; its faults: POST /gateways/ID/faults."
        ),
        noun="station",
        faults=FAULT_KINDS,
        param_example="rate_kpa_s=0.1",
        serve=_serve,
        serve_options=_gateway_option,
    )


def _gateway_option(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--gateway-stations", type=_device_ids, default=0, metavar="N",
                       help=f"stations behind one simulated gateway ({GATEWAY_ID}, RTU over TCP), device ids 1..N")


def _device_ids(text: str) -> int:
    value = positive_int(text)
    if value > MAX_DEVICE_ID:
        raise argparse.ArgumentTypeError(f"a gateway has device ids 1-{MAX_DEVICE_ID}, got {value}")
    return value


async def _serve(*, count: int, base_port: int, seed: int, control_port: int, gateway_stations: int) -> int:
    stations: tuple[StationSpec, ...] = make_station_specs(count, base_port=base_port, seed=seed)
    gateways: tuple[GatewaySpec, ...] = ()
    if gateway_stations:
        # After the stations: the next port when they have fixed ones, the next seeds.
        gateways = (GatewaySpec(gateway_id=GATEWAY_ID, port=base_port + count if base_port else 0),)
        stations += make_gateway_station_specs(gateway_stations, gateway_id=GATEWAY_ID, seed=seed + count)
    config = FleetConfig(stations=stations, gateways=gateways)
    fleet = build(config)

    def describe() -> list[str]:
        # Stations with ports of their own first, as before there were gateways.
        lines = [_station_line(fleet, s) for s in fleet.stations if s.gateway is None]
        for g in fleet.gateway_specs:
            lines.append(f"{g.gateway_id} {fleet.host}:{fleet.gateways.port_of(g.gateway_id)} rtu_over_tcp")
            lines += [
                f"{_station_line(fleet, s)} gateway={g.gateway_id}"
                for s in fleet.stations
                if s.gateway == g.gateway_id
            ]
        return lines

    control = ControlServer(fleet, host=config.host, port=control_port)
    return await serve_until_signalled(fleet, control, describe=describe)


def _station_line(fleet: RegulatorFleet, spec: StationSpec) -> str:
    return f"{spec.station_id} {fleet.host}:{fleet.port_of(spec.station_id)} device_id={spec.device_id}"
