"""Keeps the process's long-running loops alive: a bug in one loop is logged, counted and
recovered from, never the end of the process. Only cancellation (shutdown) ends a loop.

Two shapes of loop:
- a loop with a body per iteration (the store writer, the rules worker, the daily chores)
  runs each body under ``Supervisor.guard``: the failed iteration is recorded, the next one
  runs as usual;
- a loop that is one long call (the collector's scheduler, the alarm-host consumer) runs
  under ``Supervisor.keep_running``: started again after a short, capped back-off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sitewatch.domain.time import Clock

log = logging.getLogger(__name__)

# An error this recent still makes the process "degraded" on /healthz.
DEGRADED_FOR = timedelta(minutes=5)


class LoopState(enum.StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"  # failed; waiting out its back-off before starting again


@dataclass(frozen=True, slots=True)
class LoopHealth:
    """One supervised loop, as the supervisor last saw it. ``errors`` counts unexpected
    errors; ``restarts`` counts the times a loop was started again after ending."""

    name: str
    state: LoopState = LoopState.RUNNING
    restarts: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BufferState:
    """An on-disk buffer a stage fills while what lies behind it is down (the store's
    store-and-forward buffer). Counts are samples; the totals run since the process started."""

    samples: int  # waiting now
    max_samples: int
    warn_at: int  # the control room is warned from here on
    spooled: int
    replayed: int
    dropped: int  # lost: pushed out of a full buffer (or held in memory when the disk failed too)

    @property
    def warning(self) -> bool:
        return self.samples >= self.warn_at


class ServiceHealth:
    """How the process itself is doing: its loops, what it set aside, its inputs' counters,
    its buffers.

    The supervisor writes the loop records (in the event loop); whatever set aside samples
    or counts messages registers a reader here; the API only reads.
    """

    def __init__(self) -> None:
        self._loops: dict[str, LoopHealth] = {}
        self._set_aside: dict[str, Callable[[], int]] = {}
        self._inputs: dict[str, Callable[[], dict[str, int]]] = {}
        self._buffers: dict[str, Callable[[], BufferState]] = {}
        # Stages' own Prometheus metrics (prometheus_client Metric families), read at scrape time.
        self._metrics: dict[str, Callable[[], Iterable[Any]]] = {}
        self._changed = asyncio.Event()  # set and replaced on every change, for wait_for

    def loops(self) -> dict[str, LoopHealth]:
        return dict(self._loops)

    def set_aside(self) -> dict[str, int]:
        """What could not be processed and was put aside so the rest could go on, by kind."""
        return {kind: count() for kind, count in self._set_aside.items()}

    def inputs(self) -> dict[str, dict[str, int]]:
        """Counters of the inputs that count what they receive (e.g. the alarm hosts)."""
        return {name: counters() for name, counters in self._inputs.items()}

    def buffers(self) -> dict[str, BufferState]:
        return {name: state() for name, state in self._buffers.items()}

    def degraded(self, *, now: datetime) -> bool:
        """A loop restarting or failed lately, or a buffer past its warning level."""
        return any(
            h.state is LoopState.RESTARTING or (h.last_error_at is not None and now - h.last_error_at < DEGRADED_FOR)
            for h in self._loops.values()
        ) or any(b.warning for b in self.buffers().values())

    def count_set_aside(self, kind: str, count: Callable[[], int]) -> None:
        self._set_aside[kind] = count

    def count_input(self, name: str, counters: Callable[[], dict[str, int]]) -> None:
        self._inputs[name] = counters

    def watch_buffer(self, name: str, state: Callable[[], BufferState]) -> None:
        self._buffers[name] = state

    def report_metrics(self, name: str, metrics: Callable[[], Iterable[Any]]) -> None:
        self._metrics[name] = metrics

    def metrics(self) -> Iterator[Any]:
        for metrics in list(self._metrics.values()):
            yield from metrics()

    def forget(self, *names: str) -> None:
        """Loops and inputs that ended for good (a shard handed to another worker)."""
        for name in names:
            self._loops.pop(name, None)
            self._inputs.pop(name, None)

    def update(self, name: str, **changes: object) -> None:
        self._loops[name] = dataclasses.replace(self._loops.get(name) or LoopHealth(name), **changes)
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, name: str, predicate: Callable[[LoopHealth], bool], *, timeout_s: float) -> LoopHealth:
        """Wait until the loop's record satisfies ``predicate`` (for tests)."""
        async with asyncio.timeout(timeout_s):
            while name not in self._loops or not predicate(self._loops[name]):
                await self._changed.wait()
        return self._loops[name]


class Supervisor:
    def __init__(
        self, health: ServiceHealth, *, clock: Clock, first_backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> None:
        self._health = health
        self._clock = clock
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s

    @contextmanager
    def guard(self, name: str) -> Iterator[None]:
        """Around one iteration's body: an unexpected error is logged with its traceback and
        recorded, and the loop goes on. Cancellation is not an Exception: it passes."""
        try:
            yield
        except Exception as exc:  # the top-level guard of one loop iteration
            log.exception("%s: unexpected error; carrying on", name)
            self._record_error(name, exc)

    async def keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` until cancelled, starting it again whenever it raises or returns."""
        backoff_s = self._first_backoff_s
        restarts = 0
        loop = asyncio.get_running_loop()
        while True:
            self._health.update(name, state=LoopState.RUNNING, restarts=restarts)
            started = loop.time()
            try:
                await run()
                log.error("%s: ended by itself; starting it again", name)
            except Exception as exc:  # the top-level guard of a whole loop
                log.exception("%s: unexpected error; starting it again", name)
                self._record_error(name, exc)
            self._health.update(name, state=LoopState.RESTARTING)
            if loop.time() - started > self._max_backoff_s:
                backoff_s = self._first_backoff_s  # it ran well for a while: a new failure, not a streak
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self._max_backoff_s)
            restarts += 1

    async def every(
        self, name: str, every_s: float, body: Callable[[], Awaitable[None]], *, first_now: bool = False
    ) -> None:
        """Run ``body()`` every ``every_s`` until cancelled (first at once if ``first_now``);
        a failed run is recorded and the next one comes as usual."""
        self._health.update(name)  # listed on /healthz before any error
        if not first_now:
            await asyncio.sleep(every_s)
        while True:
            with self.guard(name):
                await body()
            await asyncio.sleep(every_s)

    def _record_error(self, name: str, exc: Exception) -> None:
        errors = self._health.loops().get(name, LoopHealth(name)).errors
        self._health.update(name, errors=errors + 1, last_error=f"{type(exc).__name__}: {exc}",
                            last_error_at=self._clock.now())
