"""ASGI apps served by uvicorn inside the caller's event loop, and the shared fault routes.

The socket is bound before serving starts, so port 0 works and no request can arrive
before anything listens; re-opening binds the same port again (SO_REUSEADDR).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

import uvicorn
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp

from sitewatch.simulators.common.errors import (
    FleetNotRunning,
    InvalidFaultParams,
    PortUnavailable,
    UnknownDevice,
    UnknownFault,
)
from sitewatch.simulators.common.faults import ActiveFault


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The program embedding us owns SIGINT/SIGTERM; uvicorn would take them over and
        # re-raise them after shutting down.
        yield


class AppServer:
    """One ASGI app, opened and closed (and re-opened) on demand in the running event loop."""

    def __init__(
        self,
        app: Callable[[], ASGIApp],
        *,
        host: str,
        name: str,
        graceful_shutdown_s: float | None = None,
    ) -> None:
        self._app = app
        self._host = host
        self._name = name
        self._graceful_shutdown_s = graceful_shutdown_s
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._task is not None

    async def open(self, *, port: int) -> int:
        """Start listening on `port` (0 = ephemeral); returns the bound port."""
        if self._task is not None:
            raise RuntimeError(f"{self._name} is already listening")
        try:
            sock = socket.create_server((self._host, port))
        except OSError as exc:
            raise PortUnavailable(f"{self._name}: cannot listen on {self._host}:{port}: {exc}") from exc
        config = uvicorn.Config(
            self._app(),
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=self._graceful_shutdown_s,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._serve(self._server, sock), name=self._name)
        return sock.getsockname()[1]

    async def close(self) -> None:
        """Stop listening and close every connection, idle keep-alive ones included."""
        task, self._task = self._task, None
        if task is None or self._server is None:
            return
        self._server.should_exit = True
        await task

    @staticmethod
    async def _serve(server: _EmbeddedServer, sock: socket.socket) -> None:
        with sock:
            await server.serve(sockets=[sock])


class ControlServer:
    """Serves a fleet's control app on `host:port` (0 = ephemeral) in the running event loop."""

    def __init__(self, app: Callable[[], ASGIApp], *, host: str, port: int, name: str) -> None:
        self._host = host
        self._port = port
        self._server = AppServer(app, host=host, name=name)
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


class FaultFleet(Protocol):
    async def inject(self, device_id: str, fault: str, /, **params: float) -> ActiveFault: ...

    async def clear(self, device_id: str, fault: str | None = None) -> tuple[str, ...]: ...


def add_fault_routes(app: FastAPI, fleet: FaultFleet, *, collection: str) -> None:
    """Inject/clear routes under `/{collection}/{id}/faults`, and the errors they map to HTTP."""

    @app.post(f"/{collection}/{{device_id}}/faults", status_code=status.HTTP_201_CREATED)
    async def inject_fault(device_id: str, body: FaultCreate) -> FaultPublic:
        return FaultPublic.of(await fleet.inject(device_id, body.fault, **body.params))

    @app.delete(f"/{collection}/{{device_id}}/faults/{{fault}}", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_fault(device_id: str, fault: str) -> None:
        await fleet.clear(device_id, fault)

    @app.delete(f"/{collection}/{{device_id}}/faults", status_code=status.HTTP_204_NO_CONTENT)
    async def clear_all_faults(device_id: str) -> None:
        await fleet.clear(device_id)

    @app.exception_handler(UnknownDevice)
    async def _unknown_device(_: Request, exc: UnknownDevice) -> JSONResponse:
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
