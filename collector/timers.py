"""One loop timer for a run of deadlines of which one at a time is live (a job's polls, a
connection's requests).

Polls and replies end in milliseconds against budgets of seconds, so a timer made, pushed on
the loop's heap and cancelled for each of them is paid for nothing (~4 us of a poll's CPU for
the scheduler's ``asyncio.timeout``, ~1.5 us for a read's reply timer, bench/bench_collector.py).
Instead the one timer is armed when a deadline starts and none is due by then; when it comes
due it expires the live deadline if that one is past due, re-arms for it if not, and lapses
when none is live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class LazyDeadline:
    __slots__ = ("_expire", "_handle", "_loop", "due", "live")

    def __init__(self, expire: Callable[[], None]) -> None:
        self._expire = expire  # called once a live deadline is past due
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.due = 0.0  # loop time
        self.live = False

    def arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self._loop, self.due, self.live = loop, due, True
        handle = self._handle
        if handle is None or handle.when() > due:  # a later timer (a bigger budget before): this one's sooner
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(due, self._check)

    def disarm(self) -> None:
        self.live = False

    def _check(self) -> None:
        self._handle = None
        if not self.live:
            return  # nothing running: the next deadline arms the timer again
        loop = self._loop
        assert loop is not None
        if loop.time() < self.due:
            self._handle = loop.call_at(self.due, self._check)
            return
        self.live = False
        self._expire()
