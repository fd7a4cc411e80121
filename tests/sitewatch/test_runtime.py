"""The pipeline keeps every accepted sample and every transition, whatever fails under it:
a store or database outage, or an error no code path expected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from sitewatch.collector.results import PollResult
from sitewatch.collector.scheduler import PollJob
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.pipeline import Pipeline
from sitewatch.simulators.regulator.fleet import RegulatorFleet
from sitewatch.stages.rules import TICKETS
from sitewatch.stages.store import STORE
from sitewatch.storage import device_health
from sitewatch.storage.tables import TicketRow
from sitewatch.storage.timeseries import TimeSeriesError
from tests.sitewatch.service import Service, fleet_raw_config, running_fleet, wait_until

T0 = datetime(2026, 11, 27, tzinfo=UTC)


class FlakyStore:
    """Fails the first ``failures`` writes, as a full disk would, then passes them through."""

    def __init__(self, store, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.calls = 0

    def write(self, samples):
        self.calls += 1
        if self.calls <= self.failures:
            raise TimeSeriesError("disk full (injected)")
        return self._store.write(samples)

    def __getattr__(self, name):
        return getattr(self._store, name)


async def test_samples_survive_store_failures_and_shutdown(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "flush_interval_s": 0.05}
    parts = build_components(config_from_dict(raw))
    real = parts.store
    parts.store = FlakyStore(real, failures=3)
    pipeline = Pipeline(parts, jobs=[])
    task = asyncio.create_task(pipeline.run())
    try:
        batch = [Sample("rs-north-01", "outlet_kpa", T0 + timedelta(seconds=i), 2.5, "kPa") for i in range(100)]
        await pipeline.bus.publish(batch[:50])
        while parts.store.calls <= 3:  # wait for the failing writes and the first good one
            await asyncio.sleep(0.01)
        await pipeline.bus.publish(batch[50:])  # accepted just before shutdown
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    stored = real.query(asset_id="rs-north-01", start=T0, end=T0 + timedelta(hours=1))
    assert len(stored) == 100, "every accepted sample is stored, failures and shutdown notwithstanding"
    assert pipeline.store_writer.samples_written == 100
    parts.close()


async def test_the_devices_health_as_of_shutdown_is_saved(tmp_path):
    # Found by the soak: the shards were stopped (their devices' records forgotten) before the
    # health stage's last save, so the database kept the records of up to 30 s before.
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "flush_interval_s": 0.05}
    parts = build_components(config_from_dict(raw))
    polled = [0]

    async def poll(ts: datetime) -> PollResult:
        polled[0] += 1
        return PollResult(samples=(Sample("rs-north-01", "outlet_kpa", ts, 2.5, "kPa"),))

    async def close() -> None:
        return None

    job = PollJob("rs-north-01", 0.05, 1.0, poll=poll, channels={"outlet_kpa": "kPa"}, close=close)
    task = asyncio.create_task(Pipeline(parts, jobs=[job]).run())
    try:
        await parts.health.wait_for("rs-north-01", lambda h: h.polls_ok >= 5, timeout_s=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with parts.sessions() as session:
        [record] = [r for r in device_health.load(session) if r.device_id == "rs-north-01"]
    parts.close()
    assert record.polls_ok == polled[0] >= 5, "the saved record is not the one at shutdown"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_fault_seen_while_the_database_is_down_still_opens_its_ticket(database_url, tmp_path, caplog):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url, "flush_interval_s": 0.05}
    raw["rules_engine"] = {"tick_s": 0.05}
    raw["rules"] = [r | {"for_s": 0.0} for r in raw["rules"] if r["kind"] == "threshold"]
    parts = build_components(config_from_dict(raw))
    name = database_url.rsplit("/", 1)[1]
    pipeline = Pipeline(parts, jobs=[])
    task = asyncio.create_task(pipeline.run())
    admin = psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    try:
        # Start-up (inventory sync, shards) done while the database is up: the loops run.
        await parts.service.wait_for("rules", lambda loop: True, timeout_s=30)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        await pipeline.bus.publish([Sample("rs-north-01", "outlet_kpa", datetime.now(UTC), 3.4, "kPa")])
        async with asyncio.timeout(10):  # the rules worker must notice, and keep running
            while not any("database unavailable" in r.getMessage() for r in caplog.records):
                assert not task.done(), "the pipeline died with the database"
                await asyncio.sleep(0.05)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        async with asyncio.timeout(10):  # ... and write the ticket once the database is back
            while True:
                with parts.sessions() as session:
                    if session.scalars(select(TicketRow)).all():
                        break
                await asyncio.sleep(0.05)
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with parts.sessions() as session:
        [ticket] = session.scalars(select(TicketRow)).all()
        assert ticket.fingerprint == "rs-north-01/outlet-high/outlet_kpa"
    parts.close()


@pytest.fixture
async def stations() -> AsyncIterator[RegulatorFleet]:
    async with running_fleet(2, seed=11) as fleet:
        yield fleet


def station_config(fleet: RegulatorFleet, data_dir: Path, database_url: str) -> dict:
    raw = fleet_raw_config(fleet, data_dir, poll_interval_s=0.5)
    raw["rules"] = [r | {"for_s": 1.0} for r in raw["rules"] if r["kind"] == "threshold"]
    raw["storage"]["database_url"] = database_url
    raw["collector"] = {"jitter_fraction": 0.0}
    return raw


def logged_with_traceback(caplog: pytest.LogCaptureFixture, loop: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info and r.getMessage().startswith(loop)]


async def test_an_unexpected_store_error_is_logged_and_the_batch_written_at_the_next_flush(
    stations, tmp_path, database_url, caplog
):
    service = Service(station_config(stations, tmp_path, database_url))
    store = service.parts.store
    write = store.write
    refused: list[Sample] = []

    def write_failing_once(samples):  # a bug in the store, once
        if not refused:
            refused.extend(samples)
            raise RuntimeError("injected: a bug in the store")
        return write(samples)

    store.write = write_failing_once
    async with service, service.client() as api:
        await service.parts.service.wait_for(STORE, lambda h: h.errors == 1, timeout_s=10)
        health = (await api.get("/healthz")).json()
        assert health["status"] == "degraded"
        loop = health["loops"][STORE]
        assert (loop["state"], loop["errors"], loop["restarts"]) == ("running", 1, 0)
        assert loop["last_error"] == "RuntimeError: injected: a bug in the store" and loop["last_error_at"]
        assert health["set_aside"] == {"samples": 0, "transitions": 0}
        assert logged_with_traceback(caplog, STORE), "logged with its traceback"

        def stored(sample: Sample) -> bool:
            rows = store.query(asset_id=sample.asset_id, channel=sample.channel, start=sample.ts,
                               end=sample.ts + timedelta(microseconds=1))
            return [(r.ts, r.value) for r in rows] == [(sample.ts, sample.value)]

        later = refused[-1].ts + timedelta(seconds=1)

        async def landed() -> bool:
            newer = store.query(asset_id=refused[0].asset_id, start=later, end=later + timedelta(hours=1))
            return bool(newer) and all(map(stored, refused))

        await wait_until(landed, timeout_s=10)  # the refused batch retried, and later samples too
        assert service.pipeline.store_writer.samples_set_aside == 0


async def test_an_unexpected_ticket_writer_error_is_logged_and_the_ticket_still_opens(
    stations, tmp_path, database_url, caplog
):
    async with Service(station_config(stations, tmp_path, database_url)) as service, \
            service.client() as api:
        writer = service.pipeline.writer
        apply = writer.apply
        failed = []

        def apply_failing_once(transitions):  # a bug in the writer, on the batch with the fault
            if not failed and any(t.state is AlertState.FIRING for t in transitions):
                failed.append(transitions)
                raise RuntimeError("injected: a bug in the ticket writer")
            return apply(transitions)

        writer.apply = apply_failing_once
        station = stations.stations[1].station_id
        await stations.inject(station, "regulator_failure")
        await service.parts.service.wait_for(TICKETS, lambda h: h.errors == 1, timeout_s=10)
        assert logged_with_traceback(caplog, TICKETS), "logged with its traceback"

        async def tickets() -> list:
            return (await api.get("/api/tickets")).json()

        [ticket] = await wait_until(tickets, timeout_s=10)
        assert (ticket["asset_id"], ticket["rule_id"]) == (station, "outlet-high")
        health = (await api.get("/healthz")).json()
        assert health["status"] == "degraded" and health["loops"][TICKETS]["errors"] == 1


async def test_healthz_reads_the_alarm_host_counters_through_the_components(tmp_path):
    raw = example_config()  # with an alarm host on the broker
    raw["storage"] = {"data_dir": str(tmp_path)}
    parts = build_components(config_from_dict(raw))
    pipeline = Pipeline(parts, jobs=[])
    task = asyncio.create_task(pipeline.run())
    try:
        # The consumer comes with the shard (the whole fleet here), claimed at start-up.
        consumer = await wait_until(lambda: pipeline.alarm_hosts, timeout_s=10)
        await asyncio.wait_for(consumer.wait_subscribed(), 10)
        counters = parts.service.inputs()["alarm_hosts"]
        assert {"accepted", "malformed", "bad_timestamp", "unknown_host", "internal_error", "duplicates"} <= set(counters)
        assert parts.service.set_aside() == {"samples": 0, "transitions": 0}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    parts.close()
