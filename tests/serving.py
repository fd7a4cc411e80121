"""Helpers shared by the tests that talk to the API over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import uvicorn
from fastapi import FastAPI

from sitewatch.serve import EmbeddedServer


class FixedClock:
    """A clock that reads ``now`` until a test moves it (``clock.now_value = ...``)."""

    def __init__(self, now: datetime) -> None:
        self.now_value = now

    def now(self) -> datetime:
        return self.now_value

    def monotonic(self) -> float:
        return 0.0


@asynccontextmanager
async def served(app: FastAPI, *, timeout_s: float = 10) -> AsyncIterator[httpx.AsyncClient]:
    """The app on an ephemeral loopback port, and a client for it; stopped on exit."""
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the API server did not start"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=timeout_s) as client:
            yield client
    finally:
        server.should_exit = True
        await task
