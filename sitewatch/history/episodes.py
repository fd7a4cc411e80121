"""Faults at past instants: what the asset would have sent, judged by the real rules engine.

An episode is one fault on one asset from ``start`` to ``end``. Its samples come from the
simulators' models with the fault in force — a station's hydraulics through its registers,
a camera's pictures through the picture check, an alarm host's events through the
collector's decoding — at the asset's poll interval, from WARM_UP before the fault to
SETTLE after it; they replace the normal samples of that window. A rules engine with the
deployment's rules, on that asset alone, judges them poll by poll as the live engine does:
its transitions are what the ticket writer applies, at their instants.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from sitewatch.collector.onvif.events import EVENT_CHANNELS
from sitewatch.collector.onvif.picture import PictureChecker
from sitewatch.collector.onvif.picture import to_samples as picture_samples
from sitewatch.components import asset_channels
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState, AlertTransition
from sitewatch.domain.samples import Sample
from sitewatch.history.series import (
    CLOCK_OFFSET_S,
    PictureReference,
    StationReader,
    Window,
    camera_samples,
    grid,
    heartbeat,
    host_event,
    scene_of,
)
from sitewatch.rules.engine import RulesEngine
from sitewatch.simulators.alarmhost.spec import HostSpec
from sitewatch.simulators.camera.faults import fault_params as camera_fault_params
from sitewatch.simulators.camera.frames import FRAME_FAULTS, FrameFault, render
from sitewatch.simulators.camera.spec import CameraSpec
from sitewatch.simulators.common.faults import ActiveFault
from sitewatch.simulators.regulator.faults import fault_params as station_fault_params

WARM_UP = timedelta(minutes=3)
BASELINE = timedelta(minutes=2)  # pictures judged before a picture fault: the check's sharpness baseline
SETTLE = timedelta(minutes=5)  # hysteresis and durations let every alert resolve
# The live engine ticks every second; judging the week's polls 30 s at a time costs a
# sixth of judging them one by one, and a transition still carries its sample's time
# (only a silence is noticed up to a tick late).
TICK = timedelta(seconds=30)
SILENT = frozenset({"comm_loss", "modbus_exception", "offline"})  # nothing answers while these last

AssetKind = Literal["station", "camera", "host"]


@dataclass(frozen=True, slots=True)
class Fault:
    kind: AssetKind
    name: str  # the simulator's fault; for an alarm host, the event type it sends
    params: Mapping[str, float] = field(default_factory=dict)
    restore: str | None = None  # alarm hosts: the event type that ends it
    zone: int | None = None  # alarm hosts: zone events


@dataclass(frozen=True, slots=True)
class Episode:
    asset_id: str
    fault: Fault
    start: datetime
    end: datetime
    samples: list[Sample]
    transitions: list[AlertTransition]

    @property
    def window(self) -> Window:
        return self.start - WARM_UP, self.end + SETTLE


class UnsettledEpisode(ValueError):
    """An episode's alerts still fire when it is over: the live engine would never resolve them."""


def station_episode(config: Config, reader: StationReader, fault: Fault, *, start: datetime, end: datetime,
                    poll: timedelta) -> Episode:
    active = [ActiveFault(fault.name, start, station_fault_params(fault.name, fault.params))]
    instants, readings = [], []
    for t in grid(start - WARM_UP, end + SETTLE, poll):
        on = start <= t < end
        if not (on and fault.name in SILENT):
            instants.append(t)
            readings.append(reader.read(t, active if on else ()))
    samples = reader.samples(instants, reader.columns(readings))
    return _judged(config, reader.asset_id, fault, start, end, samples, poll)


def camera_episode(config: Config, asset_id: str, spec: CameraSpec, reference: PictureReference, fault: Fault, *,
                   start: datetime, end: datetime, poll: timedelta, rng: np.random.Generator) -> Episode:
    """Pictures are rendered and judged only while a picture fault lasts (and for a baseline
    just before it); the other polls are the camera's usual ones (series.camera_samples)."""
    params = camera_fault_params(fault.name, fault.params)
    instants = grid(start - WARM_UP, end + SETTLE, poll)
    on = [t for t in instants if start <= t < end]
    rendered = [t for t in instants if start - BASELINE <= t < end] if fault.name in FRAME_FAULTS else []
    drifted = on if fault.name == "clock_drift" else []
    gone = set(rendered) | set(drifted) | (set(on) if fault.name in SILENT else set())
    samples = camera_samples(asset_id, reference, [t for t in instants if t not in gone], rng=rng)
    samples += camera_samples(asset_id, reference, drifted, rng=rng, clock_offset_s=params.get("seconds"))
    checker = PictureChecker(asset_id=asset_id)
    for t in rendered:
        frame = render(scene_of(spec), at=t, faults=[FrameFault(fault.name, start)] if t >= start else ())
        measures, verdict = checker.check_frame(frame)
        samples += [Sample(asset_id, "reachable", t, 1.0, "state"),
                    Sample(asset_id, "clock_offset_s", t, float(rng.normal(*CLOCK_OFFSET_S)), "s"),
                    Sample(asset_id, "snapshot_ok", t, 1.0, "state"), *picture_samples(asset_id, t, verdict, measures)]
    if fault.name in EVENT_CHANNELS:  # the camera's own event, pulled as it starts and ends
        samples += [Sample(asset_id, fault.name, start, 1.0, "state"), Sample(asset_id, fault.name, end, 0.0, "state")]
    return _judged(config, asset_id, fault, start, end, samples, poll)


def host_episode(config: Config, asset_id: str, spec: HostSpec, fault: Fault, *, start: datetime,
                 end: datetime) -> Episode:
    beat = timedelta(seconds=spec.heartbeat_s)
    samples = [s for t in grid(start - WARM_UP, end + SETTLE, beat) for s in heartbeat(asset_id, spec, t)]
    assert fault.restore is not None, f"alarm-host fault {fault.name} needs the event that ends it"
    samples += host_event(asset_id, spec, start, fault.name, zone=fault.zone)
    samples += host_event(asset_id, spec, end, fault.restore, zone=fault.zone)
    return _judged(config, asset_id, fault, start, end, samples, beat)


def _judged(config: Config, asset_id: str, fault: Fault, start: datetime, end: datetime, samples: list[Sample],
            step: timedelta) -> Episode:
    transitions = judge(config, asset_id, samples, start=start - WARM_UP, end=end + SETTLE, step=step)
    return Episode(asset_id, fault, start, end, samples, transitions)


def judge(config: Config, asset_id: str, samples: Sequence[Sample], *, start: datetime, end: datetime,
          step: timedelta) -> list[AlertTransition]:
    """The deployment's rules on one asset's samples, as the live engine's ticks judge them:
    every tick the samples since the last one (each transition at its sample's time), then
    the time passed (silence is judged too). Ticks are TICK apart, or a poll if longer."""
    assets = [a for a in asset_channels(config) if a.asset_id == asset_id]
    engine = RulesEngine(rules=config.rules, assets=assets, started_at=start)
    tick = max(step, TICK)
    by_tick: dict[datetime, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_tick[start + math.ceil((sample.ts - start) / tick) * tick].append(sample)
    transitions = []
    for t in grid(start, end + tick, tick):
        transitions += engine.evaluate(engine.batch(by_tick.get(t, [])), now=t)
    firing = [a.fingerprint for a in engine.active() if a.state is AlertState.FIRING]
    if firing:  # a pending condition is no alert: it leaves nothing behind
        raise UnsettledEpisode(f"{asset_id}: {', '.join(firing)} still firing at {end.isoformat()}")
    return transitions
