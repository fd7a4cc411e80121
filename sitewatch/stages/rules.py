"""The rules stage: what the bus carries, judged by the rules engine every tick; the alert
transitions written as tickets; time's effect on alerts and tickets (holds, escalations,
arrive-by deadlines); the engine's state snapshotted so a restart resumes it.

Two loops. ``rules`` only judges: pure, in memory, on the event loop; it drains the stage's
bus subscription every tick and queues the transitions. ``tickets`` does what waits for the
database: housekeeping, then the queued transitions written and the engines' state saved,
each in a thread, one after the other (never concurrently against the database). They were
one loop until a storm of 1,721 transitions took ~98 s to write on PostgreSQL (57 ms a
ticket, bench/bench_fleet.py at 16,000 devices): the subscription went undrained meanwhile,
the bus held back every publisher, the store's included, and 5,000 healthy stations got
false no-data tickets. Judging never waits for the database now.

A worker judges only the shards it holds (sitewatch/stages/shards.py): one ``Judge`` per
held shard, each with its own engine over the shard's assets and its state under the shard's
key, added when the shard is claimed (its state restored) and taken away when it is given up
(its state saved first). Samples of assets in no held shard (a poll finished just after its
shard moved) are stored but not judged here: the new holder judges what it polls. Time's
effects on tickets are fleet-wide and idempotent: every worker applies them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from sitewatch.bus import Subscription, drain
from sitewatch.components import Components
from sitewatch.domain.alerts import AlertTransition
from sitewatch.domain.samples import Sample, SampleBlock, SampleList, items_of
from sitewatch.rules.engine import RulesEngine
from sitewatch.storage.repository import load_rules_state, save_rules_state
from sitewatch.supervise import Supervisor
from sitewatch.threads import OwnThread
from sitewatch.tickets.deadlines import Deadlines
from sitewatch.tickets.holds import Holds
from sitewatch.tickets.writer import TicketWriter

log = logging.getLogger(__name__)

RULES_STATE_KEY = "engine"  # the whole fleet's (one shard); a shard's is "engine:<lease name>"
SNAPSHOT_EVERY_TICKS = 10
SLA_CHECK_EVERY_TICKS = 10  # arrive-by deadlines are hours long: every ~10 s is plenty
RULES = "rules"  # the judging loop's name, as /healthz shows it
TICKETS = "tickets"  # the loop writing tickets and keeping time's effects

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A judge's engine state, taken on the event loop after ``judged`` evaluations."""

    judged: int
    payload: bytes


@dataclass
class Judge:
    """The rules engine of one held shard. ``assets`` None: every asset (the one-shard fleet)."""

    state_key: str
    engine: RulesEngine
    assets: frozenset[str] | None = None
    newest_s: float | None = None  # epoch seconds of the newest sample judged: how far behind it runs
    judged: int = 0  # evaluations so far: which of two snapshots is the newer
    _saved: int = field(default=-1, repr=False)
    _saving: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def restore(self, parts: Components) -> None:
        """The shard's state as its last holder saved it (blocking)."""
        with parts.sessions() as session:
            payload = load_rules_state(session, self.state_key)
        if payload is not None:
            restored = self.engine.restore(payload)
            log.info("rules: %s: restored the state of %d alert(s)", self.state_key, restored)

    def snapshot(self) -> Snapshot:
        """On the event loop, or with the engine at rest: never read while the loop may evaluate."""
        return Snapshot(self.judged, self.engine.snapshot())

    def write(self, parts: Components, snapshot: Snapshot) -> None:
        """Blocking. A snapshot older than one already saved is dropped: the rules stage's
        write, taken before the shard was handed over, must not land after the hand-over's."""
        with self._saving:
            if snapshot.judged < self._saved:
                return
            with parts.sessions() as session:
                save_rules_state(session, self.state_key, snapshot.payload, parts.clock.now())
                session.commit()
            self._saved = snapshot.judged

    def save(self, parts: Components) -> None:
        """Blocking, with the engine at rest (its shard taken away, or the loops ended)."""
        self.write(parts, self.snapshot())


class RulesStage:
    def __init__(self, parts: Components, queue: Subscription, *, supervisor: Supervisor) -> None:
        self.parts = parts
        self._queue = queue  # this stage's subscription to the bus
        self._supervisor = supervisor
        self.writer = TicketWriter(sessions=parts.sessions, config=parts.config)
        self._thread = OwnThread("tickets")  # writes on time, whatever else the process hands its pool
        self._deadlines = Deadlines(sessions=parts.sessions, config=parts.config)
        # Transitions judged and not written yet, in order (a FIRING before its RESOLVED): new
        # ones, and those the database did not take (it was down, or the writer failed), tried
        # again every tick. The writer is idempotent: applying one twice is harmless.
        self._unapplied: list[AlertTransition] = []
        self._writing: list[AlertTransition] = []  # the batch the writer has in a thread now
        # Held by each of this stage's writes from a thread (housekeeping, tickets, state),
        # so shutdown waits for a write the cancelled loop left running before it writes.
        self._database = threading.Lock()
        self._ticks = 0  # of the tickets loop
        # Assets under a maintenance window or an inspection, read once per tick: the engine
        # restarts what it learnt of their normal behaviour (night creep's low-flow baseline).
        self._holds = Holds(parts.config)
        self._at_work: frozenset[str] = frozenset()
        self._judges: dict[str, Judge] = {}  # by state key: the held shards'
        self._judge_of: dict[str, Judge] = {}  # by asset id, when no judge takes every asset
        parts.service.count_set_aside("transitions", lambda: len(self.writer.set_aside))
        self._judged = [0, 0.0]  # ticks judged, seconds spent
        self._tickets_opened = 0
        parts.service.report_metrics(RULES, self._metrics)

    def add(self, judge: Judge) -> None:
        """A shard claimed: its samples are judged from the next tick on (its state restored first)."""
        self._judges[judge.state_key] = judge
        self._index()

    def take(self, state_key: str) -> Judge | None:
        """A shard given up or lost: nothing more of it is judged here. The caller saves its
        state (if it still held the shard) or drops it (if another holds it now)."""
        judge = self._judges.pop(state_key, None)
        self._index()
        return judge

    def judges(self) -> list[Judge]:
        return list(self._judges.values())

    def _index(self) -> None:
        self._judge_of = {a: j for j in self._judges.values() if j.assets is not None for a in j.assets}

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        tick_s = self.parts.config.rules_engine.tick_s
        return [(RULES, supervisor.every(RULES, tick_s, self._tick)),
                (TICKETS, supervisor.every(TICKETS, tick_s, self._write_tick))]

    def shutdown(self) -> None:
        """Blocking, after the loops ended. Whatever is still queued was accepted: judge it,
        write it and keep the engine's state. A write the cancelled tickets loop left running
        in its thread ends first; its batch is back in _unapplied and applied again (harmless)."""
        try:
            self._judge(drain(self._queue).samples)
            with self._database:
                self.writer.apply(self._unapplied)
                self._unapplied = []
                for judge in self.judges():
                    judge.save(self.parts)
        except SQLAlchemyError as exc:
            log.error("rules: database unavailable at shutdown, %d transition(s) not written: %s",
                      len(self._unapplied), exc)
        except Exception:  # the last guard: the process is ending, say what is lost and end
            log.exception("rules: unexpected error at shutdown, %d transition(s) not written", len(self._unapplied))
        finally:
            self._thread.close()

    def _judge(self, samples: Sequence[Sample]) -> None:
        """The one call of the rules engine per held shard: what came in, judged now."""
        started = time.perf_counter()
        now = self.parts.clock.now()
        for judge, mine in self._split(samples):
            engine = judge.engine
            batch = engine.batch(mine)
            if len(batch):
                judge.newest_s = max(judge.newest_s or 0.0, float(batch.ts.max()))
            self._unapplied += engine.evaluate(batch, now=now, at_work=self._at_work)
            judge.judged += 1
        self._judged[0] += 1
        self._judged[1] += time.perf_counter() - started

    def _metrics(self) -> Iterator[Metric]:
        judging = SummaryMetricFamily("sitewatch_rules_tick_seconds", "Time the rules engines took to judge one "
                                      "tick's samples (all held shards)", count_value=self._judged[0],
                                      sum_value=self._judged[1])
        opened = CounterMetricFamily("sitewatch_tickets_opened", "Tickets this process opened")
        opened.add_metric([], self._tickets_opened)
        lag = GaugeMetricFamily("sitewatch_shard_lag_seconds", "Age of the newest sample judged, by held shard's "
                                "rules state (grows when a shard's data stops coming)", labels=["shard"])
        now_s = self.parts.clock.now().timestamp()
        for judge in self.judges():
            if judge.newest_s is not None:
                lag.add_metric([judge.state_key], max(0.0, now_s - judge.newest_s))
        unwritten = GaugeMetricFamily("sitewatch_transitions_unwritten", "Alert transitions judged and not "
                                      "written as tickets yet (being written, or waiting)",
                                      value=len(self._writing) + len(self._unapplied))
        return iter((judging, opened, lag, unwritten))

    def _split(self, samples: Sequence[Sample]) -> list[tuple[Judge, Sequence[Sample]]]:
        judges = list(self._judges.values())
        if len(judges) == 1 and judges[0].assets is None:
            return [(judges[0], samples)]  # the one-shard fleet: no routing
        by_judge: dict[str, list[Sample | SampleBlock]] = {key: [] for key in self._judges}
        judge_of = self._judge_of
        for item in items_of(samples):  # a poll's block goes whole: blocks and Samples both name their asset
            judge = judge_of.get(item.asset_id)
            if judge is not None:
                by_judge[judge.state_key].append(item)
        return [(self._judges[key], SampleList(mine)) for key, mine in by_judge.items()]

    async def _tick(self) -> None:
        """Judge what came in; the transitions wait in _unapplied for the tickets loop. Nothing
        here waits for the database: the bus subscription is drained every tick whatever the
        database does. A batch the engine fails on is not judged again (the supervisor logs
        it): the engine is pure, it would fail again. The samples are stored all the same,
        and a lasting fault shows in the next ones."""
        self._judge(drain(self._queue).samples)

    async def _write_tick(self) -> None:
        """Let time act on alerts and tickets, then write what changed. Each step is guarded
        on its own, so a bug in one never holds up the other."""
        self._ticks += 1
        with self._supervisor.guard(TICKETS), self._database_outage():
            await self._thread.run(self._exclusively, self._housekeeping, self._ticks)
        with self._supervisor.guard(TICKETS), self._database_outage():
            await self._write()

    async def _write(self) -> None:
        pending, self._unapplied = self._unapplied, []
        if not pending and self._ticks % SNAPSHOT_EVERY_TICKS:
            return
        # Taken now, on the event loop (the engines are never read from a thread while the
        # rules loop may evaluate): the state that exactly the transitions in ``pending`` led to.
        snapshots = [(judge, judge.snapshot()) for judge in self.judges()]
        if pending:
            self._writing = pending
            try:
                summary = await self._thread.run(self._exclusively, self.writer.apply, pending)
            except BaseException:
                # In front of what was judged meanwhile: a FIRING stays before its RESOLVED.
                # Cancelled (shutdown), the thread may still write them: shutdown waits for it
                # and applies them again, which the writer ignores.
                self._unapplied[:0] = pending
                raise
            finally:
                self._writing = []
            self._tickets_opened += summary.tickets_opened
            log.info("rules: %s", summary)
        await self._thread.run(self._exclusively, self._save, snapshots)

    def _save(self, snapshots: list[tuple[Judge, Snapshot]]) -> None:
        for judge, snapshot in snapshots:
            if self._judges.get(judge.state_key) is judge:  # a shard given up meanwhile is its next holder's
                judge.write(self.parts, snapshot)

    def _exclusively(self, write: Callable[..., _T], *args: Any) -> _T:
        with self._database:
            return write(*args)

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
