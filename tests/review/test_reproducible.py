"""A signed log must be reproducible to the bit: the store's mean may not depend on which
thread summed which rows (plain avg(DOUBLE) in DuckDB gave a different last bit per run)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.duckdb_store import DuckDBStore

T0 = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


def test_the_daily_aggregate_is_bit_identical_from_call_to_call(tmp_path):
    store = DuckDBStore(tmp_path / "samples.duckdb")
    try:
        rng = np.random.default_rng(5)
        per_series, series = 60_000, 20  # 1.2 M rows: several row groups, so several threads
        values = rng.normal(2.5, 0.3, per_series * series).tolist()
        stamps = [T0 + timedelta(seconds=k) for k in range(per_series)]
        store.write([Sample(f"rs-{i % series:02d}", "outlet_kpa", stamps[i // series], v, "kPa")
                     for i, v in enumerate(values)])
        runs = {tuple(s.mean for s in store.aggregate(start=T0, end=T0 + timedelta(days=1))) for _ in range(6)}
        assert len(runs) == 1, f"6 aggregates of the same rows gave {len(runs)} different sets of means"
        means = next(iter(runs))
        exact = [np.mean(values[i::series]) for i in range(series)]
        assert max(abs(a - b) for a, b in zip(means, exact, strict=True)) < 1e-12
    finally:
        store.close()
