"""Baseline: what is normal for a channel at this site-local hour of day, learnt as it runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from sitewatch.domain.alerts import AlertState
from sitewatch.domain.time import UTC
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import Channel, Message, Unit
from sitewatch.rules.models import BaselineRule
from sitewatch.rules.slots import NORMAL, Emitter, SeriesSlots, fmt, held_for

HOURS = 24


class LocalHours:
    """Site-local hour of day (0-23) of epoch seconds, for many timestamps at once.

    Time zones change their UTC offset only on whole minutes, so the offset is looked up
    once per distinct minute (a poll stamps thousands of samples with a handful of times)
    and cached per zone; daylight saving is exact.
    """

    def __init__(self) -> None:
        self._zones: dict[str, ZoneInfo] = {}
        self._offsets: dict[tuple[str, int], float] = {}

    def hours(self, ts: np.ndarray, zone: str) -> np.ndarray:
        minutes = np.floor(ts / 60.0).astype(np.int64)
        unique, inverse = np.unique(minutes, return_inverse=True)
        offsets = np.fromiter((self._offset(zone, int(m)) for m in unique), dtype=np.float64, count=len(unique))
        local = ts + offsets[inverse]
        return (np.floor(local / 3600.0).astype(np.int64)) % HOURS

    def _offset(self, zone: str, minute: int) -> float:
        found = self._offsets.get((zone, minute))
        if found is None:
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            tz = self._zones.get(zone) or self._zones.setdefault(zone, ZoneInfo(zone))
            offset = datetime.fromtimestamp(minute * 60, UTC).astimezone(tz).utcoffset()
            found = self._offsets[(zone, minute)] = offset.total_seconds()
        return found


class BaselineSlots(SeriesSlots):
    rule: BaselineRule

    def __init__(self, *args, zones: Sequence[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        n = len(self.series)
        names = sorted(set(zones))
        self.zone_names = names
        self.zone = np.asarray([names.index(z) for z in zones], dtype=np.int64)
        self.count = np.zeros((n, HOURS), dtype=np.int64)
        self.mean = np.zeros((n, HOURS))
        self.var = np.zeros((n, HOURS))  # population variance of what was learnt
        self.local = LocalHours()

    def hours_of(self, s: np.ndarray, tk: np.ndarray) -> np.ndarray:
        if len(self.zone_names) == 1:
            return self.local.hours(tk, self.zone_names[0])
        hour = np.empty(len(s), dtype=np.int64)
        zone = self.zone[s]
        for z in np.unique(zone):
            at = zone == z
            hour[at] = self.local.hours(tk[at], self.zone_names[int(z)])
        return hour

    def judge(self, s: np.ndarray, tk: np.ndarray, vk: np.ndarray, em: Emitter) -> None:
        rule = self.rule
        hour = self.hours_of(s, tk)
        count, mean, var = self.count[s, hour], self.mean[s, hour], self.var[s, hour]
        std = np.sqrt(var * count / np.maximum(count - 1, 1))  # sample standard deviation
        deviation = np.abs(vk - mean)
        beyond = (count >= rule.min_samples) & (deviation > rule.sigma * std) & (deviation > rule.min_deviation)
        new = self.step(s, tk, vk, beyond, ~beyond, em, detail=mean)
        # Learn only from what was judged ordinary: samples of a pending or firing alert are
        # not learnt, or a lasting anomaly would teach itself to be normal before for_s is up.
        # (Welford's update; exponentially weighted once past max_samples.)
        learn = new == NORMAL
        if not learn.any():
            return
        s, hour, vk, count, mean, var = s[learn], hour[learn], vk[learn], count[learn], mean[learn], var[learn]
        weight = 1.0 / np.minimum(count + 1, rule.max_samples)
        delta = vk - mean
        self.mean[s, hour] = mean + weight * delta
        self.var[s, hour] = (1.0 - weight) * (var + weight * delta * delta)
        self.count[s, hour] = count + 1

    def summary(self, slot: int, state: AlertState, value: float, unit: str) -> Message:
        asset_id, channel = self.keys[slot]
        facts = {"asset": asset_id, "channel": Channel(channel), "value": fmt(value), "unit": Unit(unit)}
        if state is AlertState.FIRING:
            rule = self.rule
            return Message.of(lazy("%(asset)s: %(channel)s %(value)s %(unit)s, usually %(usual)s %(unit)s at this "
                                   "hour (more than %(sigma)s sigma and %(deviation)s %(unit)s off)%(held)s"),
                              usual=fmt(float(self.detail[slot])), sigma=f"{rule.sigma:g}",
                              deviation=f"{rule.min_deviation:g}", held=held_for(rule), **facts)
        return Message.of(lazy("%(asset)s: %(channel)s %(value)s %(unit)s back within its usual range"), **facts)

    def extra(self, slot: int) -> dict | None:
        found = super().extra(slot) or {}
        if self.count[slot].any():
            found["baseline"] = {
                "n": self.count[slot].tolist(),
                "mean": self.mean[slot].tolist(),
                "var": self.var[slot].tolist(),
            }
        return found or None

    def restore_extra(self, slot: int, extra: dict) -> None:
        super().restore_extra(slot, extra)
        learnt = extra.get("baseline")
        if learnt is not None:
            self.count[slot] = learnt["n"]
            self.mean[slot] = learnt["mean"]
            self.var[slot] = learnt["var"]

    def worth_keeping(self, slot: int) -> bool:
        return bool(self.count[slot].any())  # months of learning
