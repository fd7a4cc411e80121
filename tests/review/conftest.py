"""A simulated day in a DuckDB store, built once per module (it takes a few seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sitewatch.storage.duckdb_store import DuckDBStore
from tests.review.simulated_day import SimulatedDay, build


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBStore, SimulatedDay]]:
    folder = tmp_path_factory.mktemp("simulated-day")
    store = DuckDBStore(folder / "samples.duckdb")
    try:
        yield store, build(store, str(folder))
    finally:
        store.close()
