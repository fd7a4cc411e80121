"""Wires the stages of one Sitewatch process: collector -> bus -> (store, rules -> tickets) -> API.

Each stage talks to the next through a narrow interface (SampleSink, TimeSeriesStore,
TicketWriter), so a stage can later move to its own process behind a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from collector.health import HealthRegistry
from collector.modbus.gateway import GATEWAY_CHANNELS
from collector.mqtt.consumer import AlarmHostConsumer, host_zones, timestamp_policy
from collector.mqtt.decode import host_channels
from collector.onvif.client import OnvifClients
from collector.onvif.poller import camera_channels
from collector.scheduler import PollJob, Scheduler
from config.models import Config
from domain.alerts import AlertTransition
from domain.samples import Sample
from domain.time import Clock, SystemClock
from inspections.daily import CHECK_EVERY_S as DAILY_CHECK_EVERY_S
from inspections.daily import DailyChecks
from paging.service import Paging, credential_names
from review.service import CHECK_EVERY_S as REVIEW_CHECK_EVERY_S
from review.service import DailyReviews
from rules.engine import AssetChannels, RulesEngine
from rules.flapping import FlapGuard
from sitewatch.bus import SampleBus, drain
from sitewatch.jobs import ReportedFacts, camera_jobs, modbus_jobs
from sitewatch.store_writer import StoreWriter
from sitewatch.supervise import ServiceHealth, Supervisor
from storage.database import make_engine, session_factory
from storage.maintenance import CHECK_EVERY_S as MAINTENANCE_CHECK_EVERY_S
from storage.maintenance import StoreMaintenance
from storage.open import open_timeseries
from storage.repository import load_rules_state, save_rules_state, sync_inventory
from storage.schema import upgrade_schema
from storage.spool import SampleSpool
from storage.timeseries import TimeSeriesError, TimeSeriesStore
from tickets.deadlines import Deadlines
from tickets.holds import Holds
from tickets.writer import TicketWriter
from vault.keys import load_key
from vault.store import Vault

log = logging.getLogger(__name__)

RULES_STATE_KEY = "engine"
SNAPSHOT_EVERY_TICKS = 10
SLA_CHECK_EVERY_TICKS = 10  # arrive-by deadlines are hours long: every ~10 s is plenty
STORE = "store-writer"  # loop names, as /healthz shows them
RULES = "rules"


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
    service: ServiceHealth  # the process's own loops, for /healthz
    spool: SampleSpool  # store-and-forward: what the store could not take yet

    def close(self) -> None:
        self.store.close()
        self.spool.close()
        self.database.dispose()


def asset_channels(config: Config) -> list[AssetChannels]:
    out = []
    for asset in config.assets:
        if asset.modbus is not None:
            profile = config.profile(asset.modbus.profile)
            channels = profile.channels
        elif asset.modbus_gateway is not None:
            channels = dict(GATEWAY_CHANNELS)
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
    buffer = config.storage.buffer
    spool = SampleSpool(data_dir / buffer.path, max_samples=buffer.max_samples, warn_fraction=buffer.warn_fraction)
    db = make_engine(config.storage.database_url.format(data_dir=data_dir.as_posix()))
    upgrade_schema(db)
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
    influx = config.storage.influx
    needs_vault = (any(a.onvif is not None for a in config.assets) or bool(credential_names(config))
                   or (influx is not None and influx.credential is not None))
    vault = Vault(sessions, load_key(key_file=config.vault.key_file)) if needs_vault else None
    store = open_timeseries(config.storage, data_dir=data_dir, site_of={a.id: a.site for a in config.assets},
                            secret=_vault_secret(vault, clock) if vault is not None else None, clock=clock)
    return Components(config, store, db, sessions, health, engine, clock, vault, ServiceHealth(), spool)


def _vault_secret(vault: Vault, clock: Clock) -> Callable[[str], tuple[str, str]]:
    """The time-series server's credential, read from the vault once, when the store opens."""

    def secret(name: str) -> tuple[str, str]:
        credential = vault.get(name, purpose="time-series store", actor="sitewatch", now=clock.now())
        return credential.username, credential.password.reveal()

    return secret


class Pipeline:
    """Runs the collector, the store writer and the rules worker until cancelled; each loop
    under the supervisor, so nothing but cancellation ends the process."""

    def __init__(self, parts: Components, *, jobs: Sequence[PollJob] | None = None) -> None:
        self.parts = parts
        self.bus = SampleBus()
        self._to_store = self.bus.subscribe()
        self._to_rules = self.bus.subscribe()
        self._onvif: OnvifClients | None = None
        if jobs is not None:
            self._jobs = list(jobs)
        else:
            facts = ReportedFacts(parts.sessions, parts.clock)  # what devices say of themselves
            self._jobs = modbus_jobs(parts.config, facts=facts)
            if any(a.onvif is not None for a in parts.config.assets):
                # One set of parsed WSDLs and HTTP pools for every camera of the process.
                self._onvif = OnvifClients(clock=parts.clock)
                self._jobs += camera_jobs(parts.config, clients=self._onvif, vault=parts.vault, clock=parts.clock,
                                          facts=facts)
        hosts = {a.alarm_host.host_id: a.id for a in parts.config.assets if a.alarm_host is not None}
        mqtt = parts.config.mqtt
        self.alarm_hosts = (
            # Events stored before a restart are known as such: their redelivery is dropped.
            AlarmHostConsumer(mqtt, hosts=hosts, sink=self.bus, clock=parts.clock,
                              timestamps=timestamp_policy(parts.config), zones=host_zones(parts.config),
                              stored_events=parts.spool.recent_events(mqtt.dedup_window))
            if hosts and mqtt is not None
            else None
        )
        self.store_writer = StoreWriter(parts.store, parts.spool, clock=parts.clock)
        self.writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        self._deadlines = Deadlines(sessions=parts.sessions, config=parts.config)
        self._reviews = DailyReviews(config=parts.config, store=parts.store, sessions=parts.sessions,
                                     clock=parts.clock)
        self._daily = DailyChecks(sessions=parts.sessions, config=parts.config)  # plans and contracts
        self._maintenance = StoreMaintenance(parts.store, parts.config.storage.retention)  # rollups, retention
        self.paging = Paging(sessions=parts.sessions, config=parts.config, clock=parts.clock, vault=parts.vault)
        # Transitions the database has not taken yet (it was down, or the writer failed);
        # re-applied every tick. The writer is idempotent: applying one twice is harmless.
        self._unapplied: list[AlertTransition] = []
        self._ticks = 0
        # Assets under a maintenance window or an inspection, read once per tick: the engine
        # restarts what it learnt of their normal behaviour (night creep's low-flow baseline).
        self._holds = Holds(parts.config)
        self._at_work: frozenset[str] = frozenset()
        self._supervisor = Supervisor(parts.service, clock=parts.clock)
        parts.service.count_set_aside("samples", lambda: self.store_writer.samples_set_aside)
        parts.service.count_set_aside("transitions", lambda: len(self.writer.set_aside))
        parts.service.watch_buffer("store", self.store_writer.buffer_state)
        if self.alarm_hosts is not None:
            parts.service.count_input("alarm_hosts", self.alarm_hosts.counters)
        if parts.config.paging is not None:
            parts.service.count_input("paging", self.paging.counters)

    async def run(self) -> None:
        await asyncio.to_thread(self._startup)
        scheduler = Scheduler(
            jobs=self._jobs, sink=self.bus, health=self.parts.health,
            settings=self.parts.config.collector, clock=self.parts.clock,
        )
        storage, rules = self.parts.config.storage, self.parts.config.rules_engine
        every, keep_running = self._supervisor.every, self._supervisor.keep_running
        chores = (
            ("daily-review", REVIEW_CHECK_EVERY_S, self._reviews.generate_due),
            ("inspections-daily", DAILY_CHECK_EVERY_S, lambda now: self._daily.run(now=now)),
            ("store-maintenance", MAINTENANCE_CHECK_EVERY_S, self._maintenance.run_once),
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(every(STORE, storage.flush_interval_s, self._flush), name=STORE)
                group.create_task(every(RULES, rules.tick_s, self._rules_tick), name=RULES)
                for name, every_s, job in chores:
                    chore = functools.partial(self._chore, name, job)
                    group.create_task(every(name, every_s, chore, first_now=True), name=name)
                group.create_task(self.paging.run(self._supervisor), name="paging")
                if self._jobs:  # a scheduler with nothing to poll would end at once
                    group.create_task(keep_running("collector", scheduler.run), name="collector")
                if self.alarm_hosts is not None:
                    group.create_task(keep_running("alarm-hosts", self.alarm_hosts.run), name="alarm-hosts")
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
        # The last flush sets a bad sample aside rather than lose the batch with it; what
        # the store cannot take waits in the buffer for the next process. Receipts are
        # settled, but the MQTT client has gone: the broker delivers those messages again,
        # and the next process knows them as stored.
        samples, receipts = drain(self._to_store)
        try:
            self.store_writer.flush(samples, receipts, last=True)
        except Exception:  # the last guard: the process is ending, say what is lost and end
            log.exception("store: unexpected error at shutdown")
        if self.store_writer.unwritten:
            log.error("store: %d sample(s) lost at shutdown: neither the store nor its buffer took them",
                      self.store_writer.unwritten)
        try:
            self._judge(drain(self._to_rules).samples)
            self.writer.apply(self._unapplied)
            self._save_snapshot()
        except SQLAlchemyError as exc:
            log.error("rules: database unavailable at shutdown, %d transition(s) not written: %s",
                      len(self._unapplied), exc)
        except Exception:  # the last guard: the process is ending, say what is lost and end
            log.exception("rules: unexpected error at shutdown, %d transition(s) not written", len(self._unapplied))

    async def _flush(self) -> None:
        # A store that is down is the writer's business (it buffers on disk); only an error
        # nobody expected reaches the supervisor.
        samples, receipts = drain(self._to_store)
        await asyncio.to_thread(self.store_writer.flush, samples, receipts)

    def _save_snapshot(self) -> None:
        with self.parts.sessions() as session:
            save_rules_state(session, RULES_STATE_KEY, self.parts.engine.snapshot(), self.parts.clock.now())
            session.commit()

    def _judge(self, samples: list[Sample]) -> None:
        """The one call of the rules engine: what came in, judged now."""
        engine = self.parts.engine
        self._unapplied += engine.evaluate(engine.batch(samples), now=self.parts.clock.now(), at_work=self._at_work)

    async def _rules_tick(self) -> None:
        """Judge what came in, write what changed, let time act on alerts and tickets. Each
        step is guarded on its own, so a bug in one never holds up the others; transitions
        stay in _unapplied until the writer has taken them."""
        self._ticks += 1
        with self._supervisor.guard(RULES):
            # A batch the engine fails on is not judged again: the engine is pure, it would
            # fail again. The samples are stored all the same, and a lasting fault shows in
            # the next ones.
            self._judge(drain(self._to_rules).samples)
        with self._supervisor.guard(RULES), self._database_outage():
            await asyncio.to_thread(self._housekeeping, self._ticks)
        with self._supervisor.guard(RULES), self._database_outage():
            if self._unapplied:
                summary = await asyncio.to_thread(self.writer.apply, self._unapplied)
                self._unapplied = []
                log.info("rules: %s", summary)
                await asyncio.to_thread(self._save_snapshot)
            elif self._ticks % SNAPSHOT_EVERY_TICKS == 0:
                await asyncio.to_thread(self._save_snapshot)

    @contextlib.contextmanager
    def _database_outage(self) -> Iterator[None]:
        """The database being down is expected, not a bug: one line, and the next tick retries."""
        try:
            yield
        except SQLAlchemyError as exc:
            log.error("rules: database unavailable, %d transition(s) kept for the next tick: %s",
                      len(self._unapplied), exc)

    def _housekeeping(self, ticks: int) -> None:
        """What the passage of time does to alerts and tickets, once per tick."""
        now = self.parts.clock.now()
        with self.parts.sessions() as session:
            self._at_work = self._holds.at_work(session, at=now)
        self._deadlines.escalate_unacknowledged(now=now)
        self.writer.release_held(now=now)
        self.writer.end_mutes(now=now)
        if ticks % SLA_CHECK_EVERY_TICKS == 0:
            self._deadlines.check_arrivals(now=now)
            self._deadlines.check_resolutions(now=now)

    async def _chore(self, name: str, job: Callable[[datetime], object]) -> None:
        """A daily chore (contract reminders, overdue inspections, the 08:30 logs): a database
        or store outage skips one round, never the loop."""
        try:
            await asyncio.to_thread(job, self.parts.clock.now())
        except (SQLAlchemyError, TimeSeriesError) as exc:
            log.error("%s: skipped this round, will retry: %s", name, exc)
