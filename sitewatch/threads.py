"""A thread of its own for a stage's blocking work.

``asyncio.to_thread`` shares one pool (min(32, cores + 4) threads: 6 on a 2-core machine)
among everything the process hands it. A stage whose blocking calls must happen on time —
renewing its leases, flushing samples, writing tickets, saving device health — must not
queue there behind bulk work: bench_fleet (2 workers, 10,000 cameras) saw one worker's
leases run out behind the cameras' first-poll database writes, and the other worker take
its shards while it went on polling them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class OwnThread:
    """One worker thread, started on first use; calls run one at a time, in order."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(work, *args))

    def close(self) -> None:
        """No new calls; one still running finishes in its thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
