"""The rules stage judges while tickets are written (sitewatch/stages/rules.py): a slow or
failing ticket writer never stops the judging nor holds back the bus, and no transition is
lost or written twice, through a database outage or a shutdown in the middle of a write."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from sitewatch.bus import SampleBus
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.pipeline import Pipeline
from sitewatch.stages.rules import RULES_STATE_KEY, TICKETS, Judge
from sitewatch.storage.repository import load_rules_state
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.writer import TicketWriter, WriteSummary
from tests.sitewatch.service import wait_until

STATION = "rs-north-01"
OUTLET = f"{STATION}/outlet-high/outlet_kpa"
GAS = f"{STATION}/gas/gas_lel_pct"


class HeldWriter:
    """Stands in for the real writer's ``apply``: while ``holding``, a call with transitions
    waits (in the writer's thread) until the test releases it, then the real writer writes.
    Records every batch and summary, and whether two calls ever ran at once."""

    def __init__(self, writer: TicketWriter) -> None:
        self._apply = writer.apply
        writer.apply = self
        self.holding = False
        self.entered = threading.Event()
        self.released = threading.Event()
        self.batches: list[list[AlertTransition]] = []
        self.summaries: list[WriteSummary] = []
        self.overlapped = False
        self._in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, transitions: Sequence[AlertTransition]) -> WriteSummary:
        with self._lock:
            self._in_flight += 1
            self.overlapped |= self._in_flight > 1
            self.batches.append(list(transitions))
        try:
            if transitions and self.holding:
                self.entered.set()
                self.released.wait()  # untimed: the test always releases it (faketime-safe)
            summary = self._apply(transitions)
            self.summaries.append(summary)
            return summary
        finally:
            with self._lock:
                self._in_flight -= 1

    def release(self) -> None:
        self.holding = False
        self.released.set()

    def total(self, outcome: str) -> int:
        return sum(getattr(s, outcome) for s in self.summaries)


@dataclass
class Running:
    parts: Components
    pipeline: Pipeline
    writer: HeldWriter
    task: asyncio.Task
    t0: datetime = field(default_factory=lambda: datetime.now(UTC))

    async def publish(self, channel: str, value: float, *, after_s: float, unit: str = "kPa") -> None:
        await self.pipeline.bus.publish([Sample(STATION, channel, self.t0 + timedelta(seconds=after_s), value, unit)])

    def unwritten(self) -> float:
        [family] = [m for m in self.parts.service.metrics() if m.name == "sitewatch_transitions_unwritten"]
        return family.samples[0].value

    def firing(self) -> set[str]:
        return {a.fingerprint for a in self.parts.engine.active()}

    def alerts(self) -> dict[str, list[str]]:
        with self.parts.sessions() as session:
            rows = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.fingerprint, []).append(row.state)
        return found

    def tickets(self) -> Counter[str]:
        with self.parts.sessions() as session:
            return Counter(session.scalars(select(TicketRow.fingerprint)).all())

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def components(database_url: str, data_dir: Path) -> Components:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir), "database_url": database_url, "flush_interval_s": 0.05}
    raw["rules_engine"] = {"tick_s": 0.05}
    raw["rules"] = [r | {"for_s": 0.0} for r in raw["rules"] if r["kind"] == "threshold"]
    return build_components(config_from_dict(raw))


@pytest.fixture
async def running(database_url, tmp_path) -> AsyncIterator[Running]:
    parts = components(database_url, tmp_path)
    pipeline = Pipeline(parts, jobs=[])
    run = Running(parts, pipeline, HeldWriter(pipeline.writer), asyncio.create_task(pipeline.run()))
    try:
        await parts.service.wait_for(TICKETS, lambda _: True, timeout_s=10)  # start-up done, loops running
        yield run
    finally:
        run.writer.release()  # whatever the test did, no writer thread is left waiting
        await run.stop()
        parts.close()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_samples_are_judged_and_the_bus_drained_while_tickets_are_written(running):
    running.writer.holding = True
    await running.publish("outlet_kpa", 3.4, after_s=0)  # outlet-high fires
    await wait_until(running.writer.entered.is_set, timeout_s=10, every_s=0.01, what="the writer holding")

    # While the writer holds the FIRING: a second fault and the first one's end are judged.
    await running.publish("gas_lel_pct", 25.0, after_s=1, unit="%LEL")
    await running.publish("outlet_kpa", 2.5, after_s=2)
    await wait_until(lambda: running.firing() == {GAS}, timeout_s=5, every_s=0.01, what="both judged")
    await wait_until(lambda: running.unwritten() == 3, timeout_s=5, every_s=0.01, what="3 transitions queued")
    # And the bus takes more than a full subscription's worth: the rules stage keeps draining
    # its own (publishing would wait for room otherwise, the store's samples with it).
    async with asyncio.timeout(10):
        for i in range(SampleBus().subscribe().max_batches + 1):
            await running.publish("inlet_kpa", 4.0, after_s=3 + i / 1000)
    assert running.writer.batches[1:] == [], "nothing else written while the first batch is held"

    running.writer.release()
    await wait_until(lambda: running.unwritten() == 0, timeout_s=10, every_s=0.01, what="all written")
    assert running.alerts() == {OUTLET: ["resolved"], GAS: ["firing"]}
    assert running.tickets() == {OUTLET: 1, GAS: 1}, "one ticket per fault"
    assert (running.writer.total("alerts_opened"), running.writer.total("alerts_resolved"),
            running.writer.total("ignored")) == (2, 1, 0), "every transition written once"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_transitions_a_database_outage_refused_are_written_in_order_once_it_is_back(
    running, database_url, caplog
):
    name = database_url.rsplit("/", 1)[1]
    admin = psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        running.writer.holding = True
        await running.publish("outlet_kpa", 3.4, after_s=0)
        await wait_until(running.writer.entered.is_set, timeout_s=10, every_s=0.01, what="the writer holding")
        await running.publish("outlet_kpa", 2.5, after_s=1)  # judged while the FIRING is being written
        await wait_until(lambda: running.unwritten() == 2, timeout_s=5, every_s=0.01, what="the RESOLVED queued")
        running.writer.release()  # the real writer now fails on the database
        await wait_until(lambda: len(running.writer.batches) >= 2, timeout_s=10, every_s=0.01, what="a retry")
        assert [(t.fingerprint, t.state) for t in running.writer.batches[1]] == [
            (OUTLET, AlertState.FIRING), (OUTLET, AlertState.RESOLVED)], "the refused batch first, in order"
        assert any("database unavailable" in r.getMessage() for r in caplog.records)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await wait_until(lambda: running.unwritten() == 0, timeout_s=10, every_s=0.01, what="written once back")
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
    assert running.alerts() == {OUTLET: ["resolved"]}
    assert running.tickets() == {OUTLET: 1}
    assert (running.writer.total("alerts_opened"), running.writer.total("alerts_resolved")) == (1, 1)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_shutdown_during_a_write_waits_for_it_and_loses_nothing(running):
    running.writer.holding = True
    await running.publish("outlet_kpa", 3.4, after_s=0)
    await wait_until(running.writer.entered.is_set, timeout_s=10, every_s=0.01, what="the writer holding")
    await running.publish("gas_lel_pct", 25.0, after_s=1, unit="%LEL")
    await wait_until(lambda: running.unwritten() == 2, timeout_s=5, every_s=0.01, what="the gas alert queued")

    rules = running.pipeline.rules
    assert rules is not None
    shutdown, shutting = rules.shutdown, threading.Event()

    def shutdown_noted() -> None:
        shutting.set()
        shutdown()

    rules.shutdown = shutdown_noted
    running.task.cancel()  # the loops end; the held write goes on in its thread
    await wait_until(shutting.is_set, timeout_s=10, every_s=0.01, what="the shutdown")
    # Not synchronisation: time for a shutdown that does not wait to call the writer over the
    # held call (``overlapped``). One that waits passes whatever this lasts.
    await asyncio.sleep(0.2)
    running.writer.release()
    await asyncio.gather(running.task, return_exceptions=True)

    assert not running.writer.overlapped, "shutdown waited for the write in flight"
    assert running.alerts() == {OUTLET: ["firing"], GAS: ["firing"]}
    assert running.tickets() == {OUTLET: 1, GAS: 1}, "nothing lost, no ticket twice"
    assert running.writer.total("alerts_opened") == 2
    with running.parts.sessions() as session:
        saved = json.loads(load_rules_state(session, RULES_STATE_KEY) or b"{}")
    assert {OUTLET, GAS} <= saved.keys(), "the engine's state saved after the last write"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_snapshot_taken_before_a_newer_one_was_saved_is_not_written_over_it(database_url, tmp_path):
    """The tickets loop's snapshot may reach the database after the shard's hand-over saved a
    newer one (sitewatch/stages/shards.py): the newer one stays."""
    parts = components(database_url, tmp_path)
    judge = Judge("engine:test", parts.engine)
    older = judge.snapshot()
    batch = parts.engine.batch([Sample(STATION, "outlet_kpa", datetime.now(UTC), 3.4, "kPa")])
    assert parts.engine.evaluate(batch, now=datetime.now(UTC), at_work=frozenset())
    judge.judged += 1
    judge.save(parts)  # the hand-over's
    judge.write(parts, older)
    with parts.sessions() as session:
        assert OUTLET in json.loads(load_rules_state(session, judge.state_key) or b"{}")
    parts.close()
