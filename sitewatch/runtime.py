"""Wires the stages of one Sitewatch process: collector -> bus -> (store, rules -> tickets) -> API.

Each stage talks to the next through a narrow interface (SampleSink, TimeSeriesStore,
TicketWriter), so a stage can later move to its own process behind a broker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from collector.health import HealthRegistry
from collector.modbus.poller import ModbusPoller
from collector.mqtt.consumer import AlarmHostConsumer
from collector.mqtt.decode import host_channels
from collector.onvif.client import OnvifClients
from collector.onvif.events import EVENT_CHANNELS
from collector.onvif.poller import OnvifPoller, camera_channels
from collector.results import PollResult
from collector.scheduler import PollJob, Scheduler
from config.models import Config
from domain.alerts import AlertTransition
from domain.samples import Sample
from domain.time import Clock, SystemClock
from inspections.daily import CHECK_EVERY_S as DAILY_CHECK_EVERY_S, DailyChecks
from rules.engine import AssetChannels, RulesEngine
from rules.flapping import FlapGuard
from storage.database import create_schema, make_engine, session_factory
from storage.duckdb_store import DuckDBStore
from storage.repository import load_rules_state, record_reported_facts, save_rules_state, sync_inventory
from storage.timeseries import TimeSeriesError, TimeSeriesStore
from tickets.deadlines import Deadlines
from review.service import CHECK_EVERY_S as REVIEW_CHECK_EVERY_S, DailyReviews
from tickets.writer import TicketWriter
from vault.cache import CachedCredential
from vault.keys import load_key
from vault.store import Vault

log = logging.getLogger(__name__)

RULES_STATE_KEY = "engine"
SNAPSHOT_EVERY_TICKS = 10
SLA_CHECK_EVERY_TICKS = 10  # arrive-by deadlines are hours long: every ~10 s is plenty


class SampleBus:
    """In-process fan-out. Each subscriber gets every batch; nothing is dropped: a slow
    subscriber makes the collector wait rather than lose samples."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Sequence[Sample]]] = []

    def subscribe(self, *, max_batches: int = 10_000) -> asyncio.Queue[Sequence[Sample]]:
        queue: asyncio.Queue[Sequence[Sample]] = asyncio.Queue(max_batches)
        self._queues.append(queue)
        return queue

    async def publish(self, samples: Sequence[Sample]) -> None:
        # Batches are shared, not copied: pollers hand over tuples nobody changes.
        for queue in self._queues:
            if queue.full():
                await queue.put(samples)
            else:
                queue.put_nowait(samples)


def tune_garbage_collector() -> None:
    """Process-wide GC settings for a long-running collector; call once at start-up.

    Every poll allocates a dozen short-lived samples. With CPython's default gen-0
    threshold (700) that is ~100 collections a second at 500 stations, and the frequent
    older-generation passes walk every live object: bench/bench_collector.py measured
    ~160 us of CPU per poll with the defaults and ~107 us with these settings. Samples
    form no reference cycles, so collecting less often costs no memory that matters.
    """
    gc.freeze()  # what start-up built (config, pymodbus, SQLAlchemy) is never garbage
    gc.set_threshold(100_000, 20, 100)


def drain(queue: asyncio.Queue[Sequence[Sample]]) -> list[Sample]:
    out: list[Sample] = []
    while not queue.empty():
        out.extend(queue.get_nowait())
    return out


@dataclass
class Components:
    """What the API and the CLI need to see of a running process."""

    config: Config
    store: TimeSeriesStore
    database: Engine
    sessions: sessionmaker[Session]
    health: HealthRegistry
    engine: RulesEngine
    clock: Clock
    vault: Vault | None  # None when no asset needs credentials

    def close(self) -> None:
        self.store.close()
        self.database.dispose()


def asset_channels(config: Config) -> list[AssetChannels]:
    out = []
    for asset in config.assets:
        if asset.modbus is not None:
            profile = config.profile(asset.modbus.profile)
            channels = {r.channel: r.unit for r in profile.registers}
        elif asset.alarm_host is not None:
            channels = host_channels(asset.alarm_host.zones)
        else:
            assert asset.onvif is not None
            channels = camera_channels(asset.onvif)
        # Regulator pressures by name, for rules written relative to them (relative_to);
        # the site's zone, for rules that learn per local hour of day (baseline).
        settings = asset.regulator.model_dump() if asset.regulator is not None else {}
        out.append(AssetChannels(asset.id, asset.kind, channels, asset.limits, settings=settings,
                                 time_zone=config.site(asset.site).time_zone))
    return out


def build_components(config: Config, *, clock: Clock | None = None) -> Components:
    clock = clock or SystemClock()
    data_dir = Path(config.storage.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = DuckDBStore(data_dir / config.storage.timeseries_path)
    db = make_engine(config.storage.database_url.format(data_dir=data_dir.as_posix()))
    create_schema(db)
    sessions = session_factory(db)
    settings = config.rules_engine
    flapping = (
        FlapGuard(transitions=settings.flap_transitions, window_s=settings.flap_window_s)
        if settings.flap_transitions is not None
        else None
    )
    engine = RulesEngine(rules=config.rules, assets=asset_channels(config), started_at=clock.now(), flapping=flapping)
    health = HealthRegistry(offline_after_failures=config.collector.offline_after_failures)
    # The key is needed only where credentials are; its absence then stops start-up with a
    # message naming SITEWATCH_VAULT_KEY and the key file (vault.errors.KeyConfigError).
    needs_vault = any(a.onvif is not None for a in config.assets)
    vault = Vault(sessions, load_key(key_file=config.vault.key_file)) if needs_vault else None
    return Components(config, store, db, sessions, health, engine, clock, vault)


def modbus_jobs(config: Config) -> list[PollJob]:
    jobs = []
    for asset in config.assets:
        if asset.modbus is None:
            continue
        profile = config.profile(asset.modbus.profile)
        poller = ModbusPoller(asset_id=asset.id, endpoint=asset.modbus, profile=profile)
        reads = poller.reads_per_poll
        jobs.append(
            PollJob(
                device_id=asset.id,
                interval_s=asset.poll_interval_s,
                # every read may take its full timeout, plus one connect
                timeout_s=asset.modbus.timeout_s * (reads + 1),
                poll=poller.poll,
                channels=poller.channels,
                close=poller.close,
            )
        )
    return jobs


class ReportedFacts:
    """Writes what cameras report about themselves to the inventory, only when it changed."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._last: dict[str, dict] = {}

    async def record(self, asset_id: str, facts: dict) -> None:
        if self._last.get(asset_id) == facts:
            return
        await asyncio.to_thread(self._write, asset_id, facts)
        self._last[asset_id] = facts

    def _write(self, asset_id: str, facts: dict) -> None:
        with self._sessions() as session:
            record_reported_facts(session, asset_id, facts, actor="collector", now=self._clock.now())
            session.commit()


def camera_jobs(
    config: Config, *, clients: OnvifClients, vault: Vault, clock: Clock, facts: ReportedFacts
) -> list[PollJob]:
    jobs = []
    for asset in config.assets:
        if asset.onvif is None:
            continue
        credentials = CachedCredential(vault, asset.onvif.credential, purpose=f"onvif {asset.id}",
                                       actor="collector", clock=clock)
        poller = OnvifPoller(asset_id=asset.id, endpoint=asset.onvif, credentials=credentials,
                             clients=clients, clock=clock)
        jobs.append(
            PollJob(
                device_id=asset.id,
                interval_s=asset.poll_interval_s,
                # clock, inventory (first poll), snapshot URI and fetch, events pull
                timeout_s=asset.onvif.timeout_s * 6 + asset.onvif.events_pull_timeout_s,
                poll=functools.partial(_poll_camera, poller, facts),
                channels=poller.channels,
                close=poller.close,
            )
        )
        if asset.onvif.events and asset.onvif.events_interval_s is not None:
            jobs.append(
                PollJob(
                    # A health record of its own: "cam-001/events" failing while "cam-001"
                    # answers means the event service is the problem.
                    device_id=f"{asset.id}/events",
                    interval_s=asset.onvif.events_interval_s,
                    timeout_s=asset.onvif.timeout_s + asset.onvif.events_pull_timeout_s,
                    poll=poller.poll_events,
                    channels=EVENT_CHANNELS,
                    close=_nothing_to_close,  # the camera's main job closes the subscription
                )
            )
    return jobs


async def _nothing_to_close() -> None:
    return None


async def _poll_camera(poller: OnvifPoller, facts: ReportedFacts, ts: datetime) -> PollResult:
    result = await poller.poll(ts)
    info = poller.device_info
    if info is not None:
        await facts.record(poller.asset_id, dataclasses.asdict(info))
    return result


class Pipeline:
    """Runs the collector, the store writer and the rules worker until cancelled."""

    def __init__(self, parts: Components, *, jobs: Sequence[PollJob] | None = None) -> None:
        self.parts = parts
        self.bus = SampleBus()
        self._to_store = self.bus.subscribe()
        self._to_rules = self.bus.subscribe()
        self._onvif: OnvifClients | None = None
        if jobs is not None:
            self._jobs = list(jobs)
        else:
            self._jobs = modbus_jobs(parts.config)
            if parts.vault is not None:  # built exactly when some asset is a camera
                # One set of parsed WSDLs and HTTP pools for every camera of the process.
                self._onvif = OnvifClients()
                facts = ReportedFacts(parts.sessions, parts.clock)
                self._jobs += camera_jobs(parts.config, clients=self._onvif, vault=parts.vault, clock=parts.clock,
                                          facts=facts)
        hosts = {a.alarm_host.host_id: a.id for a in parts.config.assets if a.alarm_host is not None}
        self.alarm_hosts = (
            AlarmHostConsumer(parts.config.mqtt, hosts=hosts, sink=self.bus, clock=parts.clock)
            if hosts and parts.config.mqtt is not None
            else None
        )
        self._writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        self._deadlines = Deadlines(sessions=parts.sessions, config=parts.config)
        self._reviews = DailyReviews(config=parts.config, store=parts.store, sessions=parts.sessions,
                                     clock=parts.clock)
        self._daily = DailyChecks(sessions=parts.sessions, config=parts.config)  # plans and contracts
        # Accepted but not yet stored: kept until a write succeeds. Touched only by
        # _store_batch, under the lock, so shutdown waits for a write still in flight.
        self._unwritten: list[Sample] = []
        self._store_lock = threading.Lock()
        # Transitions the database has not taken yet (it was down); re-applied every tick.
        # The writer is idempotent, so applying one twice is harmless.
        self._unapplied: list[AlertTransition] = []
        self.samples_written = 0

    async def run(self) -> None:
        await asyncio.to_thread(self._startup)
        scheduler = Scheduler(
            jobs=self._jobs, sink=self.bus, health=self.parts.health,
            settings=self.parts.config.collector, clock=self.parts.clock,
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(scheduler.run(), name="collector")
                if self.alarm_hosts is not None:
                    group.create_task(self.alarm_hosts.run(), name="alarm-hosts")
                group.create_task(self._store_loop(), name="store-writer")
                group.create_task(self._rules_loop(), name="rules")
                group.create_task(self._every("daily review", REVIEW_CHECK_EVERY_S, self._reviews.generate_due),
                                  name="daily-review")
                group.create_task(self._every("inspections and contracts", DAILY_CHECK_EVERY_S,
                                              lambda now: self._daily.run(now=now)), name="inspections-daily")
        finally:
            # Whatever is still queued was accepted: write it and keep the rules' state.
            await asyncio.shield(asyncio.to_thread(self._shutdown))
            if self._onvif is not None:
                await self._onvif.aclose()

    def _startup(self) -> None:
        parts = self.parts
        with parts.sessions() as session:
            changed = sync_inventory(session, parts.config, actor="config", now=parts.clock.now())
            session.commit()
            payload = load_rules_state(session, RULES_STATE_KEY)
        if changed:
            log.info("inventory: %d change(s) from the configuration", changed)
        if payload is not None:
            restored = parts.engine.restore(payload)
            log.info("rules: restored the state of %d alert(s)", restored)

    def _shutdown(self) -> None:
        try:
            self._store_batch(drain(self._to_store))
        except TimeSeriesError as exc:
            log.error("store: %d sample(s) could not be written at shutdown: %s", len(self._unwritten), exc)
        transitions = self.parts.engine.evaluate(
            self.parts.engine.batch(drain(self._to_rules)), now=self.parts.clock.now()
        )
        try:
            self._writer.apply(self._unapplied + transitions)
            self._save_snapshot()
        except SQLAlchemyError as exc:
            log.error("rules: database unavailable at shutdown, %d transition(s) not written: %s",
                      len(self._unapplied) + len(transitions), exc)

    def _store_batch(self, new: list[Sample]) -> None:
        with self._store_lock:
            batch, self._unwritten = self._unwritten + new, []
            if not batch:
                return
            try:
                self.samples_written += self.parts.store.write(batch)
            except TimeSeriesError:
                self._unwritten = batch
                raise

    def _save_snapshot(self) -> None:
        with self.parts.sessions() as session:
            save_rules_state(session, RULES_STATE_KEY, self.parts.engine.snapshot(), self.parts.clock.now())
            session.commit()

    async def _store_loop(self) -> None:
        while True:
            await asyncio.sleep(self.parts.config.storage.flush_interval_s)
            try:
                await asyncio.to_thread(self._store_batch, drain(self._to_store))
            except TimeSeriesError as exc:
                # The store is failing (disk full, file locked): keep every sample and retry
                # at the next flush rather than stop collecting or drop data.
                log.error("store: write failed, %d sample(s) kept for the next attempt: %s",
                          len(self._unwritten), exc)

    def _housekeeping(self, ticks: int) -> None:
        """What the passage of time does to alerts and tickets, once per tick."""
        now = self.parts.clock.now()
        self._deadlines.escalate_unacknowledged(now=now)
        self._writer.release_held(now=now)
        self._writer.end_mutes(now=now)
        if ticks % SLA_CHECK_EVERY_TICKS == 0:
            self._deadlines.check_arrivals(now=now)
            self._deadlines.check_resolutions(now=now)

    async def _every(self, what: str, every_s: float, job: Callable[[datetime], object]) -> None:
        """A daily chore (contract reminders, overdue inspections, the 08:30 logs): now, then
        every ``every_s``; a database or store outage skips one round, never the loop."""
        while True:
            try:
                await asyncio.to_thread(job, self.parts.clock.now())
            except (SQLAlchemyError, TimeSeriesError) as exc:
                log.error("%s: skipped this round, will retry: %s", what, exc)
            await asyncio.sleep(every_s)

    async def _rules_loop(self) -> None:
        engine = self.parts.engine
        ticks = 0
        while True:
            await asyncio.sleep(self.parts.config.rules_engine.tick_s)
            batch = engine.batch(drain(self._to_rules))
            self._unapplied += engine.evaluate(batch, now=self.parts.clock.now())
            ticks += 1
            try:
                await asyncio.to_thread(self._housekeeping, ticks)
                if self._unapplied:
                    summary = await asyncio.to_thread(self._writer.apply, self._unapplied)
                    self._unapplied = []
                    log.info("rules: %s", summary)
                    await asyncio.to_thread(self._save_snapshot)
                elif ticks % SNAPSHOT_EVERY_TICKS == 0:
                    await asyncio.to_thread(self._save_snapshot)
            except SQLAlchemyError as exc:
                log.error("rules: database unavailable, %d transition(s) kept for the next tick: %s",
                          len(self._unapplied), exc)
