"""Every collector test must leave no task or thread behind (pymodbus' own habit)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

# Threads of stopped test servers notice within about a second (pyModbusTCP polls a 1 s
# socket timeout); anything alive after this is a leak.
_THREAD_EXIT_S = 5.0


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    started = [t for t in threading.enumerate() if t not in before]
    for thread in started:
        thread.join(timeout=_THREAD_EXIT_S)
    alive = [t.name for t in started if t.is_alive()]
    assert not alive, f"threads left running after the test: {alive}"


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    assert not leaked, f"tasks left pending after the test: {leaked}"
