"""/metrics for a process without the API (a worker, a chores process): Prometheus scrapes each
worker on its own port (``sitewatch run --metrics-port``). A process with the API serves
/metrics there, behind a token, instead.

A few lines of asyncio rather than prometheus_client's start_http_server: that one runs a
thread of its own that ``sitewatch run``'s shutdown could not stop, and it needs the registry
where this needs only the process's exposition. It answers GET /metrics and nothing else,
reads at most a few KiB of request, and listens on loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_S = 5.0


async def serve_metrics(exposition: Callable[[], bytes], *, host: str, port: int) -> asyncio.Server:
    """Listening once this returns; ``server.close()`` and ``await server.wait_closed()`` to stop."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"GET" and path == b"/metrics":
            status, kind, body = b"200 OK", CONTENT_TYPE_LATEST.encode(), await asyncio.to_thread(exposition)
        else:
            status, kind, body = b"404 Not Found", b"text/plain; charset=utf-8", b"only GET /metrics is served here\n"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, host, port, limit=MAX_REQUEST_BYTES)
    log.info("metrics on http://%s:%d/metrics", host, server.sockets[0].getsockname()[1])
    return server
