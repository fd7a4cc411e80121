"""HTTP JSON control API of a running fleet: list hosts, make them act.

Served by uvicorn in the caller's event loop on a socket bound before start, so port 0 works
(the same pattern as the regulator simulator's control server).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from simulators.alarmhost.errors import HostOffline, InvalidAction, UnknownHost
from simulators.alarmhost.fleet import ACTIONS, AlarmHostFleet
from simulators.alarmhost.spec import LOOPBACK


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


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The embedding program owns SIGINT/SIGTERM; uvicorn would take them over.
        yield


class ControlServer:
    """Serves the control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, fleet: AlarmHostFleet, *, host: str = LOOPBACK, port: int = 0) -> None:
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
        sock = socket.create_server((self._host, self._port))  # listening: connects queue until served
        self._bound_port = sock.getsockname()[1]
        config = uvicorn.Config(create_control_app(self._fleet), lifespan="off", log_level="warning", access_log=False)
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._serve(self._server, sock), name="alarmhost-control-api")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None or self._server is None:
            return
        self._server.should_exit = True
        await task

    @staticmethod
    async def _serve(server: _EmbeddedServer, sock: socket.socket) -> None:
        with sock:
            await server.serve(sockets=[sock])
