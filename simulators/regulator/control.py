"""HTTP JSON control API of a running fleet: list stations, inject and clear faults.

`create_control_app(fleet)` builds the app; `ControlServer` serves it with uvicorn in the
caller's event loop, on a socket bound before start so port 0 works and no request can
arrive before anything listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from simulators.regulator.errors import (
    FleetNotRunning,
    InvalidFaultParams,
    PortUnavailable,
    UnknownFault,
    UnknownStation,
)
from simulators.regulator.faults import ActiveFault
from simulators.regulator.fleet import RegulatorFleet
from simulators.regulator.spec import LOOPBACK


class FaultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fault: str
    params: dict[str, float] = Field(default_factory=dict)


class FaultPublic(BaseModel):
    fault: str
    started_at: datetime
    params: dict[str, float]

    @classmethod
    def of(cls, active: ActiveFault) -> FaultPublic:
        return cls(fault=active.name, started_at=active.started_at, params=dict(active.params))


class StationPublic(BaseModel):
    station_id: str
    host: str
    port: int
    device_id: int
    faults: list[FaultPublic]


StationId = Annotated[str, Path(description="e.g. rs-001")]


def create_control_app(fleet: RegulatorFleet) -> FastAPI:
    app = FastAPI(title="Regulator station simulator control")

    def station_public(station_id: str) -> StationPublic:
        return StationPublic(
            station_id=station_id,
            host=fleet.host,
            port=fleet.port_of(station_id),
            device_id=fleet.spec_of(station_id).device_id,
            faults=[FaultPublic.of(f) for f in fleet.active_faults(station_id)],
        )

    @app.get("/stations")
    async def list_stations() -> list[StationPublic]:
        return [station_public(s.station_id) for s in fleet.stations]

    @app.get("/stations/{station_id}")
    async def get_station(station_id: StationId) -> StationPublic:
        return station_public(station_id)

    @app.post("/stations/{station_id}/faults", status_code=status.HTTP_201_CREATED)
    async def inject_fault(station_id: StationId, body: FaultCreate) -> FaultPublic:
        return FaultPublic.of(await fleet.inject(station_id, body.fault, **body.params))

    @app.delete("/stations/{station_id}/faults/{fault}", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_fault(station_id: StationId, fault: str) -> None:
        await fleet.clear(station_id, fault)

    @app.delete("/stations/{station_id}/faults", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_all_faults(station_id: StationId) -> None:
        await fleet.clear(station_id)

    @app.exception_handler(UnknownStation)
    async def _unknown_station(_: Request, exc: UnknownStation) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(UnknownFault)
    async def _unknown_fault(_: Request, exc: UnknownFault) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "known_faults": list(exc.known)},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(InvalidFaultParams)
    async def _bad_params(_: Request, exc: InvalidFaultParams) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "known_params": list(exc.known)},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(FleetNotRunning)
    @app.exception_handler(PortUnavailable)
    async def _conflict(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    return app


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The program embedding us owns SIGINT/SIGTERM; uvicorn would take them over and
        # re-raise them after shutting down.
        yield


class ControlServer:
    """Serves the control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, fleet: RegulatorFleet, *, host: str = LOOPBACK, port: int = 0) -> None:
        self._fleet = fleet
        self._host = host
        self._port = port
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._bound_port: int | None = None

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise RuntimeError("control server not started")
        return f"http://{self._host}:{self._bound_port}"

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("control server already started")
        sock = socket.create_server(
            (self._host, self._port)
        )  # listening: connects queue until served
        self._bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_control_app(self._fleet),
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._serve(sock), name="regulator-control-api")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or self._server is None:
            return
        self._server.should_exit = True
        await task

    async def _serve(self, sock: socket.socket) -> None:
        with sock:
            await self._server.serve(sockets=[sock])  # type: ignore[union-attr]
