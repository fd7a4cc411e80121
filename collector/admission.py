"""Room on the event loop for polls that can wait, so polls that cannot keep their interval.

A camera poll costs ~20 ms of CPU on the event loop (SOAP, the picture check), a regulator
station's ~0.5 ms. When a process is given more cameras than its core can poll, every ready
callback waits behind camera work: measured (bench/bench_fleet.py, 10,000 cameras and 5,000
stations on one worker) the loop fell so far behind that 94 % of the stations' polls never
happened and their no-data rules opened tickets for gas stations that were fine. Cameras can
be a poll late; a gas station's pressure cannot.

So deferrable polls (cameras) take a slot from ``Headroom`` before their time budget starts,
and the number of slots follows the loop's lag, as TCP's window follows loss (AIMD). While
deferrable polls run or wait, a timer every ``tick_s`` measures how late it fires: how long a
station's timer or reply now waits behind the work before it. Above ``target_lag_s`` the slots
are cut to 70 % (at most once per ``cut_every_s``, the time a cut takes to show); below half of
it, with polls waiting, one slot more. Stations never wait here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Headroom:
    """Slots for deferrable polls of one event loop; waiters are served first come, first served."""

    def __init__(self, *, target_lag_s: float = 0.05, first: int = 4, most: int = 1000,
                 tick_s: float = 0.1, cut_every_s: float = 0.5) -> None:
        self.target_lag_s = target_lag_s
        self._tick_s = tick_s
        self.limit = first  # slots now
        self._most = most
        self._cut_every_s = cut_every_s
        self._in_flight = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._last_cut = -float("inf")
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.deferred = 0  # polls that had to wait for a slot (a counter, for /metrics and tests)
        self.lag_s = 0.0  # the last probe's

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self) -> bool:
        """A slot now, if one is free and nobody waits for one; ``release`` it when done."""
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._due = loop.time() + self._tick_s
            self._timer = loop.call_at(self._due, self._tick, loop)
        if self._in_flight < self.limit and not self._waiting:
            self._in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served); ``release`` it when done. Cancelled
        while waiting, it takes no slot."""
        if self.try_acquire():
            return
        self.deferred += 1
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # _admit counted the slot in _in_flight when it set the result
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # admitted and cancelled in the same turn: pass the slot on
            else:
                with contextlib.suppress(ValueError):  # _admit may have dropped it already
                    self._waiting.remove(turn)
            raise

    def release(self) -> None:
        self._in_flight -= 1
        self._admit()

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        self.lag_s = lag = now - self._due
        if lag > self.target_lag_s:
            if now - self._last_cut >= self._cut_every_s:
                self._last_cut = now
                self.limit = max(1, int(self.limit * 0.7))
        elif lag < self.target_lag_s / 2 and self._waiting and self.limit < self._most:
            self.limit += 1
            self._admit()
        if self._in_flight or self._waiting:
            self._due = now + self._tick_s
            self._timer = loop.call_at(self._due, self._tick, loop)
        else:
            self._timer = None  # nothing deferrable: the next acquire starts the timer again

    def _admit(self) -> None:
        while self._waiting and self._in_flight < self.limit:
            turn = self._waiting.popleft()
            if not turn.done():
                self._in_flight += 1
                turn.set_result(None)
