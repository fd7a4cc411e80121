"""HTTP JSON control API of a running camera fleet: list cameras, inject and clear faults."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from simulators.camera.errors import FleetNotRunning, InvalidFaultParams, PortUnavailable, UnknownCamera, UnknownFault
from simulators.camera.faults import ActiveFault
from simulators.camera.fleet import CameraFleet
from simulators.camera.server import AppServer
from simulators.camera.spec import LOOPBACK


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


class CameraPublic(BaseModel):
    camera_id: str
    host: str
    port: int
    camera_time: datetime
    boot_at: datetime
    faults: list[FaultPublic]


CameraId = Annotated[str, Path(description="e.g. cam-001")]


def create_control_app(fleet: CameraFleet) -> FastAPI:
    app = FastAPI(title="Camera simulator control")

    def camera_public(camera_id: str) -> CameraPublic:
        return CameraPublic(
            camera_id=camera_id,
            host=fleet.host,
            port=fleet.port_of(camera_id),
            camera_time=fleet.camera_time(camera_id),
            boot_at=fleet.boot_at(camera_id),
            faults=[FaultPublic.of(f) for f in fleet.active_faults(camera_id)],
        )

    @app.get("/cameras")
    async def list_cameras() -> list[CameraPublic]:
        return [camera_public(c.camera_id) for c in fleet.cameras]

    @app.get("/cameras/{camera_id}")
    async def get_camera(camera_id: CameraId) -> CameraPublic:
        return camera_public(camera_id)

    @app.post("/cameras/{camera_id}/faults", status_code=status.HTTP_201_CREATED)
    async def inject_fault(camera_id: CameraId, body: FaultCreate) -> FaultPublic:
        return FaultPublic.of(await fleet.inject(camera_id, body.fault, **body.params))

    @app.delete("/cameras/{camera_id}/faults/{fault}", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_fault(camera_id: CameraId, fault: str) -> None:
        await fleet.clear(camera_id, fault)

    @app.delete("/cameras/{camera_id}/faults", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_all_faults(camera_id: CameraId) -> None:
        await fleet.clear(camera_id)

    @app.exception_handler(UnknownCamera)
    async def _unknown_camera(_: Request, exc: UnknownCamera) -> JSONResponse:
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


class ControlServer:
    """Serves the control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, fleet: CameraFleet, *, host: str = LOOPBACK, port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server = AppServer(lambda: create_control_app(fleet), host=host, name="camera-control-api")
        self._bound_port: int | None = None

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise RuntimeError("control server not started")
        return f"http://{self._host}:{self._bound_port}"

    async def start(self) -> None:
        self._bound_port = await self._server.open(port=self._port)

    async def stop(self) -> None:
        await self._server.close()
