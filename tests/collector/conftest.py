"""Every collector test must leave no thread behind (tasks are checked for every test)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

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


