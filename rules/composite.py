"""Kinds over several channels of one asset: composite conditions and night creep."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from sitewatch.domain.alerts import AlertState
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import AND, COMMA, OR, Channel, Joined, Message, Unit
from sitewatch.rules.models import CompositeRule, NightCreepRule, Rule
from sitewatch.rules.slots import NORMAL, PENDING, Emitter, SeriesSlots, Slots, SortedBatch, fmt, held_for

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _slot_map(n_series: int, series: np.ndarray) -> np.ndarray:
    slot_of = np.full(n_series, -1, dtype=np.int64)
    slot_of[series] = np.arange(len(series))
    return slot_of


class CompositeSlots(Slots):
    """Per slot (asset) the latest good value of each condition's channel. Each batch
    updates them from the newest sample per series, then judges the assets it touched at
    the time of their newest sample; pending alerts also fire when for_s passes."""

    held = True
    rule: CompositeRule

    def __init__(self, *args, cond_series: Sequence[np.ndarray], cond_levels: Sequence[np.ndarray],
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        n_series = len(self.slot_of)
        self.cond_series = list(cond_series)
        self.cond_slot_of = [_slot_map(n_series, s) for s in cond_series]
        self.cond_levels = list(cond_levels)
        self.ops = [OPS[c.op] for c in self.rule.conditions]
        self.latest = np.full((len(self.series), len(self.ops)), np.nan)

    def apply(self, batch: SortedBatch, now_s: float, em: Emitter) -> None:
        last = batch.last
        series, ts, value = batch.series[last], batch.ts[last], batch.value[last]
        touched = np.full(len(self.series), -np.inf)
        for c, slot_of in enumerate(self.cond_slot_of):
            index = slot_of[series]
            mine = index >= 0
            s = index[mine]  # one newest sample per series: no slot twice
            self.latest[s, c] = value[mine]
            touched[s] = np.maximum(touched[s], ts[mine])
        s = np.flatnonzero(touched > -np.inf)
        if len(s):
            met = np.stack([op(self.latest[s, c], self.cond_levels[c][s]) for c, op in enumerate(self.ops)])
            cond = met.all(axis=0) if self.rule.mode == "all" else met.any(axis=0)
            self.step(s, touched[s], self.latest[s, 0], cond, ~cond, em)
        self.hold(now_s, em)

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, _ = self.keys[slot]
        parts = tuple(
            Message.of(lazy("%(channel)s %(value)s %(unit)s (%(op)s %(level)s)"), channel=Channel(condition.channel),
                       value=fmt(float(self.latest[slot, c])), unit=Unit(self.units[int(self.cond_series[c][slot])]),
                       op=condition.op, level=f"{float(self.cond_levels[c][slot]):g}")
            for c, condition in enumerate(self.rule.conditions)
        )
        if state is AlertState.FIRING:
            return Message.of(lazy("%(asset)s: %(rule)s: %(conditions)s%(held)s"), asset=asset_id, rule=self.rule.id,
                              conditions=Joined(parts, AND if self.rule.mode == "all" else OR),
                              held=held_for(self.rule))
        return Message.of(lazy("%(asset)s: %(rule)s over: %(conditions)s"), asset=asset_id, rule=self.rule.id,
                          conditions=Joined(parts, COMMA))

    def extra(self, slot: int) -> dict | None:
        found = super().extra(slot) or {}
        found["latest"] = [None if np.isnan(x) else float(x) for x in self.latest[slot]]
        return found

    def restore_extra(self, slot: int, extra: dict) -> None:
        super().restore_extra(slot, extra)
        latest = extra.get("latest")
        if latest is not None and len(latest) == self.latest.shape[1]:
            self.latest[slot] = [np.nan if x is None else x for x in latest]


def check_restart_on(rules: Sequence[Rule]) -> None:
    """Night creep restarts on rules that exist and are judged before it in every batch."""
    by_id = {r.id: r for r in rules}
    for rule in rules:
        for name in getattr(rule, "restart_on", ()):
            if name not in by_id:
                raise ValueError(f"rule {rule.id!r}: restart_on names unknown rule {name!r}")
            if isinstance(by_id[name], NightCreepRule):
                raise ValueError(f"rule {rule.id!r}: restart_on names night_creep rule {name!r} "
                                 f"(night creep is judged after the rules it restarts on)")


class NightCreepSlots(SeriesSlots):
    """Per slot (asset) the latest flow and the outlet's minimum since the baseline began
    (NaN outside low flow and after a restart until the outlet is tracked again). Each
    batch: its newest flow sample first, then the restarts the rules in ``restart_on`` and
    technicians at work call for, then its outlet samples rank by rank (gaps restart too).
    The engine judges night creep after every other rule, so those rules' states already
    include this batch."""

    rule: NightCreepRule

    def __init__(self, *args, flow_series: np.ndarray, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        n = len(self.series)
        self.flow_series = flow_series
        self.flow_slot_of = _slot_map(len(self.slot_of), flow_series)
        self.flow = np.full(n, np.nan)
        self.low_min = np.full(n, np.nan)
        self.last_t = np.full(n, np.nan)  # the newest outlet sample, epoch s: a longer gap restarts
        self.restart_at = np.full(n, -np.inf)  # the latest restart, epoch s: tracked again settle_s after it
        self.slot_of_asset = {asset_id: i for i, (asset_id, _) in enumerate(self.keys)}  # one slot per asset
        self.watched: list[tuple[Slots, np.ndarray, np.ndarray]] = []  # (rule, its slots, ours on the asset)

    def watch(self, rules: Sequence[Slots]) -> None:
        """Restart on the alerts of ``rules`` (the compiled ``restart_on``) on our assets."""
        for r in rules:
            pairs = [(i, self.slot_of_asset[a]) for i, (a, _) in enumerate(r.keys) if a in self.slot_of_asset]
            if pairs:
                theirs, ours = np.asarray(pairs, dtype=np.int64).T
                self.watched.append((r, theirs, ours))

    def apply(self, batch: SortedBatch, now_s: float, em: Emitter) -> None:
        last = batch.last
        index = self.flow_slot_of[batch.series[last]]
        mine = index >= 0
        if mine.any():
            s, t = index[mine], batch.ts[last][mine]
            self.flow[s] = batch.value[last][mine]
            ended = ~(self.flow[s] < self.rule.low_flow)
            self.low_min[s[ended]] = np.nan  # the low-flow period is over: a new one starts afresh
            # Flow rose: clear now, without waiting for the next outlet sample.
            clear = ended & (self.state[s] != NORMAL)
            if clear.any():
                s, t = s[clear], t[clear]
                none = np.zeros(len(s), dtype=bool)
                self.step(s, t, self.value[s], none, ~none, em, detail=np.zeros(len(s)))
        self.restart_while_busy(batch.at_work, now_s, em)
        super().apply(batch, now_s, em)

    def restart_while_busy(self, at_work: frozenset[str], now_s: float, em: Emitter) -> None:
        """Restart where a watched alert is pending or firing or technicians are at work (as
        of ``now_s``), or where a watched alert ended since the last restart (at its end:
        a pending-only blip inside one batch counts too)."""
        n = len(self)
        busy = np.zeros(n, dtype=bool)
        until = np.full(n, -np.inf)
        for r, theirs, ours in self.watched:
            busy[ours[r.state[theirs] != NORMAL]] = True
            np.fmax.at(until, ours, r.since[theirs])  # an alert back to normal: since it ended
        busy[[self.slot_of_asset[a] for a in at_work if a in self.slot_of_asset]] = True
        until[busy] = now_s
        s = np.flatnonzero(until > self.restart_at)
        if len(s):
            self.restart(s, until[s], em)

    def restart(self, s: np.ndarray, at: np.ndarray, em: Emitter) -> None:
        """The baseline starts again ``settle_s`` after ``at``; a pending creep is dropped."""
        self.restart_at[s] = np.fmax(self.restart_at[s], at)
        self.low_min[s] = np.nan
        pending = self.state[s] == PENDING
        if pending.any():
            p = s[pending]
            none = np.zeros(len(p), dtype=bool)
            self.step(p, at[pending], self.value[p], none, none, em)

    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        resumed = tk - self.last_t[s] > self.rule.gap_s  # no earlier sample: NaN, not a gap
        self.last_t[s] = tk
        if resumed.any():
            self.restart(s[resumed], tk[resumed], em)
        tracked = tk > self.restart_at[s] + self.rule.settle_s
        if not tracked.all():
            s, tk, vk = s[tracked], tk[tracked], vk[tracked]
        low = self.flow[s] < self.rule.low_flow
        lowest = np.where(low, np.fmin(self.low_min[s], vk), np.nan)
        self.low_min[s] = lowest
        rise = vk - lowest
        cond = low & (rise >= self.rule.rise)
        clear = ~low | (rise < self.rule.rise / 2)
        self.step(s, tk, vk, cond, clear, em, detail=rise)

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        rule = self.rule
        facts = {"asset": asset_id, "channel": Channel(channel), "value": fmt(value), "unit": Unit(unit),
                 "flow_channel": Channel(rule.flow_channel), "flow": fmt(float(self.flow[slot])),
                 "flow_unit": Unit(self.units[int(self.flow_series[slot])])}
        if state is AlertState.FIRING:
            return Message.of(lazy("%(asset)s: %(channel)s crept up %(rise)s %(unit)s (limit %(limit)s %(unit)s) to "
                                   "%(value)s %(unit)s at low flow (%(flow_channel)s %(flow)s %(flow_unit)s < "
                                   "%(low_flow)s)%(held)s: regulator not locking up"),
                              rise=f"{float(self.detail[slot]):.3f}", limit=f"{rule.rise:g}",
                              low_flow=f"{rule.low_flow:g}", held=held_for(rule), **facts)
        return Message.of(lazy("%(asset)s: %(channel)s holding again (%(value)s %(unit)s, %(flow_channel)s %(flow)s "
                               "%(flow_unit)s)"), **facts)

    def extra(self, slot: int) -> dict | None:
        found = super().extra(slot) or {}
        for name, a in (("low_min", self.low_min), ("flow", self.flow), ("last_t", self.last_t),
                        ("restart_at", self.restart_at)):
            if np.isfinite(a[slot]):
                found[name] = float(a[slot])
        return found or None

    def restore_extra(self, slot: int, extra: dict) -> None:
        super().restore_extra(slot, extra)
        self.low_min[slot] = extra.get("low_min", np.nan)
        self.flow[slot] = extra.get("flow", np.nan)
        self.last_t[slot] = extra.get("last_t", np.nan)
        self.restart_at[slot] = extra.get("restart_at", -np.inf)

    def worth_keeping(self, slot: int) -> bool:
        # A creep measured from before the restart, and the gap the restart itself makes.
        return not np.isnan(self.last_t[slot])
