"""HTTP JSON control API of a running camera fleet: list cameras, inject and clear faults."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Path
from pydantic import BaseModel

from sitewatch.simulators.camera.fleet import CameraFleet
from sitewatch.simulators.camera.spec import LOOPBACK
from sitewatch.simulators.common import control
from sitewatch.simulators.common.control import FaultPublic, add_fault_routes


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

    add_fault_routes(app, fleet, collection="cameras")
    return app


class ControlServer(control.ControlServer):
    """Serves the fleet's control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, fleet: CameraFleet, *, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(lambda: create_control_app(fleet), host=host, port=port, name="camera-control-api")
