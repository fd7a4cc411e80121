"""An ASGI app served by uvicorn inside the caller's event loop, closable and re-openable.

The socket is bound before serving starts, so port 0 works and no request can arrive
before anything listens; re-opening binds the same port again (SO_REUSEADDR).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp

from simulators.camera.errors import PortUnavailable


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The program embedding us owns SIGINT/SIGTERM; uvicorn would take them over and
        # re-raise them after shutting down.
        yield


class AppServer:
    def __init__(self, app: Callable[[], ASGIApp], *, host: str, name: str) -> None:
        self._app = app
        self._host = host
        self._name = name
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
            timeout_graceful_shutdown=2,  # long-polls are woken first; this is a backstop
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
