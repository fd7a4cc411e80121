"""One OnvifClients for the whole ONVIF test session, as the runtime has one per process."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

import pytest

from sitewatch.collector.onvif.client import OnvifClients

from .hostile_camera import HostileCamera, hostile_camera


@pytest.fixture(scope="session")
async def clients() -> AsyncIterator[OnvifClients]:
    shared = OnvifClients()
    yield shared
    await shared.aclose()


@pytest.fixture(scope="session", autouse=True)
async def default_executor_started() -> None:
    """Every worker thread of the loop's default executor, started before any test.

    The poller judges pictures there (and the simulator encodes, the snapshot keeper writes);
    its threads live as long as the session's loop, and the executor may start another even
    for calls one after the other (a worker counts as idle only after its result is out), which
    tests/collector's per-test thread check would take for a leak. So all of them start here,
    held at a barrier until each has its own.
    """
    workers = min(32, (os.cpu_count() or 1) + 4)  # ThreadPoolExecutor's default, which asyncio uses
    barrier = threading.Barrier(workers)
    await asyncio.gather(*(asyncio.to_thread(barrier.wait) for _ in range(workers)))


@pytest.fixture
async def camera() -> AsyncIterator[HostileCamera]:
    """A hostile camera with a media service whose snapshot it serves at /snapshot.jpg (its
    ``snapshot``); test modules with cameras of their own define their own ``camera``."""
    async with hostile_camera() as running:
        running.with_media(snapshot_uri=f"http://127.0.0.1:{running.port}/snapshot.jpg")
        yield running
