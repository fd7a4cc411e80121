"""The control room's live stream: Server-Sent Events carrying each new state.

    GET /live/control-room?customer=&site=&severity=&desk=&since=<version>

Each event is ``event: state`` with the same JSON as /api/dashboard under the same
filters, and the version as its id (a reconnecting EventSource sends it back as
Last-Event-ID, and nothing is resent if nothing changed). A comment line every
``HEARTBEAT_S`` keeps proxies from closing an idle stream.

A plain StreamingResponse rather than sse-starlette's EventSourceResponse: that one stops
its streams on shutdown only through uvicorn's signal handlers, which ``sitewatch run``
does not install (sitewatch/serve.py), and watches for it with a task of its own that
outlives the request; here the hub ends the streams (sitewatch.api.dashboard.hub.end_streams).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from sitewatch.api.dashboard.hub import hub_of
from sitewatch.api.dashboard.state import Filters
from sitewatch.api.deps import SESSION_COOKIE, PrincipalDep
from sitewatch.api.pages.common import request_locale
from sitewatch.api.routes.dashboard import FiltersDep
from sitewatch.auth.users import principal_of_session

router = APIRouter(include_in_schema=False)

RETRY_MS = 2000  # how soon a browser reconnects after the stream broke
# A stream outlives the request that opened it: its login is looked at again this often, so
# a user logged out, disabled or past the session's end stops receiving the control room.
RECHECK_S = 30.0


@router.get("/live/control-room")
async def control_room_stream(request: Request, principal: PrincipalDep, filters: FiltersDep,
                              since: str | None = None) -> StreamingResponse:
    since = request.headers.get("last-event-id") or since
    events = _events(request, principal.customers, filters, request_locale(request, principal), since)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(request: Request, customers: frozenset[str] | None, filters: Filters, locale: str,
                  since: str | None) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    checked = time.monotonic()
    async for view in hub_of(request.app).updates(customers, filters, locale, since=since):
        if time.monotonic() - checked >= RECHECK_S:
            checked = time.monotonic()
            if not await run_in_threadpool(_still_logged_in, request):
                yield b"event: logout\ndata: {}\n\n"
                return
        if view is None:
            yield b": keep-alive\n\n"
        else:
            # In three parts: the JSON (megabytes at fleet scale) is one object shared by every
            # stream of the same view, written as it is rather than copied into each event.
            yield b"id: " + view.version.encode() + b"\nevent: state\ndata: "
            yield view.json()
            yield b"\n\n"


def _still_logged_in(request: Request) -> bool:
    """A bearer token stays valid while the config names it; a browser's session is read again."""
    token = request.cookies.get(SESSION_COOKIE)
    if token is None or request.headers.get("authorization"):
        return True
    parts = request.app.state.components
    with parts.sessions() as session:
        return principal_of_session(session, token, at=parts.clock.now()) is not None
