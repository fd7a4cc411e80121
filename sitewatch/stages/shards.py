"""The shards stage: which part of the fleet this worker polls and judges (issue 14).

The fleet is cut into ``[cluster] shards`` shards (sitewatch/shards.py); each is held by one
worker at a time through a lease in the database (storage/leases.py). Every third of a lease
period this stage

1. renews its membership (a lease named ``worker:<holder>``: how the workers count each other),
2. renews the shards it holds; one refused (expired and taken by another) stops at once,
3. aims at its fair share, ``ceil(shards / live workers)``: gives up shards beyond it (a worker
   joined) and claims free ones up to it (a worker left or died).

A dead worker's leases run out at most one period after its last renewal, and the others look
every third of a period: its shards move within 4/3 of a lease period. A worker that finds a
lease held by a process of its own host that no longer exists (killed; restarted by systemd)
seizes it at once.

A held shard runs its own collect stage (scheduler, and with more than one shard its own MQTT
session: client id ``<client_id>-<shard>of<shards>``, subscribed to its hosts alone, so the
broker keeps the shard's queued QoS 1 events for whoever holds it next) and its own rules
engine, whose state is restored on claim and saved under the shard's key on release.

The lease work runs on a thread of its own, never in asyncio's shared pool: there it once
waited behind thousands of cameras' first-poll database writes (bench_fleet, 2 workers,
10,000 cameras), its leases ran out unrenewed, the other worker took the shards, and both
polled them for minutes, their shards' MQTT sessions throwing each other off the broker.

A database the worker cannot reach does not stop its work: polling on is what a monitoring
system owes its users, and the ticket writer is idempotent, so a second worker taking the
shards meanwhile costs duplicate polls, never a duplicate ticket. The first renewal after the
outage settles who holds what.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from sitewatch.bus import SampleBus
from sitewatch.collector.admission import Headroom
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.scheduler import PollJob
from sitewatch.components import Components, rules_engine
from sitewatch.leasing import dead_here, holder_id
from sitewatch.shards import assets_in, lease_name
from sitewatch.stages.collect import CollectStage
from sitewatch.stages.rules import RULES_STATE_KEY, Judge, RulesStage
from sitewatch.storage import device_health
from sitewatch.storage.leases import Lease, claim, holders, release, renew, seize
from sitewatch.supervise import Supervisor
from sitewatch.threads import OwnThread

log = logging.getLogger(__name__)

SHARDS = "shards"  # the loop's name, as /healthz shows it
MEMBER_PREFIX = "worker:"


@dataclass
class HeldShard:
    shard: int
    lease: Lease
    judge: Judge
    collect: CollectStage
    task: asyncio.Task[None] | None = None


@dataclass
class Plan:
    """What one look at the leases decided, for the event loop to carry out."""

    claimed: list[HeldShard] = field(default_factory=list)  # built, state restored: to start
    lost: list[HeldShard] = field(default_factory=list)  # another worker holds them now
    surplus: list[HeldShard] = field(default_factory=list)  # beyond the fair share: to hand over


class ShardsStage:
    def __init__(self, parts: Components, bus: SampleBus, rules: RulesStage, *,
                 jobs: Sequence[PollJob] | None = None) -> None:
        self.parts = parts
        self.count = parts.config.cluster.shards
        self.ttl_s = parts.config.cluster.lease_ttl_s
        self.holder = holder_id()
        self._bus = bus
        self._rules = rules
        self._jobs = jobs  # given by tests and benches: the one shard's, instead of the configuration's
        if jobs is not None and self.count != 1:
            raise ValueError("jobs can be given only to a fleet of one shard")
        self._supervisor: Supervisor | None = None
        self._member: Lease | None = None
        self._held: dict[int, HeldShard] = {}
        self._seen: list[Lease] = []  # every running lease, at the last look
        parts.service.report_metrics(SHARDS, self._metrics)
        # One set of parsed WSDLs and HTTP pools for every camera of the process, whatever shards it holds.
        self._onvif = OnvifClients(clock=parts.clock) if any(a.onvif is not None for a in parts.config.assets) else None
        self._headroom = Headroom()  # cameras wait for CPU to spare on this loop; stations never do
        self._lease_thread = OwnThread("leases")  # see the module's docstring

    @property
    def every_s(self) -> float:
        return self.ttl_s / 3

    def held(self) -> list[int]:
        return sorted(self._held)

    def collect_stages(self) -> list[CollectStage]:
        return [self._held[shard].collect for shard in sorted(self._held)]

    def lease_name(self, shard: int) -> str:
        return lease_name(shard, self.count)

    def _metrics(self) -> Iterator[Metric]:
        held = GaugeMetricFamily("sitewatch_shards_held", "Shards this worker holds, of how many", labels=["of"])
        held.add_metric([str(self.count)], len(self._held))
        holders_seen = GaugeMetricFamily("sitewatch_lease_holder", "1 for each running lease and its holder: "
                                         "this worker's own, and the others' as it saw them at its last look",
                                         labels=["lease", "holder"])
        own = [held.lease for held in self._held.values()] + ([self._member] if self._member else [])
        names = {lease.name for lease in own}
        for lease in own + [lease for lease in self._seen if lease.name not in names]:
            holders_seen.add_metric([lease.name, lease.holder], 1)
        headroom = self._headroom
        deferred = CounterMetricFamily("sitewatch_polls_deferred", "Camera polls that waited for the event loop "
                                       "to have room (collector/admission.py)", value=headroom.deferred)
        slots = GaugeMetricFamily("sitewatch_deferrable_poll_slots", "Camera polls the event loop takes at once "
                                  "now, and how many run and wait", labels=["slots"])
        for name, value in (("limit", headroom.limit), ("in_flight", headroom.in_flight),
                            ("waiting", headroom.waiting)):
            slots.add_metric([name], value)
        lag = GaugeMetricFamily("sitewatch_event_loop_lag_seconds", "How late the event loop's last probe fired "
                                "(measured while camera polls run or wait)", value=headroom.lag_s)
        return iter((held, holders_seen, deferred, slots, lag))

    # -- start-up and the loop ------------------------------------------------------------

    def startup(self) -> Plan:
        """Blocking: join and claim a first share before the loops start, so a lone worker
        polls from its first second. The shards are started by ``loops``."""
        return self._balance()

    def loops(self, supervisor: Supervisor, plan: Plan | None = None) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        self._supervisor = supervisor
        if plan is not None:
            for held in plan.claimed:
                self._start(held)
        return [(SHARDS, self._run(supervisor))]

    async def _run(self, supervisor: Supervisor) -> None:
        try:
            await supervisor.every(SHARDS, self.every_s, self._tick)
        finally:
            await self._stop_all()
            self._lease_thread.close()

    async def _tick(self) -> None:
        plan = await self._lease_thread.run(self._balance)
        for held in plan.lost:
            # Held by another now: its state is the new holder's, nothing of it is saved here.
            self._rules.take(held.judge.state_key)
            await self._stop(held)
        for held in plan.surplus:
            # Beyond the fair share: stopped, saved and released, so the newcomer need not wait.
            self._rules.take(held.judge.state_key)
            await self._stop(held, forget=False)
            await self._lease_thread.run(self._hand_over, held)
            held.collect.forget()
        for held in plan.claimed:
            self._start(held)

    # -- the lease work (blocking, in a thread) ---------------------------------------------

    def _balance(self) -> Plan:
        """Renew, pick what is beyond the fair share, claim up to it (the claimed shards are
        built and their state restored here; the event loop starts them). The database
        failing half-way ends the look with what it decided so far."""
        plan = Plan()
        try:
            self._look(plan)
        except SQLAlchemyError as exc:
            log.error("shards: database unavailable, keeping shards %s: %s", self.held(), exc)
        return plan

    def _look(self, plan: Plan) -> None:
        # Worked on a copy and put in place in one assignment (even when the database fails
        # half-way): the event loop and /metrics read the held shards meanwhile, from other threads.
        held_now = dict(self._held)
        try:
            self._look_at(plan, held_now)
        finally:
            self._held = held_now

    def _look_at(self, plan: Plan, held_now: dict[int, HeldShard]) -> None:
        now = self.parts.clock.now()
        if self._member is None or not renew(self._member, now):
            self._member = claim(self.parts.sessions, MEMBER_PREFIX + self.holder, self.holder, self.ttl_s, now)
        for shard, held in list(held_now.items()):
            if not renew(held.lease, now):
                again = claim(self.parts.sessions, held.lease.name, self.holder, self.ttl_s, now)
                if again is None:
                    log.warning("shard %s lost to another worker: stopping its work", held.lease.name)
                    plan.lost.append(held_now.pop(shard))
                else:
                    held.lease = again  # expired unclaimed (a late renewal): taken back at once
        with self.parts.sessions() as session:
            running = holders(session, now)
        self._seen = running
        # A killed process of this host holds its leases to their end: its own restart (systemd)
        # need not wait them out.
        dead = {lease.name: lease for lease in running if dead_here(lease.holder)}
        live = [lease for lease in running if lease.name not in dead]
        workers = {lease.holder for lease in live if lease.name.startswith(MEMBER_PREFIX)} | {self.holder}
        share = math.ceil(self.count / len(workers))
        for shard in sorted(held_now, reverse=True)[: max(0, len(held_now) - share)]:
            plan.surplus.append(held_now.pop(shard))
        taken = {lease.name for lease in live}
        for shard in range(self.count):
            if len(held_now) >= share:
                break
            name = self.lease_name(shard)
            if shard in held_now or name in taken:
                continue
            if name in dead:
                lease = seize(self.parts.sessions, dead[name], self.holder, self.ttl_s, now)
            else:
                lease = claim(self.parts.sessions, name, self.holder, self.ttl_s, now)
            if lease is not None:
                held = self._build(shard, lease)
                held_now[shard] = held
                plan.claimed.append(held)
                log.info("shard %s taken by %s (generation %d)", name, self.holder, lease.generation)

    def _build(self, shard: int, lease: Lease) -> HeldShard:
        parts = self.parts
        if self.count == 1:
            # The whole fleet: the process's engine, under the key one process always used.
            judge = Judge(RULES_STATE_KEY, parts.engine)
            collect = CollectStage(parts, self._bus, jobs=self._jobs, onvif=self._onvif, headroom=self._headroom)
        else:
            ids = frozenset(asset.id for asset in assets_in(parts.config, shard, self.count))
            judge = Judge(f"engine:{lease.name}", rules_engine(parts.config, started_at=parts.clock.now(), assets=ids),
                          assets=ids)
            collect = CollectStage(parts, self._bus, assets=ids, onvif=self._onvif, headroom=self._headroom,
                                   shard=(shard, self.count))
        judge.restore(parts)
        return HeldShard(shard, lease, judge, collect)

    def _hand_over(self, held: HeldShard) -> None:
        try:
            held.judge.save(self.parts)
            # Its devices' last health, so the API shows them as they were until the next holder polls.
            polled = {job.device_id for job in held.collect.jobs}
            records = [record for record in self.parts.health.all() if record.device_id in polled]
            device_health.save(self.parts.sessions, records, now=self.parts.clock.now())
        finally:
            # Whatever failed above, the newcomer need not wait the lease out (it resumes from
            # the last snapshot saved, at most SNAPSHOT_EVERY_TICKS old).
            release(held.lease)
        log.info("shard %s given up by %s to balance the workers", held.lease.name, self.holder)

    # -- the held shards' collectors (event loop) --------------------------------------------

    def _start(self, held: HeldShard) -> None:
        assert self._supervisor is not None
        self._rules.add(held.judge)
        loops = held.collect.loops(self._supervisor)
        if loops:
            held.task = asyncio.get_running_loop().create_task(_run_all(loops), name=f"shard-{held.shard}")

    async def _stop(self, held: HeldShard, *, forget: bool = True) -> None:
        if held.task is not None:
            held.task.cancel()
            await asyncio.gather(held.task, return_exceptions=True)
            held.task = None
        if forget:
            held.collect.forget()

    async def _stop_all(self) -> None:
        # The process is ending: the devices' health records stay for the health stage's last
        # save (forgotten here, the database kept them as of up to 30 s before: the soak saw it).
        for held in list(self._held.values()):
            await self._stop(held, forget=False)
        if self._onvif is not None:
            await self._onvif.aclose()

    def shutdown(self) -> None:
        """Blocking, after the rules stage's shutdown has saved every judge's state: the held
        shards' leases released, so the other workers take them over at once."""
        leases = [held.lease for held in self._held.values()] + ([self._member] if self._member else [])
        self._held.clear()
        for lease in leases:
            try:
                release(lease)
            except SQLAlchemyError as exc:
                log.error("shards: could not release %s (it expires by itself): %s", lease.name, exc)


async def _run_all(loops: list[tuple[str, Coroutine[Any, Any, None]]]) -> None:
    async with asyncio.TaskGroup() as group:
        for name, loop in loops:
            group.create_task(loop, name=name)
