"""Level kinds: threshold (with hysteresis and a critical stage), state values, no data."""

from __future__ import annotations

import numpy as np

from domain.alerts import AlertState
from rules.models import NoDataRule, StateRule, ThresholdRule
from rules.slots import FIRING, NORMAL, Emitter, SeriesSlots, Slots, SortedBatch, held_for


class ThresholdSlots(SeriesSlots):
    held = True
    rule: ThresholdRule

    def __init__(self, *args, levels: np.ndarray, clears: np.ndarray, criticals: np.ndarray, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "below" rules are "above" rules on the negated value: one code path for both.
        sign = 1.0 if self.rule.direction == "above" else -1.0
        self.sign = sign
        self.level = sign * levels
        self.clear = sign * clears
        self.critical = None
        if self.rule.critical_level is not None:
            # An asset's own limit may lie beyond the rule's critical level: no stage there.
            critical = sign * criticals
            self.critical = np.where(critical > self.level, critical, np.nan)

    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        signed = self.sign * vk
        old, new, began = self.decide(s, tk, signed > self.level[s], signed < self.clear[s])
        if self.critical is None:
            self.commit(s, old, new, began, tk, vk, em)
            return
        beyond = (signed > self.critical[s]) & (new == FIRING) & (self.stage[s] == 0)
        # Fired straight beyond the critical level: one FIRING transition, already critical.
        self.stage[s[beyond & (old != FIRING)]] = 1
        self.commit(s, old, new, began, tk, vk, em)
        up = beyond & (old == FIRING)
        if up.any():
            self.stage[s[up]] = 1
            self.value[s[up]] = vk[up]
            em.stage_up(self, s[up], tk[up], vk[up])

    def before_held_fire(self, s: np.ndarray) -> None:
        if self.critical is not None:
            beyond = self.sign * self.value[s] > self.critical[s]
            self.stage[s[beyond]] = 1

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> str:
        asset_id, channel = self.keys[slot]
        rule = self.rule
        level = float(self.sign * self.level[slot])
        clear = float(self.sign * self.clear[slot])
        word = "above" if rule.direction == "above" else "below"
        relative = f" ({rule.relative_to} {self.offset(slot):g} {rule.level:+g} {unit})" if rule.relative_to else ""
        if state is AlertState.FIRING:
            if self.stage[slot] and self.critical is not None:
                critical = float(self.sign * self.critical[slot])
                return f"{asset_id}: {channel} {value:.3f} {unit} {word} critical level {critical:g} {unit}"
            return f"{asset_id}: {channel} {value:.3f} {unit} {word} {level:g} {unit}{relative}{held_for(rule)}"
        back = "below" if rule.direction == "above" else "above"
        return f"{asset_id}: {channel} {value:.3f} {unit} back {back} {clear:g} {unit}"

    def offset(self, slot: int) -> float:
        """The asset's setting a relative rule's levels were added to."""
        return float(self.sign * self.level[slot]) - (self.rule.level or 0.0)


class StateSlots(SeriesSlots):
    held = True
    rule: StateRule

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.alarm_values = np.asarray(self.rule.alarm_values, dtype=np.float64)

    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        alarm = np.isin(vk, self.alarm_values)
        self.step(s, tk, vk, alarm, ~alarm, em)

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> str:
        asset_id, channel = self.keys[slot]
        label = self.rule.label(value)
        if state is AlertState.FIRING:
            return f"{asset_id}: {channel}: {label}{held_for(self.rule)}"
        return f"{asset_id}: {channel}: {label} again"


class NoDataSlots(Slots):
    rule: NoDataRule

    def __init__(self, *args, started_at: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A series that never reported counts from engine start, not from 1970.
        self.last_good = np.full(len(self.series), started_at)

    def apply(self, batch: SortedBatch, now_s: float, em: Emitter) -> None:
        slot, t, _, _ = batch.select(self.slot_of)
        if len(slot):
            np.maximum.at(self.last_good, slot, t)
        silent = now_s - self.last_good > self.rule.after_s
        old = self.state
        new = np.where(silent, FIRING, NORMAL).astype(np.int8)
        # A no-data alert fires at the moment the silence exceeded the limit and resolves at
        # the first good sample after it, not at the (later) tick that noticed.
        at = np.where(new == FIRING, self.last_good + self.rule.after_s, self.last_good)
        changed = new != old
        if changed.any():
            s = np.flatnonzero(changed)
            # The silence began at the last good sample.
            em.emit(self, s, old[s], new[s], at[s], np.full(len(s), np.nan), self.last_good[s])
            self.since[s] = at[s]
            self.state = new

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> str:
        asset_id, channel = self.keys[slot]
        if state is AlertState.FIRING:
            return f"{asset_id}: no {channel} data for more than {self.rule.after_s:g} s"
        return f"{asset_id}: {channel} data again"

    def extra(self, slot: int) -> dict | None:
        return {"last_good": float(self.last_good[slot])}

    def restore_extra(self, slot: int, extra: dict) -> None:
        if extra.get("last_good") is not None:
            self.last_good[slot] = extra["last_good"]

    def worth_keeping(self, slot: int) -> bool:
        return True
