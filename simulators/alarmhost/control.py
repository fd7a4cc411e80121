"""HTTP JSON control API of a running fleet: list hosts, make them act.

`create_control_app(fleet)` builds the app; `ControlServer` serves it in the caller's event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sitewatch.simulators.alarmhost.errors import HostOffline, InvalidAction, UnknownHost
from sitewatch.simulators.alarmhost.fleet import ACTIONS, AlarmHostFleet
from sitewatch.simulators.alarmhost.spec import LOOPBACK
from sitewatch.simulators.common import control


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(description=f"one of: {', '.join(ACTIONS)}")
    zone: int | None = None


class ActionPublic(BaseModel):
    action: str
    event: dict[str, Any] | None  # the payload published, if the action publishes one


class HostPublic(BaseModel):
    host_id: str
    online: bool
    zones: int
    state: dict[str, bool]


HostId = Annotated[str, Path(description="e.g. ah-001")]


def create_control_app(fleet: AlarmHostFleet) -> FastAPI:
    app = FastAPI(title="Alarm host simulator control")

    def host_public(host_id: str) -> HostPublic:
        host = fleet.host(host_id)
        return HostPublic(host_id=host_id, online=host.online, zones=host.spec.zones, state=dict(host.state))

    @app.get("/hosts")
    async def list_hosts() -> list[HostPublic]:
        return [host_public(h.host_id) for h in fleet.hosts]

    @app.get("/hosts/{host_id}")
    async def get_host(host_id: HostId) -> HostPublic:
        return host_public(host_id)

    @app.post("/hosts/{host_id}/actions", status_code=status.HTTP_201_CREATED)
    async def act(host_id: HostId, body: ActionCreate) -> ActionPublic:
        return ActionPublic(action=body.action, event=await fleet.act(host_id, body.action, zone=body.zone))

    @app.exception_handler(UnknownHost)
    async def _unknown_host(_: Request, exc: UnknownHost) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(InvalidAction)
    async def _invalid(_: Request, exc: InvalidAction) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "actions": list(ACTIONS)}, status_code=422)

    @app.exception_handler(HostOffline)
    async def _offline(_: Request, exc: HostOffline) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    return app


class ControlServer(control.ControlServer):
    """Serves the fleet's control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, fleet: AlarmHostFleet, *, host: str = LOOPBACK, port: int = 0) -> None:
        super().__init__(lambda: create_control_app(fleet), host=host, port=port, name="alarmhost-control-api")
