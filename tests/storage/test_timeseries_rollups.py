"""The rollup and retention part of the TimeSeriesStore contract: roll_up, expire, and
buckets read from a rollup. Runs on every backend of the contract (its fixtures)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pytest

from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.timeseries import Bucket, TimeSeriesStore
from tests.storage import test_timeseries_contract as contract
from tests.storage.backends import Backend

# The contract's fixtures: these tests run on every backend it runs on.
backend, open_store, store = contract.backend, contract.open_store, contract.store

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)
# Backends whose server expires data by its own retention: expire() deletes nothing there.
SERVER_RETENTION = {"victoriametrics", "influxql"}


def _history(hours: int, seed: int = 3) -> list[Sample]:
    """Two series every 7 s (off the minute grid) with bad samples among them, and a third
    series between, whose buckets must never leak into the first two."""
    rng = np.random.default_rng(seed)
    samples = []
    for asset_id, channel in (("rs-1", "outlet_kpa"), ("rs-1", "inlet_kpa"), ("rs-2", "outlet_kpa")):
        for k in range(hours * 3600 // 7):
            ts = T0 + timedelta(seconds=7 * k + 3)
            quality = Quality(int(rng.choice([0, 0, 0, 0, 0, 0, 1, 2])))
            value = math.nan if quality is Quality.COMM_ERROR else float(np.round(rng.normal(2.5, 0.3), 6))
            samples.append(Sample(asset_id, channel, ts, value, "kPa", quality))
    return samples


def _chart(store: TimeSeriesStore, start: datetime, end: datetime, width: timedelta) -> list[Bucket]:
    return store.buckets(asset_id="rs-1", channel="outlet_kpa", start=start, end=end, width_s=width.total_seconds())


def _assert_same_buckets(got: list[Bucket], want: list[Bucket], what: str) -> None:
    assert [b.start for b in got] == [b.start for b in want], f"{what}: bucket starts differ"
    for g, w in zip(got, want, strict=True):
        assert (g.count, g.min, g.max) == (w.count, w.min, w.max), f"{what} at {w.start}: got {g}, expected {w}"
        assert g.mean == pytest.approx(w.mean, rel=1e-9), f"{what} at {w.start}: mean {g.mean}, expected {w.mean}"


# (start, end, width): month-like hourly buckets, day-like minute buckets, a raw-only width,
# and ranges that end past what is rolled up (the last minutes before now).
CHARTS = [
    (T0, T0 + 5 * HOUR, 2 * HOUR),
    (T0 + 4 * MINUTE, T0 + 4 * HOUR + timedelta(seconds=30), 4 * MINUTE),
    (T0 + HOUR, T0 + 5 * HOUR, 30 * MINUTE),
    (T0 + timedelta(seconds=10), T0 + 3 * HOUR, timedelta(seconds=90)),
]


def test_buckets_from_the_rollups_are_the_buckets_from_raw_samples(store: TimeSeriesStore) -> None:
    store.write(_history(hours=5))
    from_raw = [_chart(store, *chart) for chart in CHARTS]
    assert store.rollup_watermark() is None, "nothing rolled up yet"

    # Rolled up to 03:30 only: the rest of each chart still comes from raw samples.
    written = store.roll_up(start=T0, end=T0 + 3 * HOUR + 30 * MINUTE)

    # 3 series: 210 minutes (each with good samples among its 8-9) and 3 whole hours each
    assert written == 3 * 210 + 3 * 3, written
    assert store.rollup_watermark() == T0 + 3 * HOUR + 30 * MINUTE
    for chart, want in zip(CHARTS, from_raw, strict=True):
        _assert_same_buckets(_chart(store, *chart), want, f"chart {chart}")


def test_roll_up_again_replaces_its_rows_and_folds_in_late_samples(store: TimeSeriesStore) -> None:
    store.write(_history(hours=2))
    first = store.roll_up(start=T0, end=T0 + 2 * HOUR)
    hourly = _chart(store, T0, T0 + 2 * HOUR, HOUR)
    minutes = _chart(store, T0, T0 + 2 * HOUR, MINUTE)
    assert 0 <= store.roll_up(start=T0, end=T0 + 2 * HOUR) <= first == 3 * 120 + 3 * 2, \
        "without news, recomputing writes the same rows again (or skips them)"
    assert _chart(store, T0, T0 + 2 * HOUR, HOUR) == hourly and _chart(store, T0, T0 + 2 * HOUR, MINUTE) == minutes
    # A sample from an outage's replay lands in the first minute after it was rolled up: the
    # chart goes on showing the rollup (which proves it reads it) until that period is
    # recomputed, as the maintenance chore does for the last hours.
    late = Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=1), 99.0, "kPa")
    store.write([late])
    assert _chart(store, T0, T0 + 2 * HOUR, HOUR)[0].max == hourly[0].max < 99.0, "read from the hourly rollup"

    store.roll_up(start=T0, end=T0 + HOUR)

    first_hour, first_minute = _chart(store, T0, T0 + 2 * HOUR, HOUR)[0], _chart(store, T0, T0 + HOUR, MINUTE)[0]
    assert (first_hour.count, first_hour.max) == (hourly[0].count + 1, 99.0), first_hour
    assert (first_minute.count, first_minute.max) == (minutes[0].count + 1, 99.0), first_minute
    assert first_hour.mean == pytest.approx((hourly[0].mean * hourly[0].count + 99.0) / (hourly[0].count + 1),
                                            rel=1e-9)
    assert _chart(store, T0, T0 + 2 * HOUR, HOUR)[1] == hourly[1], "the second hour was left as it was"


def test_only_whole_minutes_and_hours_are_rolled_up_and_the_span_grows_when_contiguous(
        store: TimeSeriesStore) -> None:
    store.write(_history(hours=4))
    # 00:00:30 .. 01:30:30: minutes 00:01 .. 01:29 (89 x 3 series), no whole hour.
    assert store.roll_up(start=T0 + timedelta(seconds=30), end=T0 + 90 * MINUTE + timedelta(seconds=30)) == 89 * 3
    assert store.rollup_watermark() == T0 + 90 * MINUTE
    assert store.roll_up(start=T0 + 3 * HOUR, end=T0 + 4 * HOUR) == 60 * 3 + 3, "a detached period: rows written"
    assert store.rollup_watermark() == T0 + 90 * MINUTE, "...but the covered span does not jump the gap"
    # Overlapping the span: it grows over the gap, up to the detached period's end.
    store.roll_up(start=T0 + 80 * MINUTE, end=T0 + 3 * HOUR + 10 * MINUTE)
    assert store.rollup_watermark() == T0 + 3 * HOUR + 10 * MINUTE
    assert store.roll_up(start=T0 + timedelta(seconds=10), end=T0 + timedelta(seconds=50)) == 0, "no whole minute"


def test_expire_deletes_older_data_and_charts_read_the_rollups_that_remain(
        store: TimeSeriesStore, backend: Backend) -> None:
    history = _history(hours=4)
    store.write(history)
    before = [_chart(store, T0, T0 + 4 * HOUR, 2 * HOUR), _chart(store, T0, T0 + 4 * HOUR, 4 * MINUTE)]
    store.roll_up(start=T0, end=T0 + 4 * HOUR)

    deleted = store.expire(raw_before=T0 + 3 * HOUR, minute_before=T0 + HOUR, hour_before=T0)

    queried = store.query(asset_id="rs-1", start=T0, end=T0 + 4 * HOUR)
    if backend.id in SERVER_RETENTION:
        assert deleted == 0 and len(queried) == sum(s.asset_id == "rs-1" for s in history), \
            "the server's retention deletes, not expire()"
        return
    assert deleted == sum(s.ts < T0 + 3 * HOUR for s in history) + 60 * 3, "3 h of samples, the first hour's minutes"
    assert min(s.ts for s in queried) >= T0 + 3 * HOUR
    assert len(store.latest()) == 3, "each series' newest sample stays"
    # The hourly chart is whole from the hourly rollup; the 4-minute one from minutes, where
    # they were kept: the first hour is gone from it.
    _assert_same_buckets(_chart(store, T0, T0 + 4 * HOUR, 2 * HOUR), before[0], "hourly chart")
    _assert_same_buckets(_chart(store, T0, T0 + 4 * HOUR, 4 * MINUTE), before[1][15:], "4-minute chart")
    # Recomputing where the source is gone must not wipe what was made of it.
    assert store.roll_up(start=T0, end=T0 + 4 * HOUR) == 60 * 3 + 3 * 3, \
        "the last hour's minutes from its samples, the hours from the minutes kept"
    _assert_same_buckets(_chart(store, T0, T0 + 4 * HOUR, 2 * HOUR), before[0], "hourly chart after roll_up")
    _assert_same_buckets(_chart(store, T0, T0 + 4 * HOUR, 4 * MINUTE), before[1][15:], "4-minute chart after")


def test_rollups_survive_close_and_reopen(open_store: Callable[[], TimeSeriesStore]) -> None:
    first = open_store()
    first.write(_history(hours=1))
    first.roll_up(start=T0, end=T0 + HOUR)
    want = _chart(first, T0, T0 + HOUR, 10 * MINUTE)
    first.close()
    again = open_store()
    assert again.rollup_watermark() == T0 + HOUR
    _assert_same_buckets(_chart(again, T0, T0 + HOUR, 10 * MINUTE), want, "after reopening")


def test_writes_go_on_while_roll_up_and_expire_run(store: TimeSeriesStore) -> None:
    store.write(_history(hours=2))
    problems: list[str] = []
    done = threading.Event()
    written = 0

    def writer() -> None:  # one poll of 20 stations every 5 s from 02:00 on, as fast as it goes
        nonlocal written
        while not done.is_set() and written < 2_000:
            try:
                at = T0 + 2 * HOUR + timedelta(seconds=5 * written)
                store.write([Sample(f"rs-{a}", "outlet_kpa", at, 2.5, "kPa") for a in range(3, 23)])
                written += 1
            except Exception as exc:  # noqa: BLE001 - a thread's exception is otherwise lost
                problems.append(f"write {written}: {exc!r}")
                return

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for i in range(5):
            store.roll_up(start=T0, end=T0 + 3 * HOUR)
            store.expire(raw_before=T0 + i * MINUTE, minute_before=T0, hour_before=T0)
    finally:
        done.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and problems == [], problems
    stored = store.aggregate(start=T0 + 2 * HOUR, end=T0 + 5 * HOUR, asset_ids=[f"rs-{a}" for a in range(3, 23)])
    assert {s.count for s in stored} == {written}, "every poll written beside the maintenance is there"
