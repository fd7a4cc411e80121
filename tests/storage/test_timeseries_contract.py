"""The contract every TimeSeriesStore backend must meet: DuckDB, VictoriaMetrics (written
through influxdb-client, read through its own API) and InfluxDB 1.6.7 (v1 write, InfluxQL
reader). Add a backend to tests/storage/backends.py."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from sitewatch.domain.samples import ChannelStats, Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.timeseries import TimeSeriesError, TimeSeriesStore
from tests.storage.backends import BACKENDS, Backend

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture(params=BACKENDS, ids=lambda b: b.id)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param


@pytest.fixture
def open_store(backend: Backend, request: pytest.FixtureRequest,
               tmp_path: Path) -> Iterator[Callable[[], TimeSeriesStore]]:
    """Opens the store under tmp_path (again, if called again); closes what it opened."""
    opened: list[TimeSeriesStore] = []

    def _open() -> TimeSeriesStore:
        opened.append(backend.open(request, tmp_path))
        return opened[-1]

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], TimeSeriesStore]) -> TimeSeriesStore:
    return open_store()


def _same(a: Sample, b: Sample) -> bool:
    """Sample equality where NaN equals NaN (dataclass == says NaN != NaN)."""
    values_match = a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
    return values_match and (a.asset_id, a.channel, a.ts, a.unit, a.quality) == (
        b.asset_id,
        b.channel,
        b.ts,
        b.unit,
        b.quality,
    )


def _assert_samples(got: list[Sample], expected: list[Sample]) -> None:
    assert len(got) == len(expected), f"expected {len(expected)} samples, got {len(got)}: {got}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert _same(g, e), f"sample {i}: got {g}, expected {e}"


def _truncated(ts: datetime, resolution: timedelta) -> datetime:
    return T0 + (ts - T0) // resolution * resolution


def test_round_trip_keeps_units_quality_nan_and_returns_aware_utc(store: TimeSeriesStore, backend: Backend) -> None:
    # Written in Beijing time with microseconds: must come back as the same instant in UTC,
    # truncated to the backend's resolution (DuckDB: 1 us; InfluxDB-protocol servers: 1 ms).
    local = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=BEIJING)
    written = [
        Sample("rs-1", "outlet_kpa", local, 2.51, "kPa"),
        Sample("rs-1", "inlet_mpa", local, 0.38, "MPa", Quality.STALE),
        Sample("rs-1", "flow_nm3h", local, math.nan, "Nm3/h", Quality.COMM_ERROR),
        Sample("rs-1", "door_open", local + timedelta(seconds=1), 1.0, "state"),
    ]
    assert store.write(written) == 4

    got = store.query(asset_id="rs-1", start=T0, end=T0 + timedelta(hours=1))

    expected = sorted(
        (Sample(s.asset_id, s.channel, _truncated(s.ts.astimezone(UTC), backend.resolution), s.value, s.unit,
                s.quality) for s in written),
        key=lambda s: (s.ts, s.channel),
    )
    _assert_samples(got, expected)
    assert all(s.ts.utcoffset() == timedelta(0) and s.ts.tzinfo is not None for s in got), got
    assert got[0].ts == _truncated(datetime(2026, 3, 1, 0, 0, 0, 123456, tzinfo=UTC), backend.resolution)


def test_write_of_nothing_writes_nothing(store: TimeSeriesStore) -> None:
    assert store.write([]) == 0
    assert store.latest() == []


def test_range_is_start_inclusive_end_exclusive_ordered_by_ts_then_channel(store: TimeSeriesStore) -> None:
    samples = [
        Sample("rs-1", channel, T0 + timedelta(seconds=sec), float(sec), "kPa")
        for sec in range(10)
        for channel in ("outlet_kpa", "inlet_kpa")
    ]
    samples.append(Sample("rs-2", "outlet_kpa", T0 + timedelta(seconds=5), 99.0, "kPa"))
    random.Random(1).shuffle(samples)
    store.write(samples)

    got = store.query(asset_id="rs-1", start=T0 + timedelta(seconds=2), end=T0 + timedelta(seconds=5))

    assert [(s.ts - T0).seconds for s in got] == [2, 2, 3, 3, 4, 4], "start must be inclusive, end exclusive"
    assert [s.channel for s in got[:2]] == ["inlet_kpa", "outlet_kpa"], "same ts must be ordered by channel"
    assert {s.asset_id for s in got} == {"rs-1"}

    one_channel = store.query(asset_id="rs-1", channel="outlet_kpa", start=T0, end=T0 + timedelta(hours=1))
    assert [s.value for s in one_channel] == [float(sec) for sec in range(10)]

    limited = store.query(asset_id="rs-1", start=T0, end=T0 + timedelta(hours=1), limit=3)
    assert [(s.value, s.channel) for s in limited] == [(0.0, "inlet_kpa"), (0.0, "outlet_kpa"), (1.0, "inlet_kpa")]


def test_latest_is_newest_per_series_whatever_its_quality(store: TimeSeriesStore) -> None:
    store.write(
        [
            Sample("rs-1", "outlet_kpa", T0, 2.5, "kPa"),
            Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=5), 2.6, "kPa"),  # same batch, newer
            Sample("rs-1", "inlet_mpa", T0, 0.4, "MPa"),
            Sample("rs-2", "outlet_kpa", T0, 2.4, "kPa"),
        ]
    )
    store.write([Sample("rs-1", "inlet_mpa", T0 + timedelta(seconds=10), math.nan, "MPa", Quality.COMM_ERROR)])
    # A late back-fill must not hide the newer value.
    store.write([Sample("rs-2", "outlet_kpa", T0 - timedelta(minutes=5), 1.0, "kPa")])

    _assert_samples(
        store.latest(),
        [
            Sample("rs-1", "inlet_mpa", T0 + timedelta(seconds=10), math.nan, "MPa", Quality.COMM_ERROR),
            Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=5), 2.6, "kPa"),
            Sample("rs-2", "outlet_kpa", T0, 2.4, "kPa"),
        ],
    )
    assert [s.asset_id for s in store.latest(asset_ids=["rs-2"])] == ["rs-2"]
    assert store.latest(asset_ids=[]) == []


def _random_samples(rng: np.random.Generator, n_assets: int, n_channels: int, per_series: int) -> list[Sample]:
    samples = []
    for a in range(n_assets):
        for c in range(n_channels):
            # Distinct seconds per series so "last" is unambiguous.
            seconds = np.sort(rng.choice(2 * 86_400, size=per_series, replace=False))
            values = rng.normal(2.5, 0.3, size=per_series)
            qualities = rng.choice([0, 0, 0, 1, 2], size=per_series)
            for sec, value, q in zip(seconds, values, qualities):
                quality = Quality(int(q))
                value = math.nan if quality is Quality.COMM_ERROR else float(value)
                samples.append(Sample(f"rs-{a}", f"ch{c}_kpa", T0 + timedelta(seconds=int(sec)), value, "kPa", quality))
    return samples


def _expected_stats(samples: list[Sample], start: datetime, end: datetime) -> dict[tuple[str, str], ChannelStats]:
    series: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        if start <= s.ts < end:
            series.setdefault((s.asset_id, s.channel), []).append(s)
    expected = {}
    for key, items in series.items():
        good = sorted((s for s in items if s.is_good), key=lambda s: s.ts)
        values = np.array([s.value for s in good])
        expected[key] = ChannelStats(
            asset_id=key[0],
            channel=key[1],
            unit=items[0].unit,
            count=len(good),
            min=float(values.min()) if good else math.nan,
            max=float(values.max()) if good else math.nan,
            mean=float(values.mean()) if good else math.nan,
            last=good[-1].value if good else math.nan,
            last_ts=good[-1].ts if good else None,
        )
    return expected


def _assert_stats(got: ChannelStats, want: ChannelStats) -> None:
    where = f"{want.asset_id}/{want.channel}"
    assert (got.asset_id, got.channel, got.unit, got.count) == (want.asset_id, want.channel, want.unit, want.count), (
        f"{where}: got {got}, expected {want}"
    )
    for field in ("min", "max", "mean", "last"):
        g, w = getattr(got, field), getattr(want, field)
        if math.isnan(w):
            assert math.isnan(g), f"{where}.{field}: expected NaN, got {g}"
        else:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-9), f"{where}.{field}: got {g}, expected {w}"
    assert got.last_ts == want.last_ts, f"{where}.last_ts: got {got.last_ts}, expected {want.last_ts}"


def test_aggregate_matches_numpy_over_good_samples_only(store: TimeSeriesStore) -> None:
    samples = _random_samples(np.random.default_rng(7), n_assets=6, n_channels=4, per_series=300)
    # A channel whose every sample in the window is bad still shows up, with count 0.
    samples += [
        Sample("rs-0", "gas_lel_pct", T0 + timedelta(hours=h), math.nan, "%LEL", Quality.COMM_ERROR) for h in range(3)
    ]
    assert store.write(samples) == len(samples)
    start, end = T0 + timedelta(hours=2), T0 + timedelta(hours=26)

    got = store.aggregate(start=start, end=end)

    expected = _expected_stats(samples, start, end)
    assert [(s.asset_id, s.channel) for s in got] == sorted(expected), "one row per series, ordered by asset, channel"
    for stats in got:
        _assert_stats(stats, expected[(stats.asset_id, stats.channel)])
    bad_only = next(s for s in got if s.channel == "gas_lel_pct")
    assert bad_only.count == 0 and bad_only.last_ts is None

    subset = store.aggregate(start=start, end=end, asset_ids=["rs-1", "rs-4"])
    assert {s.asset_id for s in subset} == {"rs-1", "rs-4"}
    assert store.aggregate(start=start, end=end, asset_ids=[]) == []


def test_buckets_of_one_series_from_start_with_gaps_absent(store: TimeSeriesStore) -> None:
    # outlet_kpa every 10 s for an hour, 0.0 .. 359.0; a comm error and another series between.
    samples = [Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=10 * i), float(i), "kPa") for i in range(360)]
    samples += [Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=5), math.nan, "kPa", Quality.COMM_ERROR),
                Sample("rs-1", "inlet_mpa", T0, 99.0, "MPa"), Sample("rs-2", "outlet_kpa", T0, 99.0, "kPa")]
    store.write(samples)
    start = T0 + timedelta(seconds=25)  # buckets start here, not on a round minute
    got = store.buckets(asset_id="rs-1", channel="outlet_kpa", start=start, end=T0 + timedelta(minutes=30),
                        width_s=300)
    assert [b.start for b in got] == [start + timedelta(minutes=5 * k) for k in range(6)]
    first = got[0]  # 25 s .. 325 s: samples 3 .. 32
    assert (first.count, first.min, first.max, first.mean) == (30, 3.0, 32.0, pytest.approx(17.5))
    assert got[-1].count == 27 and got[-1].max == 179.0, "the end is exclusive"
    gap = store.buckets(asset_id="rs-1", channel="outlet_kpa", start=T0 + timedelta(hours=1, minutes=-1),
                        end=T0 + timedelta(hours=2), width_s=60)
    assert [b.start for b in gap] == [T0 + timedelta(minutes=59)], "no empty buckets after the last sample"
    assert store.buckets(asset_id="rs-9", channel="outlet_kpa", start=T0, end=T0 + timedelta(hours=1),
                         width_s=60) == []


def test_a_channel_whose_unit_changed_is_one_series_with_its_newest_unit(store: TimeSeriesStore) -> None:
    # A register map changed mid-day: flow in m3/h, then Nm3/h (the servers index the unit).
    store.write([Sample("rs-1", "flow", T0 + timedelta(seconds=k), 10.0 + k, "m3/h") for k in range(3)]
                + [Sample("rs-1", "flow", T0 + timedelta(seconds=3 + k), 20.0 + k, "Nm3/h") for k in range(2)])
    (stats,) = store.aggregate(start=T0, end=T0 + timedelta(hours=1))
    assert (stats.unit, stats.count, stats.min, stats.max, stats.last) == ("Nm3/h", 5, 10.0, 21.0, 21.0), stats
    assert stats.mean == pytest.approx(14.8) and stats.last_ts == T0 + timedelta(seconds=4)
    assert [(s.unit, s.value) for s in store.latest()] == [("Nm3/h", 21.0)]
    (bucket,) = store.buckets(asset_id="rs-1", channel="flow", start=T0, end=T0 + timedelta(hours=1), width_s=3600)
    assert (bucket.count, bucket.min, bucket.max) == (5, 10.0, 21.0)


def test_thousands_per_write(store: TimeSeriesStore) -> None:
    samples = [
        Sample(f"rs-{i % 500}", f"ch{i // 500 % 14}", T0 + timedelta(seconds=i // 7000), float(i), "kPa")
        for i in range(21_000)
    ]
    assert store.write(samples) == 21_000
    stats = store.aggregate(start=T0, end=T0 + timedelta(hours=1))
    assert len(stats) == 7_000 and sum(s.count for s in stats) == 21_000


def test_naive_datetimes_are_refused(store: TimeSeriesStore) -> None:
    naive = datetime(2026, 3, 1, 8, 0)
    with pytest.raises(ValueError, match="naive"):
        store.write([Sample("rs-1", "outlet_kpa", T0, 2.5, "kPa"), Sample("rs-1", "outlet_kpa", naive, 2.5, "kPa")])
    assert store.latest() == [], "a batch with a naive timestamp must be refused whole"
    with pytest.raises(ValueError, match="naive"):
        store.query(asset_id="rs-1", start=naive, end=T0)
    with pytest.raises(ValueError, match="naive"):
        store.aggregate(start=T0, end=naive)


def test_concurrent_writer_and_reader_see_whole_batches(store: TimeSeriesStore, backend: Backend) -> None:
    if not backend.atomic_batches:
        pytest.skip(f"{backend.id}: an InfluxDB-protocol server makes a batch visible per request (VictoriaMetrics "
                    "per in-memory buffer flush), never a whole multi-request write at once")
    series = [(f"rs-{a}", f"ch{c}") for a in range(50) for c in range(10)]
    batches = 40
    problems: list[str] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for k in range(batches):
                store.write([Sample(a, c, T0 + timedelta(seconds=k), float(k), "kPa") for a, c in series])
        finally:
            done.set()

    def reader() -> None:
        while not done.is_set():
            stats = store.aggregate(start=T0, end=T0 + timedelta(hours=1))
            counts = {s.count for s in stats}
            if stats and (len(stats) != len(series) or len(counts) != 1):
                problems.append(f"torn batch: {len(stats)} series with counts {sorted(counts)}")
            latest = store.latest()
            if stats and {s.value for s in latest} and min(s.value for s in latest) < stats[0].last:
                problems.append("latest older than an earlier aggregate")
            store.query(asset_id="rs-7", start=T0, end=T0 + timedelta(hours=1))

    def reporting(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except Exception as exc:  # noqa: BLE001 - a thread's exception is otherwise lost
                problems.append(f"{body.__name__} raised {exc!r}")

        return run

    threads = [threading.Thread(target=reporting(writer)), threading.Thread(target=reporting(reader))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "writer or reader hung"
    assert problems == [], problems[:5]
    final = store.aggregate(start=T0, end=T0 + timedelta(hours=1))
    assert {s.count for s in final} == {batches}
    assert {s.last for s in final} == {float(batches - 1)}


def test_data_survives_close_and_reopen(open_store: Callable[[], TimeSeriesStore]) -> None:
    first = open_store()
    first.write(
        [
            Sample("rs-1", "outlet_kpa", T0, 2.5, "kPa"),
            Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=5), math.nan, "kPa", Quality.COMM_ERROR),
        ]
    )
    first.close()

    again = open_store()

    got = again.query(asset_id="rs-1", start=T0, end=T0 + timedelta(minutes=1))
    _assert_samples(
        got,
        [
            Sample("rs-1", "outlet_kpa", T0, 2.5, "kPa"),
            Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=5), math.nan, "kPa", Quality.COMM_ERROR),
        ],
    )
    assert [s.quality for s in again.latest()] == [Quality.COMM_ERROR]


def test_a_closed_store_raises_its_typed_error(open_store: Callable[[], TimeSeriesStore]) -> None:
    store = open_store()
    store.close()
    with pytest.raises(TimeSeriesError):
        store.latest()
