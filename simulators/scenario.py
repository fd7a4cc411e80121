"""A fault script and its player: inject and clear named faults at set offsets, and record
when each was really applied.

The script is pure data (frozen, checked when built); ``play`` is the only thing that does
I/O. It runs in the caller's task — no child tasks — so cancelling it leaks nothing, and on
the way out (cancelled or failed) it clears every fault it injected and had not yet ended,
so the fleets are left as it found them.

Any fleet with the simulators' ``inject(device_id, fault, **params)`` / ``clear(device_id,
fault)`` pair is a target (regulator stations, cameras); the script names it by a key of the
``targets`` mapping given to ``play``. The recorded start is the fleet's own: the
``started_at`` of the ActiveFault it returns. The recorded end is the player clock's time
once ``clear`` has returned (in-process fleets end the fault at the end of ``clear``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from sitewatch.domain.time import Clock, SystemClock
from sitewatch.simulators.common.errors import SimulatorError
from sitewatch.simulators.common.faults import FaultKind, checked_params


class FaultTarget(Protocol):
    """What the player needs of a fleet."""

    async def inject(self, device_id: str, fault: str, /, **params: float) -> Any: ...

    async def clear(self, device_id: str, fault: str | None = None) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One fault of a script: on ``device_id`` of fleet ``target`` from ``start_s`` to
    ``end_s`` seconds after the script starts (``end_s`` None: left in force)."""

    target: str
    device_id: str
    fault: str
    start_s: float
    end_s: float | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    label: str = ""  # how expectations refer to it; default "<device>/<fault>@<start_s>"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ValueError(f"{self.device_id}/{self.fault}: start_s must be finite and >= 0, got {self.start_s}")
        if self.end_s is not None and not (math.isfinite(self.end_s) and self.end_s > self.start_s):
            raise ValueError(f"{self.device_id}/{self.fault}: end_s must be after start_s, got {self.end_s}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if not self.label:
            object.__setattr__(self, "label", f"{self.device_id}/{self.fault}@{self.start_s:g}")

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Script:
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        labels = [s.label for s in self.steps]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"duplicate step label(s): {', '.join(dupes)}")
        # Injecting a fault already in force restarts it: two steps of the same fault on the
        # same device must not overlap, or the first one's end would cut the second short.
        by_fault: dict[tuple[str, str, str], list[Step]] = {}
        for step in self.steps:
            by_fault.setdefault((step.target, step.device_id, step.fault), []).append(step)
        for key, steps in by_fault.items():
            steps.sort(key=lambda s: s.start_s)
            for first, second in zip(steps, steps[1:]):
                if first.end_s is None or first.end_s > second.start_s:
                    raise ValueError(
                        f"steps {first.label!r} and {second.label!r} overlap: the same fault on {key[1]} twice"
                    )

    def __len__(self) -> int:
        return len(self.steps)

    def step(self, label: str) -> Step:
        for step in self.steps:
            if step.label == label:
                return step
        raise KeyError(f"no step {label!r} in the script")

    @property
    def duration_s(self) -> float:
        """When the last injection or clearing happens."""
        return max((s.end_s if s.end_s is not None else s.start_s for s in self.steps), default=0.0)


@dataclass(frozen=True, slots=True)
class Applied:
    """What the player really did for one step (UTC)."""

    step: Step
    started_at: datetime
    ended_at: datetime | None = None  # None: still in force (end_s None, or the play stopped)


def check(script: Script, targets: Mapping[str, FaultTarget]) -> None:
    """Refuse a script the targets cannot play, before anything is injected: unknown
    targets, and (where the fleet lists its fault kinds) unknown faults or params."""
    for step in script.steps:
        target = targets.get(step.target)
        if target is None:
            raise KeyError(f"step {step.label!r}: no target {step.target!r} (have: {', '.join(sorted(targets))})")
        kinds: Mapping[str, FaultKind] | None = getattr(target, "fault_kinds", None)
        if kinds is not None:
            checked_params(kinds, step.fault, step.params)


async def play(
    script: Script,
    targets: Mapping[str, FaultTarget],
    *,
    clock: Clock | None = None,
    on_applied: Callable[[Applied], None] | None = None,
) -> tuple[Applied, ...]:
    """Play ``script`` against ``targets`` from now; returns one Applied per step, in script
    order. ``on_applied`` sees each injection (ended_at None) and each clearing as it happens.

    Offsets are kept on the event loop's clock from the moment play starts; an action that
    takes time (a server closing) delays the ones after it, and the recorded times say so.
    """
    check(script, targets)
    clock = clock or SystemClock()
    loop = asyncio.get_running_loop()
    # (offset, 0 = clear before 1 = inject at the same offset, step index)
    timeline = sorted(
        [(s.start_s, 1, i) for i, s in enumerate(script.steps)]
        + [(s.end_s, 0, i) for i, s in enumerate(script.steps) if s.end_s is not None]
    )
    applied: dict[int, Applied] = {}
    in_force: set[int] = set()
    t0 = loop.time()
    try:
        for offset, action, index in timeline:
            delay = t0 + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the script's own clock, not a synchronisation
            step = script.steps[index]
            target = targets[step.target]
            if action == 1:
                fault = await target.inject(step.device_id, step.fault, **step.params)
                started = getattr(fault, "started_at", None) or clock.now()
                record = applied[index] = Applied(step, started)
                in_force.add(index)
            else:
                await target.clear(step.device_id, step.fault)
                in_force.discard(index)
                record = applied[index] = Applied(step, applied[index].started_at, clock.now())
            if on_applied is not None:
                on_applied(record)
    except BaseException:
        # Cancelled or failed: end what we started, then let the reason through.
        for index in sorted(in_force):
            step = script.steps[index]
            try:
                await targets[step.target].clear(step.device_id, step.fault)
            except (SimulatorError, OSError):  # cleanup only: the original error is the one to report
                continue
        raise
    return tuple(applied[i] for i in range(len(script.steps)))
