"""The rules stage: what the bus carries, judged by the rules engine every tick; the alert
transitions written as tickets; time's effect on alerts and tickets (holds, escalations,
arrive-by deadlines); the engine's state snapshotted so a restart resumes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from domain.alerts import AlertTransition
from domain.samples import Sample
from sitewatch.bus import Batch, drain
from sitewatch.components import Components
from sitewatch.supervise import Supervisor
from storage.repository import load_rules_state, save_rules_state
from tickets.deadlines import Deadlines
from tickets.holds import Holds
from tickets.writer import TicketWriter

log = logging.getLogger(__name__)

RULES_STATE_KEY = "engine"
SNAPSHOT_EVERY_TICKS = 10
SLA_CHECK_EVERY_TICKS = 10  # arrive-by deadlines are hours long: every ~10 s is plenty
RULES = "rules"  # the loop's name, as /healthz shows it


class RulesStage:
    def __init__(self, parts: Components, queue: asyncio.Queue[Batch], *, supervisor: Supervisor) -> None:
        self.parts = parts
        self._queue = queue  # this stage's subscription to the bus
        self._supervisor = supervisor
        self.writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        self._deadlines = Deadlines(sessions=parts.sessions, config=parts.config)
        # Transitions the database has not taken yet (it was down, or the writer failed);
        # re-applied every tick. The writer is idempotent: applying one twice is harmless.
        self._unapplied: list[AlertTransition] = []
        self._ticks = 0
        # Assets under a maintenance window or an inspection, read once per tick: the engine
        # restarts what it learnt of their normal behaviour (night creep's low-flow baseline).
        self._holds = Holds(parts.config)
        self._at_work: frozenset[str] = frozenset()
        parts.service.count_set_aside("transitions", lambda: len(self.writer.set_aside))

    def startup(self) -> None:
        parts = self.parts
        with parts.sessions() as session:
            payload = load_rules_state(session, RULES_STATE_KEY)
        if payload is not None:
            restored = parts.engine.restore(payload)
            log.info("rules: restored the state of %d alert(s)", restored)

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        return [(RULES, supervisor.every(RULES, self.parts.config.rules_engine.tick_s, self._tick))]

    def shutdown(self) -> None:
        """Whatever is still queued was accepted: judge it, write it and keep the engine's state."""
        try:
            self._judge(drain(self._queue).samples)
            self.writer.apply(self._unapplied)
            self._save_snapshot()
        except SQLAlchemyError as exc:
            log.error("rules: database unavailable at shutdown, %d transition(s) not written: %s",
                      len(self._unapplied), exc)
        except Exception:  # the last guard: the process is ending, say what is lost and end
            log.exception("rules: unexpected error at shutdown, %d transition(s) not written", len(self._unapplied))

    def _save_snapshot(self) -> None:
        with self.parts.sessions() as session:
            save_rules_state(session, RULES_STATE_KEY, self.parts.engine.snapshot(), self.parts.clock.now())
            session.commit()

    def _judge(self, samples: list[Sample]) -> None:
        """The one call of the rules engine: what came in, judged now."""
        engine = self.parts.engine
        self._unapplied += engine.evaluate(engine.batch(samples), now=self.parts.clock.now(), at_work=self._at_work)

    async def _tick(self) -> None:
        """Judge what came in, write what changed, let time act on alerts and tickets. Each
        step is guarded on its own, so a bug in one never holds up the others; transitions
        stay in _unapplied until the writer has taken them."""
        self._ticks += 1
        with self._supervisor.guard(RULES):
            # A batch the engine fails on is not judged again: the engine is pure, it would
            # fail again. The samples are stored all the same, and a lasting fault shows in
            # the next ones.
            self._judge(drain(self._queue).samples)
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
