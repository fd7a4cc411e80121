"""The pipeline keeps every accepted sample even while the store is failing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from config.load import config_from_dict
from domain.samples import Sample
from domain.time import UTC
from sitewatch.demo import example_config
from sitewatch.runtime import Pipeline, build_components
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
