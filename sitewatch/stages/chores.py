"""The chores stage: the daily chores (the 08:30 logs, contract and inspection reminders,
store rollups and retention) and paging. None of them reads the bus: they work on the
database and the store, so they run in any process — and only in the one holding the
"chores" lease (sitewatch/leasing.py), so that several chores processes do each once."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from sitewatch.components import Components
from sitewatch.inspections.daily import CHECK_EVERY_S as DAILY_CHECK_EVERY_S
from sitewatch.inspections.daily import DailyChecks
from sitewatch.leasing import LeaseKeeper, holder_id
from sitewatch.paging.service import Paging
from sitewatch.review.service import CHECK_EVERY_S as REVIEW_CHECK_EVERY_S
from sitewatch.review.service import DailyReviews
from sitewatch.storage.maintenance import CHECK_EVERY_S as MAINTENANCE_CHECK_EVERY_S
from sitewatch.storage.maintenance import StoreMaintenance
from sitewatch.storage.timeseries import TimeSeriesError
from sitewatch.supervise import Supervisor
from sitewatch.threads import OwnThread

log = logging.getLogger(__name__)

# Chores are minutes-to-days affairs: a takeover within a minute of a holder's death is soon
# enough, and renewing every 20 s costs the database nothing.
CHORES_LEASE, CHORES_LEASE_TTL_S = "chores", 60.0


class ChoresStage:
    def __init__(self, parts: Components) -> None:
        self.parts = parts
        self._reviews = DailyReviews(config=parts.config, store=parts.store, sessions=parts.sessions,
                                     clock=parts.clock)
        self._daily = DailyChecks(sessions=parts.sessions, config=parts.config)  # plans and contracts
        self._maintenance = StoreMaintenance(parts.store, parts.config.storage.retention)  # rollups, retention
        self.paging = Paging(sessions=parts.sessions, config=parts.config, clock=parts.clock, vault=parts.vault)
        if parts.config.paging is not None:
            parts.service.count_input("paging", self.paging.counters)
        self.lease = LeaseKeeper(parts.sessions, CHORES_LEASE, holder=holder_id(), ttl_s=CHORES_LEASE_TTL_S,
                                 clock=parts.clock)
        self._lease_thread = OwnThread("chores-lease")  # renewed on time, not behind the chores' own work

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        chores = (
            ("daily-review", REVIEW_CHECK_EVERY_S, self._reviews.generate_due),
            ("inspections-daily", DAILY_CHECK_EVERY_S, lambda now: self._daily.run(now=now)),
            ("store-maintenance", MAINTENANCE_CHECK_EVERY_S, self._maintenance.run_once),
        )
        out = [(name, supervisor.every(name, every_s, functools.partial(self._chore, name, job), first_now=True))
               for name, every_s, job in chores]
        keep = supervisor.every(CHORES_LEASE, self.lease.every_s, self._keep_lease, first_now=True)
        return [(CHORES_LEASE, keep), *out, ("paging", self.paging.run(supervisor))]

    async def _keep_lease(self) -> None:
        try:
            await self._lease_thread.run(self.lease.tick)
        except SQLAlchemyError as exc:  # held until its last known expiry, then the chores pause
            log.error("chores lease: database unavailable, will retry: %s", exc)

    async def _chore(self, name: str, job: Callable[[datetime], object]) -> None:
        """A daily chore (contract reminders, overdue inspections, the 08:30 logs): a database
        or store outage skips one round, never the loop. Another process holding the chores
        lease does them instead."""
        try:
            if not self.lease.holding():
                await self._lease_thread.run(self.lease.tick)  # the first round may come before the lease loop's
                if not self.lease.holding():
                    return
            await asyncio.to_thread(job, self.parts.clock.now())
        except (SQLAlchemyError, TimeSeriesError) as exc:
            log.error("%s: skipped this round, will retry: %s", name, exc)
