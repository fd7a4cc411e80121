"""DuckDB takes what the bus drains (a SampleList of blocks) column-wise; ``latest`` keeps
each series' newest value whatever the order and shape of the polls."""

from __future__ import annotations

from datetime import datetime, timedelta

from sitewatch.domain.samples import Quality, Sample, SampleBlock, SampleList
from sitewatch.domain.time import UTC
from sitewatch.storage.duckdb_store import DuckDBStore

T0 = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
NAMES, UNITS = ("inlet_mpa", "outlet_kpa"), ("MPa", "kPa")
GOOD = (Quality.GOOD, Quality.GOOD)


def poll(asset_id: str, second: int, outlet: float) -> SampleBlock:
    return SampleBlock(asset_id, T0 + timedelta(seconds=second), NAMES, [0.4, outlet], UNITS, GOOD)


def latest(store: DuckDBStore) -> dict[tuple[str, str], tuple[datetime, float]]:
    return {(s.asset_id, s.channel): (s.ts, s.value) for s in store.latest()}


def test_the_newest_of_several_polls_per_station_is_the_latest_whatever_their_order(tmp_path):
    store = DuckDBStore(tmp_path / "ts.duckdb")
    try:
        # Each station polled several times in one flush, out of order for rs-2.
        assert store.write(SampleList([poll("rs-1", 1, 2.1), poll("rs-2", 3, 2.3), poll("rs-1", 2, 2.2),
                                       poll("rs-2", 2, 2.0)])) == 8
        assert latest(store)[("rs-1", "outlet_kpa")] == (T0 + timedelta(seconds=2), 2.2)
        assert latest(store)[("rs-2", "outlet_kpa")] == (T0 + timedelta(seconds=3), 2.3)
        # A late flush of older polls stores its rows but does not hide the live value.
        store.write(SampleList([poll("rs-1", 0, 9.9)]))
        assert latest(store)[("rs-1", "outlet_kpa")] == (T0 + timedelta(seconds=2), 2.2)
        assert len(store.query(asset_id="rs-1", start=T0, end=T0 + timedelta(minutes=1))) == 6
    finally:
        store.close()


def test_channel_sets_and_loose_samples_of_one_series_in_one_flush(tmp_path):
    store = DuckDBStore(tmp_path / "ts.duckdb")
    try:
        # rs-1's outlet comes in a full poll, in a poll of the outlet alone (newer), and as a
        # loose sample (newest of all): the newest wins wherever it came from.
        store.write(SampleList([
            poll("rs-1", 1, 2.1),
            SampleBlock("rs-1", T0 + timedelta(seconds=2), ("outlet_kpa",), [2.2], ("kPa",), (Quality.GOOD,)),
            Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=3), 2.3, "kPa"),
            poll("rs-1", 0, 1.0),
        ]))
        assert latest(store)[("rs-1", "outlet_kpa")] == (T0 + timedelta(seconds=3), 2.3)
        assert latest(store)[("rs-1", "inlet_mpa")] == (T0 + timedelta(seconds=1), 0.4)
        store.write(SampleList([
            SampleBlock("rs-1", T0 + timedelta(seconds=5), ("outlet_kpa",), [2.5], ("kPa",), (Quality.GOOD,)),
            poll("rs-1", 4, 2.4),
        ]))
        assert latest(store)[("rs-1", "outlet_kpa")] == (T0 + timedelta(seconds=5), 2.5)
        assert latest(store)[("rs-1", "inlet_mpa")] == (T0 + timedelta(seconds=4), 0.4)
    finally:
        store.close()
