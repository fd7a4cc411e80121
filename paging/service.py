"""Paging as a stage of the process: the planner and the sender, each in its own loop.

The outbox is read even where ``[paging]`` is not configured, so it never grows without
bound; nothing is sent then. Both loops work from the database only, so either can later
run in a process of its own (or several senders, kept apart by their leases).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config
from sitewatch.domain.time import Clock
from sitewatch.paging.channels import Channel
from sitewatch.paging.channels.build import build_channels, http_client
from sitewatch.paging.planner import PlanCounts, Planner, prune_outbox, settle_past
from sitewatch.paging.sender import Sender
from sitewatch.supervise import ServiceHealth, Supervisor
from sitewatch.vault.cache import CachedCredential
from sitewatch.vault.store import Vault

log = logging.getLogger(__name__)

PLAN_EVERY_S = 1.0
SEND_EVERY_S = 0.5  # with nothing in flight, how often the sender looks for what fell due
IDLE_PLAN_EVERY_S = 10.0  # no [paging]: only keep the outbox empty


def credential_names(config: Config) -> set[str]:
    """The vault entries the channels use (so start-up knows whether it needs the vault key)."""
    if config.paging is None:
        return set()
    return {c.credential for c in config.paging.channels.values() if c.credential}


class Paging:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config, clock: Clock, vault: Vault | None) -> None:
        self._sessions = sessions
        self._config = config
        self._clock = clock
        self._vault = vault
        self.planner = Planner(sessions=sessions, config=config) if config.paging is not None else None
        self.sender: Sender | None = None

    def _secret(self, name: str) -> CachedCredential:
        if self._vault is None:
            raise RuntimeError(f"paging credential {name!r} needs the vault key (SITEWATCH_VAULT_KEY or [vault] key_file)")
        return CachedCredential(self._vault, name, purpose="paging", actor="paging", clock=self._clock)

    def counters(self) -> dict[str, int]:
        """For /healthz: what this process planned and sent since it started."""
        sender, planned = self.sender, self.planner.counts if self.planner else PlanCounts()
        return {"planned": planned.messages, "summaries": planned.summaries,
                "delivered": sender.delivered if sender else 0,
                "failed_attempts": sender.failed_attempts if sender else 0, "dead": sender.dead if sender else 0}

    def plan(self) -> None:
        now = self._clock.now()
        try:
            if self.planner is None:  # nobody to tell: keep the outbox from growing
                settle_past(self._sessions, now=now)
                prune_outbox(self._sessions, now=now)
                return
            counts = self.planner.run(now=now)
        except SQLAlchemyError as exc:
            log.error("paging: database unavailable, planning again next round: %s", exc)
            return
        if counts.messages or counts.pages:
            log.info("paging: %s", counts)

    async def run(self, supervisor: Supervisor) -> None:
        """Both loops under the process's supervisor."""
        settings = self._config.paging
        if settings is None:
            await supervisor.every("paging-plan", IDLE_PLAN_EVERY_S, self._plan_async, first_now=True)
            return
        http = http_client()
        channels = build_channels(settings, secrets=self._secret, http=http, clock=self._clock)
        self.sender = Sender(sessions=self._sessions, settings=settings, channels=channels, clock=self._clock)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(supervisor.every("paging-plan", PLAN_EVERY_S, self._plan_async, first_now=True))
                group.create_task(supervisor.keep_running("paging-send",
                                                          functools.partial(self.sender.run, idle_s=SEND_EVERY_S)))
        finally:
            await asyncio.shield(self._shutdown(channels, http.aclose))

    async def _plan_async(self) -> None:
        await asyncio.to_thread(self.plan)

    async def _shutdown(self, channels: dict[str, Channel], close_http: Callable[[], Awaitable[None]]) -> None:
        if self.sender is not None:
            await self.sender.aclose()
        for channel in channels.values():
            await channel.aclose()
        await close_http()


async def run_alone(config: Config, *, sessions: sessionmaker[Session], vault: Vault | None, clock: Clock,
                    stop: asyncio.Event) -> None:
    """``sitewatch paging``: this stage in a process of its own, on the deployment's database,
    until ``stop`` is set. Beside a ``sitewatch run`` that pages too, the senders' leases
    keep them from sending a message twice."""
    paging = Paging(sessions=sessions, config=config, clock=clock, vault=vault)
    task = asyncio.create_task(paging.run(Supervisor(ServiceHealth(), clock=clock)), name="paging")
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()
    await asyncio.gather(task, stopped, return_exceptions=True)
