"""The one rules engine: samples in, alert transitions out. No I/O.

State lives in numpy arrays, one slot per (rule, asset, channel) fingerprint, so a batch
of thousands of samples is judged with a handful of vectorised steps instead of a Python
loop per sample. Samples of one series inside a batch are applied in time order: the
batch is sorted by (slot, time) and walked rank by rank (the k-th sample of every series
at once), which keeps hysteresis and durations exact.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from config.models import ChannelLimits
from domain.alerts import AlertState, AlertTransition, Severity, fingerprint
from domain.samples import Quality, Sample
from domain.time import UTC, require_utc
from rules.flapping import Admit, FlapGuard
from rules.models import NoDataRule, Rule, ThresholdRule

NORMAL, PENDING, FIRING = 0, 1, 2
_STATE_NAMES = {PENDING: AlertState.PENDING, FIRING: AlertState.FIRING}


@dataclass(frozen=True, slots=True)
class AssetChannels:
    """What the engine needs to know of an asset to decide which rules apply."""

    asset_id: str
    kind: str
    channels: Mapping[str, str]  # channel -> unit
    limits: Mapping[str, ChannelLimits] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Columnar samples: series index into the engine's series table, epoch seconds, value."""

    series: np.ndarray  # int64
    ts: np.ndarray  # float64, UTC epoch seconds
    value: np.ndarray  # float64; NaN or bad quality never counts as data

    def __len__(self) -> int:
        return len(self.series)


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    fingerprint: str
    asset_id: str
    rule_id: str
    channel: str
    state: AlertState
    since: datetime


class _Slots:
    """The per-fingerprint state of one rule."""

    def __init__(self, rule: Rule, keys: list[tuple[str, str]], n_series: int, series: np.ndarray) -> None:
        self.rule = rule
        self.keys = keys  # (asset_id, channel) per slot
        self.series = series
        self.slot_of = np.full(n_series, -1, dtype=np.int64)
        self.slot_of[series] = np.arange(len(series))
        self.state = np.zeros(len(series), dtype=np.int8)
        self.since = np.full(len(series), np.nan)  # when the current state began, epoch s
        self.value = np.full(len(series), np.nan)  # value that caused the last change


class _ThresholdSlots(_Slots):
    def __init__(self, *args, levels: np.ndarray, clears: np.ndarray) -> None:
        super().__init__(*args)
        # "below" rules are "above" rules on the negated value: one code path for both.
        sign = 1.0 if self.rule.direction == "above" else -1.0
        self.sign = sign
        self.level = sign * levels
        self.clear = sign * clears


class _NoDataSlots(_Slots):
    def __init__(self, *args, started_at: float) -> None:
        super().__init__(*args)
        # A series that never reported counts from engine start, not from 1970.
        self.last_good = np.full(len(self.series), started_at)


class RulesEngine:
    def __init__(
        self, *, rules: Sequence[Rule], assets: Sequence[AssetChannels], started_at: datetime,
        flapping: FlapGuard | None = None,
    ) -> None:
        self._flapping = flapping
        self._series: dict[tuple[str, str], int] = {}
        self._units: list[str] = []
        for asset in assets:
            for channel, unit in asset.channels.items():
                self._series[(asset.asset_id, channel)] = len(self._units)
                self._units.append(unit)
        start = require_utc(started_at).timestamp()
        self._rules: list[_Slots] = []
        for rule in rules:
            slots = self._compile(rule, assets, start)
            if slots is not None:
                self._rules.append(slots)

    # -- building -------------------------------------------------------------------

    def _compile(self, rule: Rule, assets: Sequence[AssetChannels], start: float) -> _Slots | None:
        keys, series, levels, clears = [], [], [], []
        for asset in assets:
            if rule.asset_kinds and asset.kind not in rule.asset_kinds:
                continue
            # A rule's channel may be a pattern ("zone_*_alarm"): one fingerprint per match.
            for channel in fnmatch.filter(asset.channels, rule.channel):
                if isinstance(rule, ThresholdRule):
                    level, clear = _threshold_levels(rule, asset.limits.get(channel))
                    if level is None:
                        continue  # neither the asset nor the rule sets a level: nothing to judge
                    levels.append(level)
                    clears.append(clear)
                keys.append((asset.asset_id, channel))
                series.append(self._series[(asset.asset_id, channel)])
        if not keys:
            return None
        common = (rule, keys, len(self._units), np.asarray(series, dtype=np.int64))
        if isinstance(rule, ThresholdRule):
            return _ThresholdSlots(*common, levels=np.asarray(levels), clears=np.asarray(clears))
        return _NoDataSlots(*common, started_at=start)

    def batch(self, samples: Sequence[Sample]) -> SampleBatch:
        """Columnar view of samples; unknown series and bad-quality samples are dropped."""
        series, ts, value = [], [], []
        lookup = self._series
        epochs: dict[datetime, float] = {}  # a poll stamps all its samples with one time
        for s in samples:
            index = lookup.get((s.asset_id, s.channel))
            if index is None or s.quality is not Quality.GOOD:
                continue
            epoch = epochs.get(s.ts)
            if epoch is None:
                epoch = epochs[s.ts] = s.ts.timestamp()
            series.append(index)
            ts.append(epoch)
            value.append(s.value)
        return SampleBatch(np.asarray(series, dtype=np.int64), np.asarray(ts, dtype=np.float64), np.asarray(value, dtype=np.float64))

    def series_index(self, asset_id: str, channel: str) -> int | None:
        return self._series.get((asset_id, channel))

    # -- evaluation -----------------------------------------------------------------

    def evaluate(self, batch: SampleBatch, *, now: datetime) -> list[AlertTransition]:
        """Apply a batch, then the passage of time up to ``now``; return what changed."""
        now_s = require_utc(now).timestamp()
        good = ~np.isnan(batch.value)
        series, ts, value = batch.series[good], batch.ts[good], batch.value[good]
        # Sort once by (series, time): every rule's slots follow series order, so each
        # rule's subset below stays sorted by (slot, time) without sorting again.
        order = np.lexsort((ts, series))
        series, ts, value = series[order], ts[order], value[order]
        rank = _rank_within_groups(series) if len(series) else series
        out: list[AlertTransition] = []
        for slots in self._rules:
            index = slots.slot_of[series]
            mine = index >= 0
            if isinstance(slots, _ThresholdSlots):
                self._threshold(slots, index[mine], ts[mine], value[mine], rank[mine], out)
                self._threshold_held(slots, now_s, out)
            else:
                self._no_data(slots, index[mine], ts[mine], now_s, out)
        if self._flapping is not None:
            self._settle_flapping(now_s, out)
        return out

    def _threshold(
        self, r: _ThresholdSlots, slot: np.ndarray, t: np.ndarray, v: np.ndarray, rank: np.ndarray, out: list
    ) -> None:
        if len(slot) == 0:
            return
        depth = int(rank.max()) + 1
        for k in range(depth):
            if depth == 1:  # the usual case: one sample per series in this batch
                s, tk, vk = slot, t, v
            else:
                at_rank = rank == k
                s, tk, vk = slot[at_rank], t[at_rank], v[at_rank]
            signed = r.sign * vk
            old = r.state[s]
            beyond = signed > r.level[s]
            since = np.where(old == NORMAL, tk, r.since[s])
            new = np.where(
                old == FIRING,
                np.where(signed < r.clear[s], NORMAL, FIRING),
                np.where(beyond, np.where(tk - since >= r.rule.for_s, FIRING, PENDING), NORMAL),
            ).astype(np.int8)
            changed = new != old
            if changed.any():
                self._emit(r, s, old, new, tk, vk, out)
                r.since[s] = np.where(changed, tk, r.since[s])
                r.value[s] = np.where(changed & (new == PENDING), vk, r.value[s])
                r.state[s] = new

    def _threshold_held(self, r: _ThresholdSlots, now_s: float, out: list) -> None:
        """Fire pending alerts whose duration has passed with no newer sample: event-driven
        channels (an alarm host reports mains loss once) have no next sample to wait for."""
        held = (r.state == PENDING) & (now_s - r.since >= r.rule.for_s)
        if not held.any():
            return
        s = np.flatnonzero(held)
        at = r.since[s] + r.rule.for_s
        self._emit(r, s, r.state[s], np.full(len(s), FIRING, dtype=np.int8), at, r.value[s], out)
        r.since[s] = at
        r.state[s] = FIRING

    def _no_data(self, r: _NoDataSlots, slot: np.ndarray, t: np.ndarray, now_s: float, out: list) -> None:
        if len(slot):
            np.maximum.at(r.last_good, slot, t)
        silent = now_s - r.last_good > r.rule.after_s
        old = r.state
        new = np.where(silent, FIRING, NORMAL).astype(np.int8)
        # A no-data alert fires at the moment the silence exceeded the limit and resolves at
        # the first good sample after it, not at the (later) tick that noticed.
        at = np.where(new == FIRING, r.last_good + r.rule.after_s, r.last_good)
        all_slots = np.arange(len(old))
        self._emit(r, all_slots, old, new, at, np.full(len(old), np.nan), out)
        r.since = np.where(new != old, at, r.since)
        r.state = new

    def _emit(self, r: _Slots, s: np.ndarray, old: np.ndarray, new: np.ndarray, t: np.ndarray, v: np.ndarray, out: list) -> None:
        fired = (new == FIRING) & (old != FIRING)
        resolved = (old == FIRING) & (new != FIRING)
        for i in np.flatnonzero(fired | resolved):
            state = AlertState.FIRING if fired[i] else AlertState.RESOLVED
            r.value[s[i]] = v[i]
            transition = self._transition(r, int(s[i]), state, float(t[i]), float(v[i]))
            admit = Admit.PASS if self._flapping is None else self._flapping.admit(transition.fingerprint, float(t[i]))
            if admit is Admit.START:
                transition = dataclasses.replace(
                    transition, state=AlertState.FIRING,
                    summary=f"{transition.asset_id}: {transition.channel} flapping "
                            f"({self._flapping.transitions} changes within {self._flapping.window_s:g} s)",
                )
            if admit is not Admit.HOLD:
                out.append(transition)

    def _settle_flapping(self, now_s: float, out: list) -> None:
        """Announce where a fingerprint that stopped flapping has settled: resolved unless
        it is firing (the flapping alert then simply goes on firing)."""
        settled = set(self._flapping.settled(now_s)) if self._flapping is not None else set()
        if not settled:
            return
        for r in self._rules:
            for i, (asset_id, channel) in enumerate(r.keys):
                if fingerprint(asset_id, r.rule.id, channel) in settled and r.state[i] != FIRING:
                    out.append(self._transition(r, i, AlertState.RESOLVED, now_s, float(r.value[i])))

    def _transition(self, r: _Slots, slot: int, state: AlertState, at: float, value: float) -> AlertTransition:
        asset_id, channel = r.keys[slot]
        unit = self._units[int(r.series[slot])]
        rule = r.rule
        return AlertTransition(
            fingerprint=fingerprint(asset_id, rule.id, channel),
            asset_id=asset_id,
            rule_id=rule.id,
            channel=channel,
            state=state,
            at=datetime.fromtimestamp(at, UTC),
            severity=Severity(rule.severity),
            value=None if np.isnan(value) else value,
            unit=unit,
            summary=_summary(r, slot, state, value, unit),
        )

    # -- inspection and durability ----------------------------------------------------

    def active(self) -> list[ActiveAlert]:
        found = []
        for r in self._rules:
            for i in np.flatnonzero(r.state != NORMAL):
                asset_id, channel = r.keys[i]
                found.append(
                    ActiveAlert(
                        fingerprint=fingerprint(asset_id, r.rule.id, channel),
                        asset_id=asset_id,
                        rule_id=r.rule.id,
                        channel=channel,
                        state=_STATE_NAMES[int(r.state[i])],
                        since=datetime.fromtimestamp(float(r.since[i]), UTC),
                    )
                )
        return found

    def snapshot(self) -> bytes:
        """Per-fingerprint state as JSON, keyed by fingerprint so a changed config still restores."""
        data = {}
        for r in self._rules:
            last_good = getattr(r, "last_good", None)
            for i, (asset_id, channel) in enumerate(r.keys):
                entry = [int(r.state[i]), _num(r.since[i]), _num(last_good[i]) if last_good is not None else None]
                if entry[0] != NORMAL or entry[2] is not None:
                    data[fingerprint(asset_id, r.rule.id, channel)] = entry
        return json.dumps(data, separators=(",", ":")).encode()

    def restore(self, payload: bytes) -> int:
        """Load a snapshot; returns how many fingerprints were restored."""
        data = json.loads(payload)
        restored = 0
        for r in self._rules:
            for i, (asset_id, channel) in enumerate(r.keys):
                entry = data.get(fingerprint(asset_id, r.rule.id, channel))
                if entry is None:
                    continue
                state, since, last_good = entry
                r.state[i] = state
                r.since[i] = np.nan if since is None else since
                if last_good is not None and isinstance(r, _NoDataSlots):
                    r.last_good[i] = last_good
                restored += 1
        return restored


def _threshold_levels(rule: ThresholdRule, limits: ChannelLimits | None) -> tuple[float | None, float | None]:
    if limits is not None:
        if rule.direction == "above" and limits.high is not None:
            return limits.high, limits.high_clear if limits.high_clear is not None else limits.high
        if rule.direction == "below" and limits.low is not None:
            return limits.low, limits.low_clear if limits.low_clear is not None else limits.low
    if rule.level is None:
        return None, None
    return rule.level, rule.clear_level if rule.clear_level is not None else rule.level


def _rank_within_groups(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each run of equal keys of a sorted array."""
    n = len(sorted_keys)
    positions = np.arange(n)
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return positions - np.maximum.accumulate(np.where(starts, positions, 0))


def _summary(r: _Slots, slot: int, state: AlertState, value: float, unit: str) -> str:
    asset_id, channel = r.keys[slot]
    rule = r.rule
    if isinstance(rule, NoDataRule):
        if state is AlertState.FIRING:
            return f"{asset_id}: no {channel} data for more than {rule.after_s:g} s"
        return f"{asset_id}: {channel} data again"
    assert isinstance(r, _ThresholdSlots)
    level = float(r.sign * r.level[slot])
    clear = float(r.sign * r.clear[slot])
    word = "above" if rule.direction == "above" else "below"
    if state is AlertState.FIRING:
        held = f" for {rule.for_s:g} s" if rule.for_s else ""
        return f"{asset_id}: {channel} {value:.3f} {unit} {word} {level:g} {unit}{held}"
    back = "below" if rule.direction == "above" else "above"
    return f"{asset_id}: {channel} {value:.3f} {unit} back {back} {clear:g} {unit}"


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)
