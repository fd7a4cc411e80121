"""The rules' meaning, written plainly: one sample at a time, one dict entry per fingerprint.

The vectorised engine must agree with this on every input (tests compare them on random
streams), and the benchmark measures the engine against it. Threshold rules only: that is
where the engine's cleverness is.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.alerts import AlertState

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
