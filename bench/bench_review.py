"""The daily 08:30 review on the embedded store: 1,000 stations x 8 channels at 10 s, one day.

    python -m bench.bench_review [--stations 1000] [--interval-s 10] [--path FILE] [--keep]

Setup writes the day (8,640 polls x 8 channels x stations, ~69 M rows at the defaults)
into a DuckDB file with the store's own schema (DuckDBStore creates it), from numpy
columns in time-major slices as a collector's flushes would land, never Sample objects.
About 1 % of the stations lose two hours (COMM_ERROR, NaN) and 1 % go over their outlet
limit, so the review has something to flag.

Timed: the review of every site for the day (one store aggregate per distinct window,
flags, canonical JSON and SHA-256), then storing the logs and opening field-check
tickets (SQLite). Baseline in the same run: the same per-series statistics computed by
numpy over the raw arrays as they were generated; the review's numbers are checked
against it (1e-9 besides the review's canonical rounding to 6 decimal places) and its
abnormal stations against the injected ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np

from sitewatch.config.load import config_from_dict
from sitewatch.review.compute import CANONICAL_ROUNDING
from sitewatch.review.schedule import window
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.schema import upgrade_schema

CHANNELS = (  # channel, unit, base value, daily swing, noise
    ("inlet_mpa", "MPa", 0.3, 0.01, 0.001),
    ("outlet_kpa", "kPa", 2.5, 0.04, 0.02),
    ("flow_nm3h", "Nm3/h", 400.0, 300.0, 10.0),
    ("temperature_c", "degC", 12.0, 4.0, 0.2),
    ("filter_dp_kpa", "kPa", 3.0, 2.0, 0.05),
    ("gas_lel_pct", "%LEL", 0.1, 0.0, 0.05),
    ("battery_v", "V", 13.6, 0.0, 0.03),
    ("mains_ok", "state", 1.0, 0.0, 0.0),
)
DAY = dt.date(2026, 11, 27)
TIME_ZONE = "Asia/Shanghai"
STATIONS_PER_SITE = 100
SLICE_POLLS = 864  # polls per insert: ~6.9 M rows at 1,000 stations


def bench_config(stations: int, interval_s: float) -> dict:
    sites = max(1, (stations + STATIONS_PER_SITE - 1) // STATIONS_PER_SITE)
    registers = [{"channel": c, "address": 2 * i, "type": "float32", "unit": u} for i, (c, u, *_r) in enumerate(CHANNELS)]
    return {
        "customers": [{"id": "citygas", "name": "City Gas"}],
        "sites": [{"id": f"site-{s:02d}", "customer": "citygas", "name": f"District {s:02d}", "time_zone": TIME_ZONE,
                   "sla_zone": "city"} for s in range(sites)],
        "sla": {"zones": {"city": {"hours": 4.0}}},
        "modbus_profiles": [{"name": "bench", "registers": registers}],
        "assets": [
            {"id": station_id(i), "site": f"site-{i // STATIONS_PER_SITE:02d}", "name": f"Station {i:04d}",
             "poll_interval_s": interval_s, "limits": {"outlet_kpa": {"high": 2.9, "low": 1.8}},
             "modbus": {"host": "127.0.0.1", "port": 502, "profile": "bench"}}
            for i in range(stations)
        ],
        "storage": {"database_url": "sqlite:///:memory:"},
    }


def station_id(i: int) -> str:
    return f"rs-{i:04d}"


def faults(stations: int) -> tuple[set[int], set[int], set[str]]:
    """Stations (indices) that lose two hours, that go over their outlet limit (1 % each),
    and the station ids the review must call abnormal."""
    gap = set(range(3 % stations, stations, 100))
    high = set(range(7 % stations, stations, 100)) - gap
    return gap, high, {station_id(i) for i in gap | high}


class Truth:
    """The numpy baseline: per-series statistics accumulated slice by slice, timed apart."""

    def __init__(self, stations: int) -> None:
        shape = (stations, len(CHANNELS))
        self.count = np.zeros(shape, dtype=np.int64)
        self.total = np.zeros(shape)
        self.lo = np.full(shape, np.inf)
        self.hi = np.full(shape, -np.inf)
        self.last = np.full(shape, np.nan)
        self.seconds = 0.0

    def add(self, values: np.ndarray) -> None:  # (polls, stations, channels), NaN = not good
        started = time.perf_counter()
        good = ~np.isnan(values)
        self.count += good.sum(axis=0)
        self.total += np.where(good, values, 0.0).sum(axis=0)
        self.lo = np.minimum(self.lo, np.nanmin(np.where(good, values, np.inf), axis=0))
        self.hi = np.maximum(self.hi, np.nanmax(np.where(good, values, -np.inf), axis=0))
        # last good value: the highest poll index with a good value, per series
        idx = np.where(good, np.arange(values.shape[0])[:, None, None], -1).max(axis=0)
        has = idx >= 0
        picked = np.take_along_axis(values, np.maximum(idx, 0)[None], axis=0)[0]
        self.last = np.where(has, picked, self.last)
        self.seconds += time.perf_counter() - started


def day_slices(stations: int, interval_s: float, seconds: float, faulty_gap: set[int],
               faulty_high: set[int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The day's values in time-major slices of SLICE_POLLS polls: (poll numbers, values of
    shape (polls, stations, channels), NaN where a poll failed). Deterministic (seeded), so
    bench_influx.py loads the very same day into a server."""
    polls = int(round(seconds / interval_s))
    rng = np.random.default_rng(7)
    base = np.array([c[2] for c in CHANNELS])
    swing = np.array([c[3] for c in CHANNELS])
    noise = np.array([c[4] for c in CHANNELS])
    offsets = rng.normal(0, 0.01, size=(stations, len(CHANNELS))) * base  # each station a little different
    gap = (int(6 * 3600 / interval_s), int(8 * 3600 / interval_s))  # 14:30-16:30 local: 2 h lost
    gap_rows = np.array(sorted(faulty_gap), dtype=np.int64)
    high_rows = np.array(sorted(faulty_high), dtype=np.int64)
    for first in range(0, polls, SLICE_POLLS):
        n = min(SLICE_POLLS, polls - first)
        k = np.arange(first, first + n)
        phase = np.sin(2 * np.pi * k / polls)[:, None, None]
        values = base + offsets[None] + swing * phase + noise * rng.standard_normal((n, stations, len(CHANNELS)))
        values[:, :, 7] = 1.0  # mains_ok is a state
        if high_rows.size:  # an outlet over its limit for ten minutes at the slice's start
            values[: int(600 / interval_s), high_rows, 1] = 3.2
        in_gap = (k >= gap[0]) & (k < gap[1])
        if gap_rows.size and in_gap.any():
            values[np.ix_(in_gap, gap_rows)] = np.nan
        yield k, values


def generate(path: Path, stations: int, interval_s: float, start: dt.datetime, seconds: float,
             faulty_gap: set[int], faulty_high: set[int]) -> tuple[int, Truth]:
    DuckDBStore(path).close()  # the store's own schema
    start_us = int(start.timestamp() * 1_000_000)
    step_us = int(interval_s * 1_000_000)
    truth = Truth(stations)
    con = duckdb.connect(str(path))
    con.execute("CREATE TEMP TABLE station_names AS SELECT i::INTEGER AS s, printf('rs-%04d', i) AS asset_id "
                "FROM range(?) t(i)", [stations])
    names = ", ".join(f"'{c[0]}'" for c in CHANNELS)
    units = ", ".join(f"'{c[1]}'" for c in CHANNELS)
    insert = (f"INSERT INTO samples SELECT b.ts, n.asset_id, ([{names}])[b.c + 1], b.value, ([{units}])[b.c + 1], "
              "b.quality FROM batch b JOIN station_names n ON n.s = b.s")
    written = 0
    for k, values in day_slices(stations, interval_s, seconds, faulty_gap, faulty_high):
        n = len(k)
        truth.add(values)
        ts = (start_us + k * step_us).astype("datetime64[us]")
        batch = {
            "ts": np.repeat(ts, stations * len(CHANNELS)),
            "s": np.tile(np.repeat(np.arange(stations, dtype=np.int32), len(CHANNELS)), n),
            "c": np.tile(np.arange(len(CHANNELS), dtype=np.int8), n * stations),
            "value": values.reshape(-1),
            "quality": np.isnan(values.reshape(-1)).astype(np.uint8),  # COMM_ERROR = 1
        }
        con.register("batch", batch)
        con.execute(insert)
        con.unregister("batch")
        written += batch["value"].size
    con.close()
    return written, truth


def check(reviews: list, truth: Truth, expected_abnormal: set[str]) -> tuple[int, float]:
    """The review's numbers against the numpy baseline; returns (series checked, worst error)."""
    column = {c[0]: j for j, c in enumerate(CHANNELS)}
    worst = 0.0
    checked = 0
    abnormal = set()
    for review in reviews:
        for station in review.stations:
            i = int(station.station_id.removeprefix("rs-"))
            if station.verdict.value == "abnormal":
                abnormal.add(station.station_id)
            for c in station.channels:
                j = column[c.channel]
                if c.samples_good != truth.count[i, j]:
                    raise SystemExit(f"{station.station_id}/{c.channel}: {c.samples_good} good samples, numpy counts "
                                     f"{truth.count[i, j]}")
                expected = (truth.lo[i, j], truth.hi[i, j], truth.total[i, j] / truth.count[i, j], truth.last[i, j])
                for got, want in zip((c.min, c.max, c.mean, c.last), expected, strict=True):
                    worst = max(worst, abs(got - want))
                checked += 1
    if worst > 1e-9 + CANONICAL_ROUNDING:
        raise SystemExit(f"the review differs from numpy by up to {worst:.3g}")
    if abnormal != expected_abnormal:
        raise SystemExit(f"abnormal stations {sorted(abnormal ^ expected_abnormal)} differ from the injected faults")
    return checked, worst


def main(argv: list[str] | None = None) -> None:
    from sitewatch.review.service import DailyReviews  # after argument parsing: --help stays instant
    from sitewatch.review.sign import canonical_json, sha256_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument("--path", type=Path, default=None, help="DuckDB file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="reuse --path if it exists, keep it afterwards")
    args = parser.parse_args(argv)

    config = config_from_dict(bench_config(args.stations, args.interval_s))
    win = window(DAY, at=config.review.at, time_zone=TIME_ZONE)
    faulty_gap, faulty_high, expected_abnormal = faults(args.stations)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or Path(tmp) / "samples.duckdb"
        if path.exists() and not args.keep:
            path.unlink()
        started = time.perf_counter()
        rows, truth = generate(path, args.stations, args.interval_s, win.start, win.seconds, faulty_gap, faulty_high)
        setup_s = time.perf_counter() - started
        print(f"setup: {rows:,} samples ({args.stations} stations x {len(CHANNELS)} channels x "
              f"{rows // max(1, args.stations * len(CHANNELS)):,} polls) written in {setup_s:.1f} s "
              f"({rows / setup_s / 1e6:.2f} M rows/s), file {path.stat().st_size / 1e6:,.0f} MB")

        store = DuckDBStore(path)
        engine = make_engine(f"sqlite:///{Path(tmp) / 'sitewatch.db'}")
        upgrade_schema(engine)
        sessions = session_factory(engine)

        class Clock:
            def now(self) -> dt.datetime:
                return win.end + dt.timedelta(minutes=2)

            def monotonic(self) -> float:
                return time.monotonic()

        reviews = DailyReviews(config=config, store=store, sessions=sessions, clock=Clock())
        site_ids = [s.id for s in config.sites]
        ids = [a.id for a in config.assets]
        try:
            started = time.perf_counter()
            stats = store.aggregate(start=win.start, end=win.end, asset_ids=ids)
            aggregate_s = time.perf_counter() - started

            started, cpu = time.perf_counter(), time.process_time()
            with sessions() as session:
                computed = reviews.compute_sites(session, site_ids, DAY, field_readings={})
            hashes = [sha256_of(canonical_json(r)) for r in computed]
            review_s, review_cpu_s = time.perf_counter() - started, time.process_time() - cpu

            started = time.perf_counter()
            stored = reviews.generate_sites(site_ids, DAY, actor="bench", field_readings={})
            generate_s = time.perf_counter() - started
            if [s.row.content_sha256 for s in stored] != hashes:
                raise SystemExit("generating again from the same data gave another content hash")
            checked, worst = check(computed, truth, expected_abnormal)
        finally:
            store.close()
            engine.dispose()

    print(f"store aggregate alone: {len(stats):,} series over {rows:,} rows in {aggregate_s:.2f} s")
    print(f"review (aggregate, flags, canonical JSON, SHA-256) of {len(site_ids)} sites / {args.stations} stations: "
          f"{review_s:.2f} s wall, {review_cpu_s:.2f} s CPU on 2 cores  (target < 10 s: "
          f"{'met' if review_s < 10 else 'MISSED'})")
    print(f"generate and store the logs + {len(expected_abnormal)} field-check tickets (SQLite): {generate_s:.2f} s")
    print(f"baseline: the same statistics by numpy over the raw arrays in memory: {truth.seconds:.2f} s "
          f"-> the review takes {review_s / truth.seconds:.1f}x the in-memory numpy time")
    print(f"check: {checked:,} series equal numpy (worst difference {worst:.2g}); abnormal stations = the "
          f"{len(expected_abnormal)} injected ones; regenerating gave identical hashes")


if __name__ == "__main__":
    main()
