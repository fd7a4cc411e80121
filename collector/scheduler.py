"""The one place that owns time: intervals, jitter, timeouts, back-off and device health.

Pollers only poll; this module decides when, and what a failure means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sitewatch.collector.admission import Headroom
from sitewatch.collector.errors import CollectorError, DeviceTimeout
from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.results import PollResult
from sitewatch.collector.timers import LazyDeadline
from sitewatch.config.models import CollectorSettings
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import Clock, SystemClock

log = logging.getLogger(__name__)

MARK_AFTER_S = 5.0  # a poll waiting for room longer than this is marked NOT_POLLED (see _wait_for_room)


class SampleSink(Protocol):
    """Where samples go next: in one process a fan-out to store and rules; later a broker."""

    async def publish(self, samples: Sequence[Sample]) -> None: ...


@dataclass(frozen=True, slots=True)
class PollJob:
    device_id: str
    interval_s: float
    timeout_s: float  # budget for one whole poll
    poll: Callable[[datetime], Awaitable[PollResult]]
    channels: Mapping[str, str]  # channel -> unit, for COMM_ERROR (NOT_POLLED) samples when a poll fails (waits)
    close: Callable[[], Awaitable[None]]
    # The job of the device this one is reached through (a station's gateway): when that one
    # answers again after failing, this one is polled at once instead of at the end of its
    # back-off, so a gateway's return is not followed by minutes of its stations' silence.
    upstream: str | None = None
    # Polls that can be late when the process is short of CPU (cameras) wait here for a slot
    # before their time budget starts (collector/admission.py); None: never wait (stations).
    admission: Headroom | None = None


class Scheduler:
    def __init__(
        self,
        *,
        jobs: Sequence[PollJob],
        sink: SampleSink,
        health: HealthRegistry,
        settings: CollectorSettings,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._jobs = list(jobs)
        self._sink = sink
        self._health = health
        self._settings = settings
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        for job in self._jobs:
            health.register(job.device_id)
        # Jobs reached through another wait on an event its recovery sets, not a plain sleep.
        self._wake = {job.device_id: asyncio.Event() for job in self._jobs if job.upstream is not None}
        self._dependants: dict[str, list[str]] = {}
        for job in self._jobs:
            if job.upstream is not None:
                self._dependants.setdefault(job.upstream, []).append(job.device_id)

    async def run(self) -> None:
        """Poll every job until cancelled; closes every connection on the way out."""
        try:
            async with asyncio.TaskGroup() as group:
                for job in self._jobs:
                    group.create_task(self._run_job(job), name=f"poll:{job.device_id}")
        finally:
            await asyncio.gather(*(job.close() for job in self._jobs), return_exceptions=True)

    def next_delay_s(self, job: PollJob, *, consecutive_failures: int, elapsed_s: float) -> float:
        """Interval after a success; after failures, capped exponential back-off."""
        if consecutive_failures == 0:
            base = max(job.interval_s - elapsed_s, 0.0)
        else:
            base = min(self._settings.backoff_max_s, job.interval_s * 2 ** (consecutive_failures - 1))
        spread = self._settings.jitter_fraction
        return base * (1 + self._rng.uniform(-spread, spread))

    async def _run_job(self, job: PollJob) -> None:
        # Start each device at a random point of its interval so 500 stations don't poll in
        # lock-step and saturate the network once per interval.
        await asyncio.sleep(self._rng.uniform(0, job.interval_s))
        deadline = _Deadline()
        while True:
            started = self._clock.monotonic()
            if job.admission is None:
                await self.poll_once(job, deadline)
            else:
                await self._wait_for_room(job)
                try:
                    await self.poll_once(job, deadline)
                finally:
                    job.admission.release()
            failures = self._health.failures(job.device_id)
            elapsed = self._clock.monotonic() - started
            delay = self.next_delay_s(job, consecutive_failures=failures, elapsed_s=elapsed)
            wake = self._wake.get(job.device_id)
            if wake is None:
                await asyncio.sleep(delay)
                continue
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()

    async def _wait_for_room(self, job: PollJob) -> None:
        """A slot of the job's Headroom. A poll held back a while (MARK_AFTER_S, or half its
        interval if shorter), and then every interval it goes on waiting, publishes the job's
        channels as NOT_POLLED: its no-data rules must not take the collector's own delay for
        the device's silence (measured: 3,350 false camera-offline tickets in 4 minutes with
        10,000 cameras held back on a 2-core machine; 713 in 2 minutes when the first mark came
        a whole interval into the wait), and the gap in its data says why. A short wait marks
        nothing: the device's last values stay what its page shows."""
        assert job.admission is not None
        if job.admission.try_acquire():
            return
        turn = asyncio.ensure_future(job.admission.acquire())
        try:
            await asyncio.wait((turn,), timeout=min(MARK_AFTER_S, job.interval_s / 2))
            while not turn.done():
                await self._sink.publish(_samples_of(job, self._clock.now(), Quality.NOT_POLLED))
                await asyncio.wait((turn,), timeout=job.interval_s)
            turn.result()
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                job.admission.release()  # admitted in the same turn as this job was cancelled
            turn.cancel()
            raise

    async def poll_once(self, job: PollJob, deadline: _Deadline) -> None:
        ts = self._clock.now()
        try:
            try:
                deadline.start(job.timeout_s)
                try:
                    result = await job.poll(ts)
                finally:
                    deadline.stop()
            except asyncio.CancelledError:
                if not deadline.expired():
                    raise
                raise DeviceTimeout(
                    device_id=job.device_id, message=f"no complete poll within {job.timeout_s:.1f} s"
                ) from None
        except CollectorError as error:
            self._health.record_failure(job.device_id, at=ts, error=error)
            await self._sink.publish(_samples_of(job, ts, Quality.COMM_ERROR))
            return
        except Exception as error:  # the one top-level guard: a bug must not stop polling
            log.exception("%s: unexpected error while polling", job.device_id)
            wrapped = CollectorError(device_id=job.device_id, message=f"internal error: {error!r}")
            self._health.record_failure(job.device_id, at=ts, error=wrapped)
            return
        health = self._health
        was_failing = health.failures(job.device_id) > 0
        errors = result.errors
        health.record_success(job.device_id, at=ts, partial_errors=errors)
        if was_failing:
            for dependant in self._dependants.get(job.device_id, ()):
                if health.failures(dependant):
                    self._wake[dependant].set()
        for error in errors:
            log.info("%s: %s", job.device_id, error)
        await self._sink.publish(result.samples)


def _samples_of(job: PollJob, ts: datetime, quality: Quality) -> list[Sample]:
    """The job's every channel at ``ts`` with no value: a failed or a held-back poll."""
    return [Sample(job.device_id, channel, ts, math.nan, unit, quality) for channel, unit in job.channels.items()]


class _Deadline:
    """The whole-poll budget of one job (one task, one poll at a time), enforced as
    ``asyncio.timeout`` does it (the polling task is cancelled at the deadline, and that
    cancel alone becomes a timeout) on one lazy timer for all the job's polls
    (collector/timers.py)."""

    __slots__ = ("_cancelling", "_fired", "_timer", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None  # polling now
        self._timer = LazyDeadline(self._expire)
        self._fired = False  # this poll's task was cancelled for its deadline
        self._cancelling = 0  # its cancel requests before ours

    def start(self, budget_s: float) -> None:
        loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self._fired = False
        self._timer.arm(loop, loop.time() + budget_s)

    def stop(self) -> None:
        self.task = None
        self._timer.disarm()

    def expired(self) -> bool:
        """After a CancelledError out of the poll: was it our cancel, and ours alone?"""
        if not self._fired:
            return False
        self._fired = False
        task = asyncio.current_task()
        return task is not None and task.uncancel() <= self._cancelling

    def _expire(self) -> None:
        task = self.task
        assert task is not None
        self._fired = True
        self._cancelling = task.cancelling()
        task.cancel()
