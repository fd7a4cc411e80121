"""Composes the stages a process's roles ask for and runs them under one supervisor:
collector -> bus -> (store, rules -> tickets), and the chores beside them. The collector
and the rules work on the shards this process holds (sitewatch/stages/shards.py): with one
shard, the whole fleet, as soon as the process has claimed it. The API is not a
stage here: sitewatch/serve.py runs it next to the pipeline when the roles include it.

Each stage talks to the next through a narrow interface (SampleSink, TimeSeriesStore,
TicketWriter), so a stage can later move to its own process behind a broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from sitewatch.bus import SampleBus
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
from sitewatch.collector.scheduler import PollJob
from sitewatch.components import Components
from sitewatch.leasing import exclusively
from sitewatch.paging.service import Paging
from sitewatch.stages.chores import ChoresStage
from sitewatch.stages.health import HealthStage
from sitewatch.stages.roles import ALL_ROLES, CHORES, COLLECTOR, RULES, check_roles
from sitewatch.stages.rules import RulesStage
from sitewatch.stages.shards import Plan, ShardsStage
from sitewatch.stages.store import StoreStage
from sitewatch.storage.repository import sync_inventory
from sitewatch.store_writer import StoreWriter
from sitewatch.supervise import Supervisor
from sitewatch.tickets.writer import TicketWriter

log = logging.getLogger(__name__)

INVENTORY_LEASE = "inventory-sync"


class Pipeline:
    """Runs the stages of ``roles`` until cancelled; each loop under the supervisor, so nothing
    but cancellation ends the process. With every role: the collector, the store writer, the
    rules worker and the chores, as one process has always run them."""

    def __init__(self, parts: Components, *, jobs: Sequence[PollJob] | None = None,
                 roles: Iterable[str] = ALL_ROLES) -> None:
        self.parts = parts
        self.roles = check_roles(roles)
        self.bus = SampleBus()
        self._supervisor = Supervisor(parts.service, clock=parts.clock)
        # The store writer goes with the collector: whatever publishes samples also stores them.
        # Subscribed before anything can publish, so no batch misses a subscriber.
        self.store = StoreStage(parts, self.bus.subscribe()) if COLLECTOR in self.roles else None
        self.rules = (RulesStage(parts, self.bus.subscribe(), supervisor=self._supervisor)
                      if RULES in self.roles else None)
        self.chores = ChoresStage(parts) if CHORES in self.roles else None
        # The devices' health, saved for the API processes that do not poll (any number of them).
        self.device_health = HealthStage(parts) if COLLECTOR in self.roles else None
        self.shards = (ShardsStage(parts, self.bus, self.rules, jobs=jobs)
                       if self.rules is not None and COLLECTOR in self.roles else None)
        self._plan: Plan | None = None

    # What tests, benches and the demo reach into, as before the split.
    @property
    def store_writer(self) -> StoreWriter:
        assert self.store is not None, "this process does not run the collector"
        return self.store.writer

    @property
    def writer(self) -> TicketWriter:
        assert self.rules is not None, "this process does not run the rules"
        return self.rules.writer

    @property
    def paging(self) -> Paging:
        assert self.chores is not None, "this process does not run the chores"
        return self.chores.paging

    @property
    def alarm_hosts(self) -> AlarmHostConsumer | None:
        """The first held shard's alarm-host consumer (the only one, with one shard)."""
        if self.shards is None:
            return None
        return next((c.alarm_hosts for c in self.shards.collect_stages() if c.alarm_hosts is not None), None)

    async def run(self) -> None:
        await asyncio.to_thread(self._startup)
        # Started in the order one process always started them: store, rules, chores, collector.
        loops = [loop for stage in (self.store, self.rules, self.chores, self.device_health) if stage is not None
                 for loop in stage.loops(self._supervisor)]
        if self.shards is not None:
            loops += self.shards.loops(self._supervisor, self._plan)
        try:
            async with asyncio.TaskGroup() as group:
                for name, loop in loops:
                    group.create_task(loop, name=name)
        finally:
            # Whatever is still queued was accepted: write it and keep the rules' state.
            await asyncio.shield(asyncio.to_thread(self._shutdown))

    def _startup(self) -> None:
        parts = self.parts
        # The processes that act on the inventory make the database match the configuration
        # first; an API-only process reads what they wrote.
        if self.rules is not None or self.chores is not None:
            # Several processes starting at once take turns (the second finds nothing to change).
            changed = exclusively(parts.sessions, INVENTORY_LEASE, self._sync_inventory, clock=parts.clock)
            if changed:
                log.info("inventory: %d change(s) from the configuration", changed)
        if self.shards is not None:
            self._plan = self.shards.startup()

    def _sync_inventory(self) -> int:
        with self.parts.sessions() as session:
            changed = sync_inventory(session, self.parts.config, actor="config", now=self.parts.clock.now())
            session.commit()
        return changed

    def _shutdown(self) -> None:
        # The store first: the samples are written whatever the rules make of them.
        if self.store is not None:
            self.store.shutdown()
        if self.rules is not None:
            self.rules.shutdown()
        if self.device_health is not None:  # before the leases go: the next holder's rows are its own
            self.device_health.shutdown()
        if self.shards is not None:
            self.shards.shutdown()
