"""How a value moves: rate of change over a sliding window, and flatline (a stuck sensor)."""

from __future__ import annotations

import numpy as np

from sitewatch.domain.alerts import AlertState
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import Channel, Message, Seconds, Term, Unit
from sitewatch.rules.models import FlatlineRule, RateOfChangeRule
from sitewatch.rules.slots import Emitter, SeriesSlots, fmt, held_for

HISTORY = 16  # earlier samples kept per channel for the rate window (models.RateOfChangeRule)
DIRECTIONS = {"rising": lazy("rising"), "falling": lazy("falling")}


class RateSlots(SeriesSlots):
    """Per slot a ring of up to HISTORY earlier samples, kept at least window_s / (HISTORY - 2)
    apart, so it always reaches back past window_s. The rate is the change from the newest
    kept sample at least window_s old to the current one, per minute. A sample with no such
    reference yet (the first window_s of a channel) is not judged."""

    rule: RateOfChangeRule

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        n = len(self.series)
        self.sign = 1.0 if self.rule.direction == "rising" else -1.0
        self.window_s = self.rule.window_s
        self.spacing_s = self.window_s / (HISTORY - 2)
        self.hist_t = np.full((n, HISTORY), np.nan)
        self.hist_v = np.full((n, HISTORY), np.nan)
        self.head = np.zeros(n, dtype=np.int64)
        self.last_kept = np.full(n, -np.inf)

    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        ht = self.hist_t[s]
        old_enough = ht <= (tk - self.window_s)[:, None]  # NaN (empty) compares False
        newest = np.where(old_enough, ht, -np.inf).argmax(axis=1)
        rows = np.arange(len(s))
        has_ref = old_enough[rows, newest]
        self.keep(s, tk, vk)
        if not has_ref.any():
            return
        s, tk, vk, newest, rows = s[has_ref], tk[has_ref], vk[has_ref], newest[has_ref], rows[has_ref]
        ref_t, ref_v = ht[rows, newest], self.hist_v[s, newest]
        rate = (vk - ref_v) / (tk - ref_t) * 60.0  # channel unit per minute
        signed = self.sign * rate
        self.step(s, tk, vk, signed > self.rule.per_min, signed < self.rule.clear_rate, em, detail=rate)

    def keep(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray) -> None:
        due = tk - self.last_kept[s] >= self.spacing_s
        if not due.any():
            return
        s, tk, vk = s[due], tk[due], vk[due]
        head = self.head[s]
        self.hist_t[s, head] = tk
        self.hist_v[s, head] = vk
        self.head[s] = (head + 1) % HISTORY
        self.last_kept[s] = tk

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        rule = self.rule
        facts = {"asset": asset_id, "channel": Channel(channel), "direction": Term(DIRECTIONS[rule.direction]),
                 "rate": f"{abs(float(self.detail[slot])):.1f}", "unit": Unit(unit), "value": fmt(value)}
        if state is AlertState.FIRING:
            return Message.of(lazy("%(asset)s: %(channel)s %(direction)s %(rate)s %(unit)s/min "
                                   "(limit %(limit)s %(unit)s/min)%(held)s, now %(value)s %(unit)s"),
                              limit=f"{rule.per_min:g}", held=held_for(rule), **facts)
        return Message.of(lazy("%(asset)s: %(channel)s no longer %(direction)s fast (%(rate)s %(unit)s/min, "
                               "clears below %(limit)s %(unit)s/min), now %(value)s %(unit)s"),
                          limit=f"{rule.clear_rate:g}", **facts)


class FlatlineSlots(SeriesSlots):
    """Per slot the stretch's reference (first time and value). A sample within tolerance
    of it keeps the stretch (the alert is pending since the reference's time); one outside
    starts a new stretch and clears."""

    rule: FlatlineRule

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        n = len(self.series)
        self.ref_t = np.full(n, np.nan)
        self.ref_v = np.full(n, np.nan)

    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        ref_t, ref_v = self.ref_t[s], self.ref_v[s]
        flat = np.abs(vk - ref_v) <= self.rule.tolerance  # no reference yet: NaN, not flat
        self.step(s, tk, vk, flat, ~flat, em, start=ref_t, detail=ref_v)
        moved = ~flat
        self.ref_t[s[moved]] = tk[moved]
        self.ref_v[s[moved]] = vk[moved]

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        facts = {"asset": asset_id, "channel": Channel(channel), "value": fmt(value), "unit": Unit(unit)}
        if state is AlertState.FIRING:
            return Message.of(lazy("%(asset)s: %(channel)s stuck at %(value)s %(unit)s (within ±%(tolerance)s "
                                   "%(unit)s) for %(duration)s: sensor or transmitter frozen?"),
                              tolerance=f"{self.rule.tolerance:g}", duration=Seconds(self.rule.for_s), **facts)
        return Message.of(lazy("%(asset)s: %(channel)s moving again (%(value)s %(unit)s)"), **facts)

    def extra(self, slot: int) -> dict | None:
        found = super().extra(slot) or {}
        if not np.isnan(self.ref_t[slot]):
            found["ref"] = [float(self.ref_t[slot]), float(self.ref_v[slot])]
        return found or None

    def restore_extra(self, slot: int, extra: dict) -> None:
        super().restore_extra(slot, extra)
        if "ref" in extra:
            self.ref_t[slot], self.ref_v[slot] = extra["ref"]

    def worth_keeping(self, slot: int) -> bool:
        # A stuck sensor may have been flat long before the restart: keep every stretch.
        return not np.isnan(self.ref_t[slot])
