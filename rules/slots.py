"""Per-rule state: one slot per (rule, asset, channel) fingerprint, held in numpy arrays.

Every rule kind reduces a sample (or a batch) to two booleans per slot — the alarm
condition and, while firing, the clear condition — and shares one state machine:
NORMAL -> PENDING while the condition holds -> FIRING once it has held ``for_s`` ->
NORMAL at the clear condition. The kinds live in threshold.py, trend.py, baseline.py
and composite.py; the engine (engine.py) owns emission, flapping and durability.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sitewatch.domain.alerts import AlertState, Severity
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import Message, Seconds

NORMAL, PENDING, FIRING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SortedBatch:
    """A batch's good samples sorted by (series, time); ``rank`` is the k-th of its series."""

    series: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    rank: np.ndarray
    last: np.ndarray  # bool: the newest sample of its series in this batch
    depth: int  # the most samples any series has in this batch
    # Assets where technicians are at work as of the evaluation (a maintenance window or an
    # inspection in progress): night creep restarts there (composite.NightCreepSlots).
    at_work: frozenset[str] = frozenset()
    # (series, ts) of the batch's NOT_POLLED samples, unsorted; None: none (engine.SampleBatch).
    unasked: tuple[np.ndarray, np.ndarray] | None = None
    _selected: dict = field(default_factory=dict)

    def select(self, slot_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(slot, ts, value, rank) of the samples of one rule's series. Rules over the same
        series share one ``slot_of`` array (the engine interns them), so the gathers over
        the whole batch are done once per channel, not once per rule."""
        found = self._selected.get(id(slot_of))
        if found is None:
            index = slot_of[self.series]
            mine = index >= 0
            rank = self.rank[mine] if self.depth > 1 else None
            found = self._selected[id(slot_of)] = (index[mine], self.ts[mine], self.value[mine], rank)
        return found


class Emitter(Protocol):
    """What a rule kind tells the engine: state changes and stage-ups (engine.py). ``began``:
    when the condition of each alert that fires began (epoch s; no-data: the last good sample)."""

    def emit(self, r: Slots, s: np.ndarray, old: np.ndarray, new: np.ndarray, t: np.ndarray, v: np.ndarray,
             began: np.ndarray) -> None: ...

    def stage_up(self, r: Slots, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> None: ...


class Slots(ABC):
    """The per-fingerprint state of one rule. Subclasses implement ``apply`` and ``summary``."""

    held = False  # a pending alert fires when for_s passes without a newer sample

    def __init__(self, rule: Any, keys: list[tuple[str, str]], series: np.ndarray, *, n_series: int,
                 units: Sequence[str]) -> None:
        self.rule = rule
        self.keys = keys  # (asset_id, channel) per slot
        self.series = series  # the series each slot's alerts are reported on
        self.units = units  # the engine's unit per series
        self.slot_of = np.full(n_series, -1, dtype=np.int64)
        self.slot_of[series] = np.arange(len(series))
        n = len(series)
        self.state = np.zeros(n, dtype=np.int8)
        self.since = np.full(n, np.nan)  # when the current state began (pending: the condition), epoch s
        self.value = np.full(n, np.nan)  # value that caused the last change, in the channel's unit
        self.detail = np.full(n, np.nan)  # kind-specific figure for the summary (a rate, a rise ...)
        self.stage = np.zeros(n, dtype=np.int8)  # 1: stepped up to critical while firing
        self.began = np.full(n, np.nan)  # firing: when its condition began (a stage-up reports it again)
        self.for_s = float(getattr(rule, "for_s", 0.0))

    def __len__(self) -> int:
        return len(self.keys)

    # -- the shared state machine ---------------------------------------------------

    def decide(self, s: np.ndarray, tk: np.ndarray, cond: np.ndarray, clear: np.ndarray,
               start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(old, new, began) of slots ``s`` at times ``tk``; ``began``: when the condition
        began (pending: since; else now, or ``start`` for kinds whose condition is judged
        over a stretch)."""
        old = self.state[s]
        began = np.where(old == NORMAL, tk if start is None else start, self.since[s])
        new = np.where(
            old == FIRING,
            np.where(clear, NORMAL, FIRING),
            np.where(cond, np.where(tk - began >= self.for_s, FIRING, PENDING), NORMAL),
        ).astype(np.int8)
        return old, new, began

    def commit(self, s: np.ndarray, old: np.ndarray, new: np.ndarray, began: np.ndarray, tk: np.ndarray,
               vk: np.ndarray, em: Emitter, *, start: np.ndarray | None = None,
               detail: np.ndarray | None = None) -> None:
        changed = new != old
        if not changed.any():
            return
        if detail is not None:
            self.detail[s[changed]] = detail[changed]
        em.emit(self, s, old, new, tk, vk, began)
        pending = changed & (new == PENDING)
        since = tk if start is None else np.where(pending & (old == NORMAL), start, tk)
        self.since[s] = np.where(changed, since, self.since[s])
        self.value[s] = np.where(pending, vk, self.value[s])
        self.state[s] = new
        self.stage[s[changed & (new != FIRING)]] = 0

    def step(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, cond: np.ndarray, clear: np.ndarray,
             em: Emitter, *, start: np.ndarray | None = None, detail: np.ndarray | None = None) -> np.ndarray:
        old, new, began = self.decide(s, tk, cond, clear, start)
        self.commit(s, old, new, began, tk, vk, em, start=start, detail=detail)
        return new

    def hold(self, now_s: float, em: Emitter) -> None:
        """Fire pending alerts whose duration has passed with no newer sample: event-driven
        channels (an alarm host reports mains loss once) have no next sample to wait for."""
        held = (self.state == PENDING) & (now_s - self.since >= self.for_s)
        if not held.any():
            return
        s = np.flatnonzero(held)
        at = self.since[s] + self.for_s
        self.before_held_fire(s)
        em.emit(self, s, self.state[s], np.full(len(s), FIRING, dtype=np.int8), at, self.value[s], self.since[s])
        self.since[s] = at
        self.state[s] = FIRING

    def lose_pending(self, lost_series: np.ndarray) -> None:
        """These series just failed to report: their pending alerts go back to normal (the
        condition is judged afresh on the next good sample)."""
        index = self.slot_of[lost_series]
        s = index[index >= 0]
        self.state[s[self.state[s] == PENDING]] = NORMAL

    def before_held_fire(self, s: np.ndarray) -> None:
        """Hook: a kind with stages sets them before the held alerts fire."""

    # -- per kind ---------------------------------------------------------------------

    @abstractmethod
    def apply(self, batch: SortedBatch, now_s: float, em: Emitter) -> None:
        """Judge this rule's share of a batch, then the passage of time up to ``now_s``."""

    def severity(self, slot: int) -> Severity:
        return Severity.CRITICAL if self.stage[slot] else Severity(self.rule.severity)

    @abstractmethod
    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        """One line for the control room, with the unit: stored in English, shown in the
        reader's language (i18n/messages.py)."""

    def extra(self, slot: int) -> dict | None:
        """Kind-specific state a restart needs (JSON-able), beyond state and since."""
        return {"stage": 1} if self.stage[slot] else None

    def restore_extra(self, slot: int, extra: dict) -> None:
        self.stage[slot] = int(extra.get("stage", 0))

    def worth_keeping(self, slot: int) -> bool:
        """Snapshot this slot even while NORMAL (learnt state, last-seen times)."""
        return False


class SeriesSlots(Slots):
    """Kinds judged sample by sample on one series: the batch is walked rank by rank (the
    k-th sample of every series at once), which keeps durations and hysteresis exact."""

    def apply(self, batch: SortedBatch, now_s: float, em: Emitter) -> None:
        slot, t, v, rank = batch.select(self.slot_of)
        if len(slot) and rank is None:  # the usual case: one sample per series in this batch
            self.judge(slot, t, v, em)
        elif len(slot):
            stirred = self.stirred(slot, v)
            if stirred is not None:
                # Only the series a sample can change are walked rank by rank, every sample of
                # each: a catch-up batch of quiet series costs one vectorised test, not a walk.
                touched = np.zeros(len(self), dtype=bool)
                touched[slot[stirred]] = True
                mine = touched[slot]
                slot, t, v, rank = slot[mine], t[mine], v[mine], rank[mine]
            for k in range(int(rank.max()) + 1 if len(slot) else 0):
                at_rank = rank == k
                self.judge(slot[at_rank], t[at_rank], v[at_rank], em)
        if self.held:
            self.hold(now_s, em)

    @abstractmethod
    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        """Apply the k-th sample of each series at once (``s`` slots, times, values)."""

    def stirred(self, s: np.ndarray, v: np.ndarray) -> np.ndarray | None:
        """For kinds whose only state is the state machine's: which samples could change a
        slot (its condition holds, or the slot is not NORMAL). The others judge nothing: a
        NORMAL slot whose condition does not hold stays NORMAL. None: every sample counts."""
        return None


def held_for(rule: Any) -> Message | str:
    """The " for 10 s" after a summary; nothing for a rule without a duration."""
    for_s = getattr(rule, "for_s", 0.0)
    return Message.of(lazy(" for %(duration)s"), duration=Seconds(for_s)) if for_s else ""


def fmt(value: float) -> str:
    """A reading for a control-room operator: three decimals, no noise digits."""
    return "?" if value != value else f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
