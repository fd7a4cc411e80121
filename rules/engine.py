"""The one rules engine: samples in, alert transitions out. No I/O.

State lives in numpy arrays, one slot per (rule, asset, channel) fingerprint, so a batch
of thousands of samples is judged with a handful of vectorised steps instead of a Python
loop per sample. Samples of one series inside a batch are applied in time order: the
batch is sorted by (series, time) and walked rank by rank (the k-th sample of every series
at once), which keeps hysteresis and durations exact. The rule kinds and their state live
in slots.py, threshold.py, trend.py, baseline.py and composite.py.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from sitewatch.config.models import ChannelLimits
from sitewatch.domain.alerts import AlertState, AlertTransition, fingerprint
from sitewatch.domain.samples import Quality, Sample, SampleBlock, SampleList, items_of
from sitewatch.domain.time import UTC, require_utc
from sitewatch.i18n import lazy
from sitewatch.i18n.messages import Channel, Message, Seconds
from sitewatch.rules.baseline import BaselineSlots
from sitewatch.rules.composite import CompositeSlots, NightCreepSlots, check_restart_on
from sitewatch.rules.flapping import Admit, FlapGuard
from sitewatch.rules.models import (
    BaselineRule,
    CompositeRule,
    FlatlineRule,
    NightCreepRule,
    NoDataRule,
    RateOfChangeRule,
    Rule,
    StateRule,
    ThresholdRule,
)
from sitewatch.rules.slots import FIRING, NORMAL, PENDING, Slots, SortedBatch
from sitewatch.rules.threshold import NoDataSlots, StateSlots, ThresholdSlots
from sitewatch.rules.trend import FlatlineSlots, RateSlots

_STATE_NAMES = {PENDING: AlertState.PENDING, FIRING: AlertState.FIRING}
_PER_SAMPLE = {RateOfChangeRule: RateSlots, FlatlineRule: FlatlineSlots, StateRule: StateSlots}


@dataclass(frozen=True, slots=True)
class AssetChannels:
    """What the engine needs to know of an asset to decide which rules apply."""

    asset_id: str
    kind: str
    channels: Mapping[str, str]  # channel -> unit
    limits: Mapping[str, ChannelLimits] = field(default_factory=dict)
    # The regulator's pressures by name (set_point_kpa, lock_up_kpa, relief_kpa,
    # slam_shut_kpa), in kPa; empty for assets without a regulator.
    settings: Mapping[str, float] = field(default_factory=dict)
    time_zone: str = "UTC"  # the site's zone: baseline rules learn per local hour of day


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Columnar samples: series index into the engine's series table, epoch seconds, value."""

    series: np.ndarray  # int64
    ts: np.ndarray  # float64, UTC epoch seconds
    value: np.ndarray  # float64; NaN or bad quality never counts as data
    # The NOT_POLLED samples among them (the collector held the poll back), as (series, ts):
    # no-data rules do not count that time as the device's silence. None: there were none.
    unasked: tuple[np.ndarray, np.ndarray] | None = None

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
        check_restart_on(rules)
        self._rules: list[Slots] = []
        for rule in rules:
            slots = self._compile(rule, assets, start)
            if slots is not None:
                self._rules.append(slots)
        # Night creep last, whatever the config order: it restarts on what the rules it
        # names found in the same batch.
        self._rules.sort(key=lambda r: isinstance(r, NightCreepSlots))
        for creep in self._rules:
            if isinstance(creep, NightCreepSlots):
                creep.watch([r for r in self._rules if r.rule.id in creep.rule.restart_on])
        self._out: list[AlertTransition] = []
        # (asset, channel names of a block) -> the series of its known channels and where they
        # sit in the block (None: all known, in order); a poller shares its names tuple.
        self._block_series: dict[tuple[str, tuple[str, ...]], tuple[list[int], list[int] | None]] = {}
        # Rules over the same series share one series -> slot map: see SortedBatch.select.
        interned: dict[bytes, np.ndarray] = {}
        for slots in self._rules:
            slots.slot_of = interned.setdefault(slots.series.tobytes(), slots.slot_of)

    # -- building -------------------------------------------------------------------

    def _compile(self, rule: Rule, assets: Sequence[AssetChannels], start: float) -> Slots | None:
        if isinstance(rule, CompositeRule):
            return self._compile_composite(rule, assets)
        if isinstance(rule, NightCreepRule):
            return self._compile_night_creep(rule, assets)
        keys, series, levels, clears, criticals, zones = [], [], [], [], [], []
        for asset in self._applicable(rule, assets):
            # A rule's channel may be a pattern ("zone_*_alarm"): one fingerprint per match.
            for channel in fnmatch.filter(asset.channels, rule.channel):
                if isinstance(rule, ThresholdRule):
                    found = threshold_levels(rule, asset.limits.get(channel), asset.settings)
                    if found is None:
                        continue  # no level from the rule, the asset's limits or its settings
                    levels.append(found[0])
                    clears.append(found[1])
                    criticals.append(found[2])
                zones.append(asset.time_zone)
                keys.append((asset.asset_id, channel))
                series.append(self._series[(asset.asset_id, channel)])
        if not keys:
            return None
        common = (rule, keys, np.asarray(series, dtype=np.int64))
        shape = {"n_series": len(self._units), "units": self._units}
        if isinstance(rule, ThresholdRule):
            return ThresholdSlots(*common, levels=np.asarray(levels), clears=np.asarray(clears),
                                  criticals=np.asarray(criticals), **shape)
        if isinstance(rule, NoDataRule):
            return NoDataSlots(*common, started_at=start, **shape)
        if isinstance(rule, BaselineRule):
            return BaselineSlots(*common, zones=zones, **shape)
        return _PER_SAMPLE[type(rule)](*common, **shape)

    @staticmethod
    def _applicable(rule: Rule, assets: Sequence[AssetChannels]) -> list[AssetChannels]:
        return [a for a in assets if not rule.asset_kinds or a.kind in rule.asset_kinds]

    def _compile_composite(self, rule: CompositeRule, assets: Sequence[AssetChannels]) -> Slots | None:
        keys: list[tuple[str, str]] = []
        series: list[list[int]] = [[] for _ in rule.conditions]
        levels: list[list[float]] = [[] for _ in rule.conditions]
        for asset in self._applicable(rule, assets):
            if any(c.channel not in asset.channels for c in rule.conditions):
                continue
            if any(c.relative_to is not None and c.relative_to not in asset.settings for c in rule.conditions):
                continue  # written relative to a pressure this asset has no setting for
            keys.append((asset.asset_id, rule.channel))
            for i, c in enumerate(rule.conditions):
                series[i].append(self._series[(asset.asset_id, c.channel)])
                levels[i].append(c.value + (asset.settings[c.relative_to] if c.relative_to else 0.0))
        if not keys:
            return None
        cond_series = [np.asarray(s, dtype=np.int64) for s in series]
        return CompositeSlots(rule, keys, cond_series[0], n_series=len(self._units), units=self._units,
                              cond_series=cond_series, cond_levels=[np.asarray(x) for x in levels])

    def _compile_night_creep(self, rule: NightCreepRule, assets: Sequence[AssetChannels]) -> Slots | None:
        keys, outlet, flow = [], [], []
        for asset in self._applicable(rule, assets):
            if rule.outlet_channel in asset.channels and rule.flow_channel in asset.channels:
                keys.append((asset.asset_id, rule.outlet_channel))
                outlet.append(self._series[(asset.asset_id, rule.outlet_channel)])
                flow.append(self._series[(asset.asset_id, rule.flow_channel)])
        if not keys:
            return None
        return NightCreepSlots(rule, keys, np.asarray(outlet, dtype=np.int64), n_series=len(self._units),
                               units=self._units, flow_series=np.asarray(flow, dtype=np.int64))

    def batch(self, samples: Sequence[Sample] | SampleList) -> SampleBatch:
        """Columnar view of samples, or of what the bus drains (its blocks' columns taken
        whole); unknown series are dropped, bad-quality samples become NaN (they judge
        nothing, but cancel what was pending: see ``evaluate``)."""
        series: list[int] = []
        value: list[float] = []
        # Times as (epoch seconds, how many values in a row share it): a block's values all
        # do, and so do the loose samples of one poll; expanded by numpy at the end.
        stamps: list[float] = []
        runs: list[int] = []
        lookup = self._series
        last_ts, last_epoch = None, math.nan
        good, nan, not_polled = Quality.GOOD, math.nan, Quality.NOT_POLLED
        unasked: list[tuple[int, float]] = []
        for s in items_of(samples):
            if type(s) is SampleBlock:
                known, where = self._block_series.get((s.asset_id, s.channels)) or self._learn_block(s)
                values, qualities = s.values, s.qualities
                if where is not None:  # some channel the rules do not know: the others only
                    values, qualities = [values[i] for i in where], [qualities[i] for i in where]
                series += known
                stamps.append(s.ts.timestamp())
                runs.append(len(known))
                if qualities.count(good) == len(known):
                    value += values
                else:
                    value += [v if q is good else nan for v, q in zip(values, qualities)]
                    if not_polled in qualities:
                        at = s.ts.timestamp()
                        unasked += [(i, at) for i, q in zip(known, qualities) if q is not_polled]
                last_ts = None
                continue
            index = lookup.get((s.asset_id, s.channel))
            if index is None:
                continue
            series.append(index)
            if s.ts == last_ts:
                runs[-1] += 1
            else:
                last_ts, last_epoch = s.ts, s.ts.timestamp()
                stamps.append(last_epoch)
                runs.append(1)
            if s.quality is good:
                value.append(s.value)
                continue
            value.append(nan)
            if s.quality is not_polled:
                unasked.append((index, last_epoch))
        ts = np.repeat(np.asarray(stamps, dtype=np.float64), np.asarray(runs, dtype=np.int64))
        held = None
        if unasked:
            held = (np.asarray([i for i, _ in unasked], dtype=np.int64), np.asarray([t for _, t in unasked]))
        return SampleBatch(np.asarray(series, dtype=np.int64), ts, np.asarray(value, dtype=np.float64), held)

    def _learn_block(self, block: SampleBlock) -> tuple[list[int], list[int] | None]:
        indexes = [self._series.get((block.asset_id, channel)) for channel in block.channels]
        where = [i for i, index in enumerate(indexes) if index is not None]
        learnt = ([index for index in indexes if index is not None], None if len(where) == len(indexes) else where)
        self._block_series[(block.asset_id, block.channels)] = learnt
        return learnt

    def series_index(self, asset_id: str, channel: str) -> int | None:
        return self._series.get((asset_id, channel))

    # -- evaluation -----------------------------------------------------------------

    def evaluate(self, batch: SampleBatch, *, now: datetime,
                 at_work: Collection[str] = ()) -> list[AlertTransition]:
        """Apply a batch, then the passage of time up to ``now``; return what changed.

        ``at_work``: the assets where technicians are at work now (a maintenance window or
        an inspection in progress); night creep does not judge them (NightCreepRule)."""
        now_s = require_utc(now).timestamp()
        good = ~np.isnan(batch.value)
        if not good.all():
            # A failed poll (or a device's "no reading"): a pending condition there cannot be
            # confirmed, and must not fire for_s later on a value from before the failure
            # (a dead gateway would page for its stations before its own offline alert).
            lost = np.unique(batch.series[~good])
            for slots in self._rules:
                if slots.held:
                    slots.lose_pending(lost)
        series, ts, value = batch.series[good], batch.ts[good], batch.value[good]
        # Sort once by (series, time): every rule's slots follow series order, so each
        # rule's subset stays sorted by (slot, time) without sorting again.
        order = np.lexsort((ts, series))
        series, ts, value = series[order], ts[order], value[order]
        n = len(series)
        rank = _rank_within_groups(series) if n else series
        last = np.ones(n, dtype=bool)
        if n:
            last[:-1] = series[1:] != series[:-1]
        sorted_batch = SortedBatch(series, ts, value, rank, last, int(rank.max()) + 1 if n else 0,
                                   at_work=frozenset(at_work), unasked=batch.unasked)
        out = self._out = []
        for slots in self._rules:
            slots.apply(sorted_batch, now_s, self)
        if self._flapping is not None:
            self._settle_flapping(now_s, out)
        return out

    # The Emitter protocol (rules.slots): what the kinds report.

    def emit(self, r: Slots, s: np.ndarray, old: np.ndarray, new: np.ndarray, t: np.ndarray, v: np.ndarray,
             began: np.ndarray) -> None:
        fired = (new == FIRING) & (old != FIRING)
        resolved = (old == FIRING) & (new != FIRING)
        r.began[s[fired]] = began[fired]
        for i in np.flatnonzero(fired | resolved):
            state = AlertState.FIRING if fired[i] else AlertState.RESOLVED
            r.value[s[i]] = v[i]
            transition = self._transition(r, int(s[i]), state, float(t[i]), float(v[i]))
            admit = Admit.PASS if self._flapping is None else self._flapping.admit(transition.fingerprint, float(t[i]))
            if admit is Admit.START:
                # Started on a resolve, which has no began_at: the flapping one begins now.
                flapping = Message.of(lazy("%(asset)s: %(channel)s flapping (%(changes)s changes within %(window)s)"),
                                      asset=transition.asset_id, channel=Channel(transition.channel),
                                      changes=self._flapping.transitions, window=Seconds(self._flapping.window_s))
                transition = dataclasses.replace(
                    transition, state=AlertState.FIRING, flapping=True, began_at=transition.began_at or transition.at,
                    summary=flapping.text(), summary_msg=flapping,
                )
            if admit is not Admit.HOLD:
                self._out.append(transition)

    def stage_up(self, r: Slots, s: np.ndarray, t: np.ndarray, v: np.ndarray) -> None:
        """A firing alert raised to critical: one more FIRING for the same fingerprint, which
        the writer treats as an escalation. Not a state change: flapping does not count it,
        and while flapping it is held back."""
        for i in range(len(s)):
            transition = self._transition(r, int(s[i]), AlertState.FIRING, float(t[i]), float(v[i]))
            if self._flapping is None or not self._flapping.is_flapping(transition.fingerprint):
                self._out.append(transition)

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

    def _transition(self, r: Slots, slot: int, state: AlertState, at: float, value: float) -> AlertTransition:
        """``began_at`` of a FIRING one comes from ``r.began``, set by ``emit`` as it fires."""
        asset_id, channel = r.keys[slot]
        unit = self._units[int(r.series[slot])]
        rule = r.rule
        began = float(r.began[slot])
        summary = r.summary(slot, state, value, unit)
        return AlertTransition(
            fingerprint=fingerprint(asset_id, rule.id, channel),
            asset_id=asset_id,
            rule_id=rule.id,
            channel=channel,
            state=state,
            at=datetime.fromtimestamp(at, UTC),
            severity=r.severity(slot),
            value=None if np.isnan(value) else value,
            unit=unit,
            summary=summary.text(),
            summary_msg=summary,
            # NaN: restored from a snapshot that predates began_at
            began_at=None if state is not AlertState.FIRING or np.isnan(began) else datetime.fromtimestamp(began, UTC),
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
        """Per-fingerprint state as JSON, keyed by fingerprint so a changed config still restores.

        Each entry is [state, since, last_good] (no-data rules' last good sample), followed
        by a dict of what the kind needs to resume (the value an alert reports, when its
        condition began, critical stage, flatline stretch, composite values, night-creep
        minimum, last outlet sample and last restart, baseline statistics) when there is
        any. The rate window's few seconds of history are not kept: after a restart a rate
        is judged again once ``window_s`` of samples have arrived.
        """
        data = {}
        for r in self._rules:
            for i, (asset_id, channel) in enumerate(r.keys):
                if r.state[i] == NORMAL and not r.worth_keeping(i):
                    continue
                extra = dict(r.extra(i) or {})
                if r.state[i] != NORMAL:  # what the alert's summaries report
                    kept = (("value", r.value), ("detail", r.detail), ("began", r.began))
                    extra.update({k: float(a[i]) for k, a in kept if not np.isnan(a[i])})
                entry = [int(r.state[i]), _num(r.since[i]), extra.pop("last_good", None)]
                if extra:
                    entry.append(extra)
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
                state, since, last_good = entry[:3]
                extra = dict(entry[3]) if len(entry) > 3 else {}
                if last_good is not None:
                    extra["last_good"] = last_good
                r.state[i] = state
                r.since[i] = np.nan if since is None else since
                r.value[i] = extra.pop("value", np.nan)
                r.detail[i] = extra.pop("detail", np.nan)
                r.began[i] = extra.pop("began", np.nan)
                r.restore_extra(i, extra)
                restored += 1
        return restored


def threshold_levels(
    rule: ThresholdRule, limits: ChannelLimits | None, settings: Mapping[str, float]
) -> tuple[float, float, float] | None:
    """(level, clear, critical) for one asset's channel; None when nothing sets a level."""
    critical = np.nan if rule.critical_level is None else rule.critical_level
    if rule.relative_to is not None:
        base = settings.get(rule.relative_to)
        if base is None or rule.level is None:
            return None  # no regulator settings: nothing to be relative to
        clear = rule.level if rule.clear_level is None else rule.clear_level
        return base + rule.level, base + clear, base + critical
    if limits is not None:
        if rule.direction == "above" and limits.high is not None:
            return limits.high, limits.high_clear if limits.high_clear is not None else limits.high, critical
        if rule.direction == "below" and limits.low is not None:
            return limits.low, limits.low_clear if limits.low_clear is not None else limits.low, critical
    if rule.level is None:
        return None
    return rule.level, rule.clear_level if rule.clear_level is not None else rule.level, critical


def _rank_within_groups(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each run of equal keys of a sorted array."""
    n = len(sorted_keys)
    positions = np.arange(n)
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return positions - np.maximum.accumulate(np.where(starts, positions, 0))


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)
