"""HTTP JSON control API of a running fleet: list stations and gateways, inject and clear faults.

`create_control_app(fleet)` builds the app; `ControlServer` serves it in the caller's event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path
from pydantic import BaseModel

from sitewatch.simulators.common import control
from sitewatch.simulators.common.control import FaultPublic, add_fault_routes
from sitewatch.simulators.regulator.fleet import RegulatorFleet
from sitewatch.simulators.regulator.spec import LOOPBACK


class StationPublic(BaseModel):
    station_id: str
    host: str
    port: int  # behind a gateway: the gateway's
    device_id: int
    gateway: str | None  # the gateway it answers behind (RTU over TCP), if any
    faults: list[FaultPublic]


class GatewayPublic(BaseModel):
    gateway_id: str
    host: str
    port: int
    framing: str  # as a modbus_gateway asset names it
    device_ids: list[int]  # of the stations behind it
    faults: list[FaultPublic]


StationId = Annotated[str, Path(description="e.g. rs-001")]
GatewayId = Annotated[str, Path(description="e.g. gw-01")]


def create_control_app(fleet: RegulatorFleet) -> FastAPI:
    app = FastAPI(title="Regulator station simulator control")

    def station_public(station_id: str) -> StationPublic:
        return StationPublic(
            station_id=station_id,
            host=fleet.host,
            port=fleet.port_of(station_id),
            device_id=fleet.spec_of(station_id).device_id,
            gateway=fleet.spec_of(station_id).gateway,
            faults=[FaultPublic.of(f) for f in fleet.active_faults(station_id)],
        )

    def gateway_public(gateway_id: str) -> GatewayPublic:
        return GatewayPublic(
            gateway_id=gateway_id,
            host=fleet.host,
            port=fleet.gateways.port_of(gateway_id),
            framing="rtu_over_tcp",
            device_ids=[s.device_id for s in fleet.stations if s.gateway == gateway_id],
            faults=[FaultPublic.of(f) for f in fleet.gateways.active_faults(gateway_id)],
        )

    @app.get("/stations")
    async def list_stations() -> list[StationPublic]:
        return [station_public(s.station_id) for s in fleet.stations]

    @app.get("/stations/{station_id}")
    async def get_station(station_id: StationId) -> StationPublic:
        return station_public(station_id)

    @app.get("/gateways")
    async def list_gateways() -> list[GatewayPublic]:
        return [gateway_public(g.gateway_id) for g in fleet.gateway_specs]

    @app.get("/gateways/{gateway_id}")
    async def get_gateway(gateway_id: GatewayId) -> GatewayPublic:
        return gateway_public(gateway_id)

    add_fault_routes(app, fleet, collection="stations")
    add_fault_routes(app, fleet.gateways, collection="gateways")
    return app


class ControlServer(control.ControlServer):
    """Serves the fleet's control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, fleet: RegulatorFleet, *, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(
            lambda: create_control_app(fleet), host=host, port=port, name="regulator-control-api"
        )
