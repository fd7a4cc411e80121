"""Helpers shared by the tests that talk to the API over a real socket.

Nothing is read anonymously: a test's config carries bearer tokens (:func:`token_entry`),
and :func:`served` gives its client one of them (usually :data:`READER`, a viewer's) to
send by default. A request's own ``headers=`` replaces it, e.g. with a writer's token.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from sitewatch.serve import EmbeddedServer


class FixedClock:
    """A clock that reads ``now`` until a test moves it (``clock.now_value = ...``)."""

    def __init__(self, now: datetime) -> None:
        self.now_value = now

    def now(self) -> datetime:
        return self.now_value

    def monotonic(self) -> float:
        return 0.0


READER = "test-reader-token"  # a viewer: reads everything, may change nothing


def token_entry(token: str, *, name: str, role: str = "admin", customers: Iterable[str] = ()) -> dict:
    """An ``[[api.tokens]]`` entry of a raw config: the token's hash, its role and scope."""
    return {"name": name, "sha256": hashlib.sha256(token.encode()).hexdigest(), "role": role,
            "customers": list(customers)}


def reader_entry() -> dict:
    return token_entry(READER, name="reader", role="viewer")


def reader_toml() -> str:
    """The reader's token as TOML, to append to a config file that has an ``[api]`` table."""
    entry = reader_entry()
    return f'\n[[api.tokens]]\nname = "{entry["name"]}"\nsha256 = "{entry["sha256"]}"\nrole = "{entry["role"]}"\n'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def endpoints(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, path, route) of every endpoint, however deep its router was included:
    FastAPI keeps included routers as a tree, so ``app.routes`` alone lists almost none."""
    found = [(method, ctx.path, ctx.original_route) for ctx in iter_route_contexts(app.routes)
             if isinstance(ctx.original_route, APIRoute) for method in sorted(ctx.methods or ())]
    assert len(found) > 20, f"only {len(found)} endpoints found: the enumeration itself is broken"
    return found


def fill(path: str, values: dict[str, object]) -> str:
    """``path`` with each ``{name}`` replaced by ``values[name]``; a name without a value
    fails with the route, so a test that walks every route says what it must learn."""
    missing = [n for n in re.findall(r"{(\w+)(?::\w+)?}", path) if n not in values]
    assert not missing, f"{path}: the test does not know what to put for {missing}"
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(values[m.group(1)]), path)


@asynccontextmanager
async def served(app: FastAPI, *, timeout_s: float = 10, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app on an ephemeral loopback port, and a client for it (sending ``token`` as its
    bearer token by default); stopped on exit."""
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the API server did not start"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=timeout_s,
                                     headers=bearer(token) if token else None) as client:
            yield client
    finally:
        server.should_exit = True
        await task
