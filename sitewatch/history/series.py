"""The fleet's normal samples over the week before the demo starts.

Regulator stations: the simulator's own model (simulators/regulator/model.py) every KNOT,
through the RTU's register encoding and the collector's decoding, as a poll would have
read it. From ``Span.fine_from`` on, where the 08:30 logs count samples against the poll
interval, at the poll interval: between the model's knots linearly, with the model's own
short-term spread as noise. Cameras: the picture check's measures of the simulator's own
pictures every KNOT. Alarm hosts: a heartbeat every KNOT. An asset's episode windows
(episodes.py) are left out: the fault's own samples take their place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat

import numpy as np

from sitewatch.collector.modbus.config import ModbusProfile
from sitewatch.collector.mqtt.decode import AlarmEvent, to_samples
from sitewatch.collector.onvif.picture import PictureChecker
from sitewatch.config.models import Asset
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.simulators.alarmhost.spec import HostSpec
from sitewatch.simulators.camera.frames import SceneSpec, render
from sitewatch.simulators.camera.spec import CameraSpec
from sitewatch.simulators.common.faults import ActiveFault
from sitewatch.simulators.regulator.model import Reading, reading_at
from sitewatch.simulators.regulator.spec import StationSpec

KNOT = timedelta(minutes=5)  # a week's chart needs no finer
SPREAD_SPAN = timedelta(hours=1)  # of 5 s readings, to learn the model's short-term spread
REFERENCE_FRAMES = 2  # camera pictures judged to learn a camera's usual measures (two: a change)

Window = tuple[datetime, datetime]  # [start, end) of an episode on one asset


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime  # a week before the demo
    fine_from: datetime  # stations at their poll interval from here on
    end: datetime  # the demo's start: nothing at or after it


def grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Instants start, start + step, ... before end."""
    count = max(0, math.ceil((end - start) / step))
    return [start + i * step for i in range(count)]


def aligned(at: datetime, step: timedelta) -> datetime:
    """``at`` rounded down to a whole ``step`` since the epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((at - epoch) // step) * step


class StationReader:
    """What polls of a station read: the model's readings, carried as the RTU's registers
    carry them (a float32, or whole steps of the register's scale) in the profile's units."""

    def __init__(self, asset: Asset, spec: StationSpec, profile: ModbusProfile, *, boot_at: datetime) -> None:
        self.asset_id = asset.id
        self.spec = spec
        self.boot_at = boot_at
        self.registers = {r.channel: r for r in profile.registers}

    def read(self, at: datetime, faults: Sequence[ActiveFault] = ()) -> Reading:
        return reading_at(self.spec, at, boot_at=self.boot_at, faults=faults)

    def columns(self, readings: Sequence[Reading]) -> dict[str, np.ndarray]:
        """Each channel of the profile over ``readings``, as the registers carry it."""
        return {channel: self.quantised(channel, np.array([getattr(r, channel) for r in readings], dtype=float))
                for channel in self.registers}

    def samples(self, instants: Sequence[datetime], columns: dict[str, np.ndarray]) -> list[Sample]:
        batch: list[Sample] = []
        for channel, register in self.registers.items():
            batch += map(Sample, repeat(self.asset_id), repeat(channel), instants, columns[channel].tolist(),
                         repeat(register.unit))
        return batch

    def quantised(self, channel: str, values: np.ndarray) -> np.ndarray:
        register = self.registers[channel]
        if register.type == "float32":
            return values.astype(np.float32).astype(np.float64)
        steps = np.round((values - register.offset) / register.scale)
        if register.type.startswith("uint"):
            steps = np.maximum(steps, 0.0)
        return steps * register.scale + register.offset


def model_spread(reader: StationReader, *, end: datetime, poll: timedelta) -> dict[str, float]:
    """Per channel, the standard deviation the model shows from one poll to the next: the
    noise the interpolated samples get (a channel that never moves gets none)."""
    columns = reader.columns([reader.read(t) for t in grid(end - SPREAD_SPAN, end, poll)])
    return {channel: 0.0 if channel == "uptime_s" else float(np.std(np.diff(values)) / math.sqrt(2.0))
            for channel, values in columns.items()}


def station_samples(reader: StationReader, span: Span, *, poll: timedelta, skip: Sequence[Window],
                    spread: dict[str, float], rng: np.random.Generator) -> Iterator[list[Sample]]:
    """The station's normal week: every KNOT before ``span.fine_from``, every poll after.
    Yields one batch per part."""
    knots = grid(span.start, span.end + KNOT, KNOT)  # one knot past the end: the last polls interpolate to it
    readings = [reader.read(t) for t in knots]
    columns = reader.columns(readings)
    coarse = [i for i, t in enumerate(knots) if t < span.fine_from and not _skipped(t, skip)]
    yield reader.samples([knots[i] for i in coarse], {c: v[coarse] for c, v in columns.items()})
    fine = [t for t in grid(span.fine_from, span.end, poll) if not _skipped(t, skip)]
    if not fine:
        return
    knot_s = np.array([t.timestamp() for t in knots])
    fine_s = np.array([t.timestamp() for t in fine])
    values = {}
    for channel in reader.registers:
        if channel == "uptime_s":
            values[channel] = np.floor(fine_s - reader.boot_at.timestamp())
            continue
        smooth = np.interp(fine_s, knot_s, [getattr(r, channel) for r in readings])
        noisy = smooth + rng.normal(0.0, spread[channel], len(smooth)) if spread.get(channel) else smooth
        values[channel] = reader.quantised(channel, noisy)
    yield reader.samples(fine, values)


@dataclass(frozen=True, slots=True)
class PictureReference:
    """A camera's usual picture measures, from the simulator's pictures."""

    mean_level: float
    laplacian_var: float
    change: float


def scene_of(spec: CameraSpec) -> SceneSpec:
    return SceneSpec(seed=spec.seed, lighting=spec.lighting, width=spec.width_px, height=spec.height_px)


def picture_reference(spec: CameraSpec, *, at: datetime, interval: timedelta) -> PictureReference:
    checker = PictureChecker(asset_id=spec.camera_id)
    measures = [checker.check_frame(render(scene_of(spec), at=at - i * interval))[0]
                for i in range(REFERENCE_FRAMES, 0, -1)]
    return PictureReference(float(np.mean([m.mean_level for m in measures])),
                            float(np.mean([m.laplacian_var for m in measures])),
                            float(np.mean([m.change for m in measures if m.change is not None])))


# What a camera in order reports besides its picture measures (state channels: 1 = fault).
CAMERA_STATES = {"reachable": 1.0, "snapshot_ok": 1.0, "picture_black": 0.0, "picture_overexposed": 0.0,
                 "picture_uniform": 0.0, "picture_frozen": 0.0, "picture_defocus": 0.0, "picture_ok": 1.0}
CLOCK_OFFSET_S = (0.003, 0.002)  # mean and spread of a synchronised camera's measured offset


def camera_samples(asset_id: str, reference: PictureReference, instants: Sequence[datetime], *,
                   rng: np.random.Generator, clock_offset_s: float | None = None) -> list[Sample]:
    """Polls of a camera in order: reachable, in time (unless ``clock_offset_s`` says how far
    its clock is off), a good picture near the camera's usual measures."""
    n = len(instants)
    columns = {channel: ([value] * n, "state") for channel, value in CAMERA_STATES.items()}
    offsets = [clock_offset_s] * n if clock_offset_s is not None else rng.normal(*CLOCK_OFFSET_S, n).tolist()
    columns["clock_offset_s"] = (offsets, "s")
    columns["picture_mean_level"] = ((reference.mean_level * (1 + rng.normal(0, 0.01, n))).tolist(), "level")
    columns["picture_laplacian_var"] = ((reference.laplacian_var * (1 + rng.normal(0, 0.02, n))).tolist(), "score")
    columns["picture_change"] = (np.abs(reference.change * (1 + rng.normal(0, 0.1, n))).tolist(), "level")
    batch: list[Sample] = []
    for channel, (values, unit) in columns.items():
        batch += map(Sample, repeat(asset_id), repeat(channel), instants, values, repeat(unit))
    return batch


def week_of(span: Span, *, skip: Sequence[Window]) -> list[datetime]:
    """The knots of the week outside ``skip``: the coarse instants of cameras and hosts."""
    return [t for t in grid(span.start, span.end, KNOT) if not _skipped(t, skip)]


def host_event(asset_id: str, spec: HostSpec, at: datetime, event_type: str, *, zone: int | None = None,
               battery_v: float | None = None) -> list[Sample]:
    """An alarm host's event as the collector turns it into samples."""
    return to_samples(AlarmEvent(host_id=spec.host_id, asset_id=asset_id, event_id=f"history-{at.timestamp():.0f}",
                                 ts=at, type=event_type, zone=zone, battery_v=battery_v))


def heartbeat(asset_id: str, spec: HostSpec, at: datetime) -> list[Sample]:
    """online, and the battery the host reports with it."""
    return host_event(asset_id, spec, at, "heartbeat", battery_v=spec.battery_v)


def host_samples(asset_id: str, spec: HostSpec, instants: Sequence[datetime]) -> list[Sample]:
    return [s for t in instants for s in heartbeat(asset_id, spec, t)]


def _skipped(at: datetime, windows: Sequence[Window]) -> bool:
    return any(start <= at < end for start, end in windows)
