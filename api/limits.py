"""Request bodies: bounded before they are read, and never read for nobody.

Two pure ASGI middlewares, installed by api/app.py around every route. Not Starlette's
BaseHTTPMiddleware: that one hands the app a request it has wrapped, and nothing here
may read or buffer a body for the app.

- :class:`BodyLimits`: a request whose ``Content-Length`` is over its path's limit is
  answered 413 at once, before any route or dependency runs and without reading a byte of
  the body; a body sent without one (chunked) is counted as the app reads it and cut off
  with a 413 as soon as it passes the limit. The limits are :data:`LIMITS`; the
  default is :data:`DEFAULT_LIMIT`. No route takes an upload (pictures come from the
  cameras, through the collector), so no path has a larger bound for one.
- :class:`IdentifyFirst`: an unsafe request (POST, PUT, PATCH, DELETE) is identified by its
  headers alone, a bearer token or a session cookie (api/deps.identify), before anything
  reads its body; nobody, or an unknown token, is answered 401 there and then. FastAPI
  reads and parses a route's body before it solves the route's dependencies, so the login
  check in require_principal alone came after a 50 MB body had been read (+150 MB resident).
  Only the login form is open to nobody.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sitewatch.api.deps import bearer, identify, login_required

KIB, MIB = 1024, 1024 * 1024
DEFAULT_LIMIT = 1 * MIB  # any JSON body or form: the largest, a ticket's resolution, is under 100 KiB
# (path, bytes): the first whose pattern matches the path applies.
LIMITS: Sequence[tuple[re.Pattern[str], int]] = (
    (re.compile(r"^/login$"), 16 * KIB),  # a name, a password and a return path
    # Up to 200 checklist results with notes of 2,000 characters (api/schemas.ResultsIn): 1.2 MiB
    # in UTF-8, 2.4 MiB as JSON's \u escapes.
    (re.compile(r"^(/api)?/inspections/[^/]+/results$"), 4 * MIB),
)
OPEN_WRITES = frozenset({"/login"})  # unsafe requests nobody may make: logging in
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def limit_of(path: str) -> int:
    return next((size for pattern, size in LIMITS if pattern.match(path)), DEFAULT_LIMIT)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its limit; an HTTPException so that the
    app answers it (FastAPI re-raises it from its body reading), as it does any other."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=too_large(limit))


def too_large(limit: int) -> str:
    readable = f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit // KIB} KiB"
    return f"request body too large: at most {limit} bytes ({readable}) here"


class BodyLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_of(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await JSONResponse({"detail": too_large(limit)}, status_code=413)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:  # read outside a route (none does today): answered here, if still possible
            if started:
                raise
            await JSONResponse({"detail": too_large(limit)}, status_code=413)(scope, receive, send)


class IdentifyFirst:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS or scope["path"] in OPEN_WRITES:
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # no receive: nothing here can read the body
        parts = scope["app"].state.components
        try:
            credentials = await bearer(request)
            # A session cookie is looked up in the database: not on the event loop. The
            # principal is kept on the request's state, where the route's dependencies find it.
            principal = await run_in_threadpool(identify, request, parts, credentials)
        except HTTPException as exc:  # an unknown bearer token
            response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        else:
            if principal is not None:
                await self.app(scope, receive, send)
                return
            response = login_required()
        await response(scope, receive, send)
