"""The pipeline keeps every accepted sample even while the store is failing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select

from config.load import config_from_dict
from domain.samples import Sample
from domain.time import UTC
from sitewatch.demo import example_config
from sitewatch.runtime import Pipeline, build_components
from storage.tables import TicketRow
from storage.timeseries import TimeSeriesError

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
    assert pipeline.samples_written == 100
    parts.close()


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
        await asyncio.sleep(0.2)  # let start-up (inventory sync) finish while the database is up
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
