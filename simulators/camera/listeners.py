"""One HTTP server for every camera of a process, listening on each camera's own port.

A uvicorn.Server per camera wakes every 0.1 s (its main loop's tick): 10,000 idle cameras
kept most of a core busy. Here one uvicorn protocol stack serves every port, one task
refreshes the Date header once a second, and the app finds the camera by the port the
request came to. A port can still be closed (its connections too) and re-opened on its
own, which the `offline` fault needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from email.utils import formatdate
from typing import Generic, TypeVar

import uvicorn
from starlette.types import ASGIApp, Scope
from uvicorn.server import ServerState

from sitewatch.simulators.common.errors import PortUnavailable

T = TypeVar("T")

_DATE_REFRESH_S = 1.0  # the Date header's resolution, as uvicorn keeps it
_CLOSE_POLL_S = 0.01  # while a closing port's connections finish their last response
# A closed TLS connection waits for the client's close_notify, which an idle pooled client never
# sends: without this, every close (the `offline` fault, stop) would wait out the graceful delay.
_TLS_SHUTDOWN_S = 0.1


class PortListeners(Generic[T]):
    """Ports opened and closed one by one, each with its target (the camera behind it).

    The app is built at the first `open`; it reads a request's target with `target(scope)`.
    With `tls` (a server context), every port answers https only.
    """

    def __init__(
        self,
        app: Callable[[], ASGIApp],
        *,
        host: str,
        name: str,
        graceful_shutdown_s: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._app = app
        self._tls = tls
        self._host = host
        self._name = name
        self._graceful_shutdown_s = graceful_shutdown_s
        self._config: uvicorn.Config | None = None
        self._state = ServerState()
        self._listeners: dict[int, asyncio.Server] = {}
        # Kept after a port closes: a request already read still reaches its camera.
        self._targets: dict[int, T] = {}
        self._date_task: asyncio.Task[None] | None = None

    def target(self, scope: Scope) -> T:
        return self._targets[scope["server"][1]]

    async def open(self, target: T, *, port: int) -> int:
        """Start listening on `port` (0 = ephemeral) for `target`; returns the bound port."""
        try:
            sock = socket.create_server((self._host, port))
        except OSError as exc:
            raise PortUnavailable(f"{self._name}: cannot listen on {self._host}:{port}: {exc}") from exc
        bound: int = sock.getsockname()[1]
        config = self._loaded_config()
        self._targets[bound] = target
        loop = asyncio.get_running_loop()
        try:
            tls = {} if self._tls is None else {"ssl": self._tls, "ssl_shutdown_timeout": _TLS_SHUTDOWN_S}
            self._listeners[bound] = await loop.create_server(self._protocol, sock=sock, backlog=config.backlog, **tls)
        except BaseException:
            sock.close()
            raise
        if self._date_task is None:
            self._refresh_default_headers()
            self._date_task = asyncio.create_task(self._keep_date(), name=f"{self._name}-date")
        return bound

    async def close(self, port: int) -> None:
        """Stop listening on `port` and close its connections, idle keep-alive ones included.

        A connection in the middle of a response finishes it (up to the graceful delay),
        then closes, as uvicorn's own shutdown does.
        """
        listener = self._listeners.pop(port, None)
        if listener is None:
            return
        listener.close()
        mine = [c for c in self._state.connections if c.server is not None and c.server[1] == port]
        for connection in mine:
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._graceful_shutdown_s
        while any(c in self._state.connections for c in mine) and loop.time() < deadline:
            await asyncio.sleep(_CLOSE_POLL_S)
        for connection in mine:
            if connection in self._state.connections:
                connection.transport.abort()
        await listener.wait_closed()
        if not self._listeners:
            await self._stop()

    async def _stop(self) -> None:
        """The last port closed: nothing of ours may keep running (the fleet is stopping)."""
        task, self._date_task = self._date_task, None
        stragglers = [*self._state.tasks, *([task] if task is not None else [])]
        for straggler in stragglers:
            straggler.cancel()
        for straggler in stragglers:
            with contextlib.suppress(asyncio.CancelledError):
                await straggler

    def _loaded_config(self) -> uvicorn.Config:
        if self._config is None:
            self._config = uvicorn.Config(
                self._app(),
                lifespan="off",
                log_level="warning",
                access_log=False,
                proxy_headers=False,  # nothing stands in front of a simulated camera
            )
            self._config.load()
        return self._config

    def _protocol(self) -> asyncio.Protocol:
        config = self._loaded_config()
        protocol: asyncio.Protocol = config.http_protocol_class(config=config, server_state=self._state, app_state={})
        return protocol

    def _refresh_default_headers(self) -> None:
        config = self._loaded_config()
        date: list[tuple[bytes, bytes]] = [(b"date", formatdate(usegmt=True).encode())] if config.date_header else []
        self._state.default_headers = date + config.encoded_headers

    async def _keep_date(self) -> None:
        while True:
            await asyncio.sleep(_DATE_REFRESH_S)
            self._refresh_default_headers()

