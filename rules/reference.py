"""The rules' meaning, written plainly: one sample at a time, one dict entry per fingerprint.

The vectorised engine must agree with this on every input (tests compare them on random
streams), and the benchmark measures the engine against it. Threshold, rate of change and
flatline: the kinds judged sample by sample, where the engine's cleverness (the rank walk,
the rate window's ring of earlier samples) could go wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

from sitewatch.domain.alerts import AlertState

NORMAL, PENDING, FIRING = 0, 1, 2


def threshold_transitions(
    samples: Iterable[tuple[str, float, float]],
    *,
    direction: str,
    level: float,
    clear_level: float,
    for_s: float,
) -> list[tuple[str, AlertState, float]]:
    """``samples`` as (series, epoch_s, value), time-ordered per series -> (series, state, at)."""
    state: dict[str, int] = {}
    since: dict[str, float] = {}
    out = []
    for series, t, value in samples:
        beyond = value > level if direction == "above" else value < level
        cleared = value < clear_level if direction == "above" else value > clear_level
        old = state.get(series, NORMAL)
        if old == FIRING:
            new = NORMAL if cleared else FIRING
        elif beyond:
            start = t if old == NORMAL else since[series]
            new = FIRING if t - start >= for_s else PENDING
        else:
            new = NORMAL
        if new != old:
            since[series] = t
            if new == FIRING:
                out.append((series, AlertState.FIRING, t))
            elif old == FIRING:
                out.append((series, AlertState.RESOLVED, t))
        state[series] = new
    return out


def _machine(state: dict[str, int], since: dict[str, float], series: str, t: float, *, cond: bool, cleared: bool,
             for_s: float, start: float | None = None) -> tuple[int, int]:
    """The shared pending/firing/resolved machine for one sample: (old, new)."""
    old = state.get(series, NORMAL)
    if old == FIRING:
        new = NORMAL if cleared else FIRING
    elif cond:
        begun = (t if start is None else start) if old == NORMAL else since[series]
        new = FIRING if t - begun >= for_s else PENDING
        if old == NORMAL:
            since[series] = begun
    else:
        new = NORMAL
    if new != old and not (new == PENDING and old == NORMAL):
        since[series] = t
    state[series] = new
    return old, new


def _record(out: list, series: str, old: int, new: int, t: float) -> None:
    if new == FIRING and old != FIRING:
        out.append((series, AlertState.FIRING, t))
    elif old == FIRING and new != FIRING:
        out.append((series, AlertState.RESOLVED, t))


def rate_transitions(
    samples: Iterable[tuple[str, float, float]],
    *,
    direction: str,
    per_min: float,
    clear_per_min: float,
    window_s: float,
    for_s: float,
    history: int = 16,
) -> list[tuple[str, AlertState, float]]:
    """Rate of change as models.RateOfChangeRule states it: the change from the newest kept
    sample at least ``window_s`` old, per minute; samples are kept ``window_s / (history - 2)``
    apart, the newest ``history`` of them."""
    sign = 1.0 if direction == "rising" else -1.0
    spacing = window_s / (history - 2)
    kept: dict[str, list[tuple[float, float]]] = {}
    state: dict[str, int] = {}
    since: dict[str, float] = {}
    out: list = []
    for series, t, value in samples:
        ring = kept.setdefault(series, [])
        refs = [(rt, rv) for rt, rv in ring if rt <= t - window_s]
        if not ring or t - ring[-1][0] >= spacing:
            ring.append((t, value))
            del ring[:-history]
        if not refs:
            continue
        ref_t, ref_v = max(refs)
        rate = sign * (value - ref_v) / (t - ref_t) * 60.0
        old, new = _machine(state, since, series, t, cond=rate > per_min, cleared=rate < clear_per_min, for_s=for_s)
        _record(out, series, old, new, t)
    return out


def flatline_transitions(
    samples: Iterable[tuple[str, float, float]], *, tolerance: float, for_s: float
) -> list[tuple[str, AlertState, float]]:
    """A stuck value: within ``tolerance`` of the stretch's first value for ``for_s``."""
    ref: dict[str, tuple[float, float]] = {}
    state: dict[str, int] = {}
    since: dict[str, float] = {}
    out: list = []
    for series, t, value in samples:
        first = ref.get(series)
        flat = first is not None and abs(value - first[1]) <= tolerance
        old, new = _machine(state, since, series, t, cond=flat, cleared=not flat, for_s=for_s,
                            start=first[0] if first else None)
        _record(out, series, old, new, t)
        if not flat:
            ref[series] = (t, value)
    return out
