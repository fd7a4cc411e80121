"""``seed_history``: the week before the demo starts, written into its stores.

The order matters: the episodes are judged first (pure), then every sample is written
(the records read the store: field readings against SCADA, the 08:30 logs), then the
database's week is replayed in time order (timeline.py).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from sitewatch.components import Components
from sitewatch.config.models import Asset, Config
from sitewatch.domain.time import require_utc
from sitewatch.history.episodes import Episode, Fault, camera_episode, host_episode, station_episode
from sitewatch.history.moves import StoryTeller
from sitewatch.history.people import Login, Person, add_people
from sitewatch.history.records import Records, Visit
from sitewatch.history.series import (
    KNOT,
    PictureReference,
    Span,
    StationReader,
    Window,
    aligned,
    camera_samples,
    host_samples,
    model_spread,
    picture_reference,
    station_samples,
    week_of,
)
from sitewatch.history.stories import STORIES, Story
from sitewatch.history.timeline import Timeline
from sitewatch.review.gather import regulator_stations
from sitewatch.review.schedule import due_at
from sitewatch.simulators.alarmhost.spec import HostSpec
from sitewatch.simulators.camera.spec import CameraSpec
from sitewatch.simulators.regulator.spec import StationSpec
from sitewatch.storage.repository import sync_inventory

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
FINE_FLOOR = timedelta(seconds=5)  # stations polled faster than this get their past at this step
SEED = 2026  # the same week every time, given the same start
GC_THRESHOLD = (100_000, 20, 100)  # sitewatch.components.tune_garbage_collector's


@dataclass(frozen=True, slots=True)
class Fleet:
    """The simulators' specs: their models make the past."""

    stations: Sequence[StationSpec]
    cameras: Sequence[CameraSpec]
    hosts: Sequence[HostSpec]


@dataclass(frozen=True)
class Seeded:
    logins: list[Login]
    samples: int
    actions: int  # database actions replayed
    tickets: dict[str, int]  # story -> the ticket its fault opened
    seconds: dict[str, float] = field(default_factory=dict)  # part -> how long it took
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # part -> this process's CPU time


def history_span(config: Config, now: datetime) -> Span:
    """A week up to ``now``; at the poll interval from the start of yesterday's 08:30 log's
    window (the oldest log the demo shows), so that the logs count every sample they expect."""
    now = require_utc(now)
    starts = []
    for site in config.sites:
        if regulator_stations(config, site.id):
            today = now.astimezone(ZoneInfo(site.time_zone)).date()
            starts.append(due_at(today - timedelta(days=2), at=config.review.at, time_zone=site.time_zone))
    start = aligned(now - WEEK, KNOT)
    return Span(start, max(start, min(starts, default=now)), now)


def seed_history(parts: Components, fleet: Fleet, *, people: Sequence[Person], avoid: Collection[str] = (),
                 locale: str, seed: int = SEED) -> Seeded:
    """Write the week into ``parts``' empty stores. ``avoid``: assets the live demo has
    plans for (its fault schedule); stories go elsewhere while the fleet allows.
    ``locale``: the language people's notes are written in."""
    config, now = parts.config, parts.clock.now()
    span = history_span(config, now)
    timer = _Timer()
    with timer("users"):
        with parts.sessions() as session:
            sync_inventory(session, config, actor="config", now=span.start - timedelta(days=1))
            session.commit()
        logins = add_people(parts.sessions, people, at=span.start - timedelta(days=1))
    assets = _Assets(config, fleet, avoid)
    timeline = Timeline(sessions=parts.sessions, config=config, until=span.end)
    with timer("episodes"):
        stories = [(story, _episode(story, assets, span, rng=np.random.default_rng([seed, 0, number])))
                   for number, story in enumerate(STORIES) if assets.pick(story)]
        busy: dict[str, list[Window]] = {}
        for _story, episode in stories:
            busy.setdefault(config.asset(episode.asset_id).site, []).append(episode.window)
        records = Records(timeline, parts, span, busy=busy, locale=locale)
        visits = records.visits()
        doors = [_door(visit, assets, span) for visit in visits if visit.door and visit.at >= span.start]
    with timer("samples"), _fewer_collections():
        samples = _write_samples(parts, assets, span, [e for _, e in stories] + doors, seed)
    with timer("records"):
        teller = StoryTeller(timeline, config, locale=locale)
        for story, episode in stories:
            teller.tell(story, episode)
        for door in doors:  # held by the inspection in progress: recorded, nobody paged
            timeline.apply(door.transitions)
        records.schedule(visits)
        timeline.run()
    log.info("history: a week of %d samples, %d tickets from faults and %d records in %.1f s (%s; CPU %.1f s)",
             samples, len(teller.tickets), timeline.actions, sum(timer.seconds.values()),
             ", ".join(f"{k} {v:.1f} s" for k, v in timer.seconds.items()), sum(timer.cpu.values()))
    return Seeded(logins, samples, timeline.actions, dict(teller.tickets), dict(timer.seconds), dict(timer.cpu))


class _Assets:
    """The configured assets the fleet simulates, by kind, the ones to avoid last."""

    def __init__(self, config: Config, fleet: Fleet, avoid: Collection[str]) -> None:
        self.config = config
        self.stations = {s.station_id: s for s in fleet.stations}
        self.cameras = {c.camera_id: c for c in fleet.cameras}
        self.hosts = {h.host_id: h for h in fleet.hosts}
        simulated = {"station": [a for a in config.assets if a.modbus is not None and a.id in self.stations],
                     "camera": [a for a in config.assets if a.onvif is not None and a.id in self.cameras],
                     "host": [a for a in config.assets if a.alarm_host is not None
                              and a.alarm_host.host_id in self.hosts]}
        self.by_kind = {kind: [a for a in found if a.id not in avoid] + [a for a in found if a.id in avoid]
                        for kind, found in simulated.items()}
        self._pictures: dict[str, PictureReference] = {}

    def pick(self, story: Story) -> Asset | None:
        found = self.by_kind[story.fault.kind]
        return found[story.pick % len(found)] if found else None

    def picture(self, asset: Asset, span: Span) -> PictureReference:
        """The camera's usual picture measures (rendered and judged once)."""
        if asset.id not in self._pictures:
            self._pictures[asset.id] = picture_reference(self.cameras[asset.id], at=span.end,
                                                         interval=timedelta(seconds=asset.poll_interval_s))
        return self._pictures[asset.id]

    def reader(self, asset: Asset, span: Span) -> StationReader:
        spec = self.stations[asset.id]
        assert asset.modbus is not None
        # The RTU has run for weeks before the history starts (its uptime register says so).
        return StationReader(asset, spec, self.config.profile(asset.modbus.profile),
                             boot_at=span.start - timedelta(days=20 + spec.seed % 30))


def station_step(asset: Asset) -> timedelta:
    return max(timedelta(seconds=asset.poll_interval_s), FINE_FLOOR)


def _door(visit: Visit, assets: _Assets, span: Span) -> Episode:
    """The station's door, open while the technicians are in."""
    asset = assets.config.asset(visit.target_id)
    opened, shut = visit.door_open()
    return station_episode(assets.config, assets.reader(asset, span), Fault("station", "door_open"), start=opened,
                           end=shut, poll=station_step(asset))


def _episode(story: Story, assets: _Assets, span: Span, *, rng: np.random.Generator) -> Episode:
    asset = assets.pick(story)
    assert asset is not None
    config, fault, kind = assets.config, story.fault, story.fault.kind
    if kind == "station":
        step = station_step(asset)
    elif kind == "camera":
        step = timedelta(seconds=asset.poll_interval_s)
    else:
        step = timedelta(seconds=assets.hosts[asset.alarm_host.host_id].heartbeat_s)
    start = aligned(span.end - timedelta(hours=story.hours_ago), step)
    end = start + timedelta(minutes=story.minutes)
    if kind == "station":
        return station_episode(config, assets.reader(asset, span), fault, start=start, end=end, poll=step)
    if kind == "camera":
        return camera_episode(config, asset.id, assets.cameras[asset.id], assets.picture(asset, span), fault,
                              start=start, end=end, poll=step, rng=rng)
    return host_episode(config, asset.id, assets.hosts[asset.alarm_host.host_id], fault, start=start, end=end)


def _write_samples(parts: Components, assets: _Assets, span: Span, episodes: Sequence[Episode], seed: int) -> int:
    """Every sample of the week, through the store in a batch per part of each asset."""
    skip: dict[str, list[Window]] = {}
    for episode in episodes:
        skip.setdefault(episode.asset_id, []).append(episode.window)
    written = 0
    stations = assets.by_kind["station"]
    spread = model_spread(assets.reader(stations[0], span), end=span.end,
                          poll=station_step(stations[0])) if stations else {}
    for number, asset in enumerate(stations):
        rng = np.random.default_rng([seed, 1, number])
        for batch in station_samples(assets.reader(asset, span), span, poll=station_step(asset),
                                     skip=skip.get(asset.id, ()), spread=spread, rng=rng):
            written += parts.store.write(batch)
    for number, asset in enumerate(assets.by_kind["camera"]):
        week = week_of(span, skip=skip.get(asset.id, ()))
        written += parts.store.write(camera_samples(asset.id, assets.picture(asset, span), week,
                                                    rng=np.random.default_rng([seed, 2, number])))
    for asset in assets.by_kind["host"]:
        written += parts.store.write(host_samples(asset.id, assets.hosts[asset.alarm_host.host_id],
                                                  week_of(span, skip=skip.get(asset.id, ()))))
    for episode in episodes:
        written += parts.store.write(episode.samples)
    return written


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Millions of samples are built, and none is garbage until written: with CPython's
    default gen-0 threshold (700) each batch is walked by the collector again and again
    (4x the time of building it, measured). Samples form no reference cycles. The runtime's
    own setting (tune_garbage_collector) for the while, the caller's after."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_THRESHOLD[0]), *GC_THRESHOLD[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[part] = time.perf_counter() - started
            self.cpu[part] = time.process_time() - cpu
