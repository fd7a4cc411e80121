"""Level kinds: threshold (with hysteresis and a critical stage), state values, no data."""

from __future__ import annotations

import numpy as np

from sitewatch.domain.alerts import AlertState
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import Channel, Label, Message, Seconds, StateValue, Term, Unit
from sitewatch.rules.models import NoDataRule, StateRule, ThresholdRule
from sitewatch.rules.slots import FIRING, NORMAL, Emitter, SeriesSlots, Slots, SortedBatch, held_for

# Summaries by the rule's direction: firing, firing beyond the critical level, back to normal.
_FIRING = {
    "above": lazy("%(asset)s: %(channel)s %(value)s %(unit)s above %(level)s %(unit)s%(relative)s%(held)s"),
    "below": lazy("%(asset)s: %(channel)s %(value)s %(unit)s below %(level)s %(unit)s%(relative)s%(held)s"),
}
_CRITICAL = {
    "above": lazy("%(asset)s: %(channel)s %(value)s %(unit)s above critical level %(level)s %(unit)s"),
    "below": lazy("%(asset)s: %(channel)s %(value)s %(unit)s below critical level %(level)s %(unit)s"),
}
_BACK = {
    "above": lazy("%(asset)s: %(channel)s %(value)s %(unit)s back below %(level)s %(unit)s"),
    "below": lazy("%(asset)s: %(channel)s %(value)s %(unit)s back above %(level)s %(unit)s"),
}
# A relative rule's levels: "(lock_up_kpa 2.2 +0.05 kPa)" — the setting, the asset's value, the offset.
_RELATIVE = lazy(" (%(setting)s %(setting_value)s %(offset)s %(unit)s)")
SETTINGS = {
    "set_point_kpa": lazy("set point"),
    "lock_up_kpa": lazy("lock-up pressure"),
    "relief_kpa": lazy("relief pressure"),
    "slam_shut_kpa": lazy("slam-shut pressure"),
}


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

    def stirred(self, s: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (self.state[s] != NORMAL) | (self.sign * v > self.level[s])

    def before_held_fire(self, s: np.ndarray) -> None:
        if self.critical is not None:
            beyond = self.sign * self.value[s] > self.critical[s]
            self.stage[s[beyond]] = 1

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        rule = self.rule
        facts = {"asset": asset_id, "channel": Channel(channel), "value": f"{value:.3f}", "unit": Unit(unit)}
        if state is not AlertState.FIRING:
            return Message.of(_BACK[rule.direction], level=f"{float(self.sign * self.clear[slot]):g}", **facts)
        if self.stage[slot] and self.critical is not None:
            return Message.of(_CRITICAL[rule.direction], level=f"{float(self.sign * self.critical[slot]):g}", **facts)
        relative = "" if not rule.relative_to else Message.of(
            _RELATIVE, setting=Term(SETTINGS[rule.relative_to], raw=rule.relative_to),
            setting_value=f"{self.offset(slot):g}", offset=f"{rule.level:+g}", unit=Unit(unit))
        return Message.of(_FIRING[rule.direction], level=f"{float(self.sign * self.level[slot]):g}", relative=relative,
                          held=held_for(rule), **facts)

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

    def stirred(self, s: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (self.state[s] != NORMAL) | np.isin(v, self.alarm_values)

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        named = self.rule.named(value)
        label = StateValue(channel, value) if named is None else Label(named)
        if state is AlertState.FIRING:
            return Message.of(lazy("%(asset)s: %(channel)s: %(state)s%(held)s"), asset=asset_id,
                              channel=Channel(channel), state=label, held=held_for(self.rule))
        return Message.of(lazy("%(asset)s: %(channel)s: %(state)s again"), asset=asset_id, channel=Channel(channel),
                          state=label)


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
        if batch.unasked is not None:
            # Time the collector did not ask the device (it held the poll back) is not the
            # device's silence: it restarts the count, as a good sample would. It does not end
            # an alert already firing: nothing was heard from the device.
            index = self.slot_of[batch.unasked[0]]
            mine = index >= 0
            mine[mine] &= self.state[index[mine]] != FIRING
            np.maximum.at(self.last_good, index[mine], batch.unasked[1][mine])
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

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        if state is AlertState.FIRING:
            return Message.of(lazy("%(asset)s: no %(channel)s data for more than %(duration)s"), asset=asset_id,
                              channel=Channel(channel), duration=Seconds(self.rule.after_s))
        return Message.of(lazy("%(asset)s: %(channel)s data again"), asset=asset_id, channel=Channel(channel))

    def extra(self, slot: int) -> dict | None:
        return {"last_good": float(self.last_good[slot])}

    def restore_extra(self, slot: int, extra: dict) -> None:
        if extra.get("last_good") is not None:
            self.last_good[slot] = extra["last_good"]

    def worth_keeping(self, slot: int) -> bool:
        return True
