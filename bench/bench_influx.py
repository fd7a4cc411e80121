"""The InfluxDB-protocol store on VictoriaMetrics: write speed, and the daily review of a day.

    python -m bench.bench_influx [--points 480000] [--rounds 3] [--stations 1000] [--interval-s 10]
                                 [--skip-writes] [--skip-review]

Starts its own victoria-metrics (tests/servers.py: a free loopback port, a temporary data
folder, the flags the store needs).

(a) Writes. Samples as the collector's flushes carry them (500 stations x 12 channels a
poll, Sample objects built before the clock starts) through InfluxStore.write: columns,
numpy line protocol, influxdb-client's write API, 5,000 lines a request; with gzip off and
on. Baseline in the same run: a bare httpx POST of the same lines, formatted beforehand, to
the same endpoint in the same batches, no gzip. Each round writes new times into series
that exist already (the steady state); best of --rounds. Target: product / bare >= 0.5.

(b) The daily review. bench_review.py's day (1,000 stations x 8 channels at 10 s: 69 M
samples, the same seeded values and faults) loaded through VictoriaMetrics' /api/v1/import
(JSON lines: the series the store's writes make, quick enough for 69 M samples). Timed:
InfluxStore.aggregate over the day for every station (what the review asks the store;
target < 30 s), twice, then the whole review (DailyReviews.compute_sites), whose numbers are
checked against numpy as bench_review.py checks them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from bench.bench_review import (
    CHANNELS,
    DAY,
    TIME_ZONE,
    Truth,
    bench_config,
    check,
    day_slices,
    faults,
    station_id,
)
from sitewatch.config.load import config_from_dict
from sitewatch.config.storage import InfluxSettings
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC, SystemClock
from sitewatch.review.schedule import window
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.influx import InfluxStore, connect
from sitewatch.storage.influx.lineproto import format_lines, series_key
from sitewatch.storage.schema import upgrade_schema

LOOKBACK = dt.timedelta(days=3650)
WRITE_STATIONS, WRITE_CHANNELS = 500, 12
BATCH = 5_000
IMPORT_SERIES = 400  # series per /api/v1/import request (~7 MB of JSON at 864 polls)


# --- (a) writes ------------------------------------------------------------------------


def poll_samples(points: int, start: dt.datetime) -> list[Sample]:
    """Whole polls of WRITE_STATIONS x WRITE_CHANNELS from ``start``, one a second; as a
    poller does, the samples of a station's poll share one time and its strings."""
    rng = np.random.default_rng(1)
    per_poll = WRITE_STATIONS * WRITE_CHANNELS
    values = rng.normal(2.5, 0.3, points).tolist()
    assets = [f"rs-{a:04d}" for a in range(WRITE_STATIONS)]
    channels = [f"ch{c:02d}_kpa" for c in range(WRITE_CHANNELS)]
    times = [start + dt.timedelta(seconds=k) for k in range(points // per_poll + 1)]
    return [Sample(assets[i % per_poll // WRITE_CHANNELS], channels[i % WRITE_CHANNELS], times[i // per_poll], v, "kPa",
                   Quality.GOOD if i % 97 else Quality.COMM_ERROR) for i, v in enumerate(values)]


def preformatted(samples: list[Sample], measurement: str) -> list[bytes]:
    """The same lines the store writes, as request bodies of BATCH lines."""
    keys = {(s.asset_id, s.channel, s.unit): series_key(measurement, [("asset", s.asset_id), ("channel", s.channel),
                                                                     ("unit", s.unit)]) for s in samples}
    columns = (np.array([keys[(s.asset_id, s.channel, s.unit)] for s in samples], dtype=object),
               np.array([s.value for s in samples]), np.array([int(s.quality) for s in samples]),
               np.array([(s.ts - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(milliseconds=1)
                         for s in samples], dtype=np.int64))
    return [format_lines(*(c[i:i + BATCH] for c in columns)).encode() for i in range(0, len(samples), BATCH)]


def bench_writes(url: str, points: int, rounds: int) -> None:
    measurement = "bench_write"
    stores = {gzip: connect(InfluxSettings(url=url, reader="victoriametrics", measurement=measurement, gzip=gzip),
                            credentials=None, site_of={}, lookback=LOOKBACK, clock=SystemClock())
              for gzip in (False, True)}
    http = httpx.Client(base_url=url, timeout=60)
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    stores[False].write(poll_samples(WRITE_STATIONS * WRITE_CHANNELS, t0 - dt.timedelta(days=1)))  # the series exist
    best: dict[str, float] = {}

    def timed(name: str, write: Callable[[], object]) -> None:
        started = time.perf_counter()
        write()
        best[name] = max(best.get(name, 0.0), points / (time.perf_counter() - started))

    day = 0
    for _ in range(rounds):
        for name in ("bare httpx POST", "InfluxStore.write, gzip off", "InfluxStore.write, gzip on"):
            day += 1  # new times each run: nothing is a duplicate of an earlier write
            samples = poll_samples(points, t0 + dt.timedelta(days=day))
            if name.startswith("bare"):
                bodies = preformatted(samples, measurement)
                timed(name, lambda b=bodies: [http.post("/api/v2/write", params={"precision": "ms"},
                                                        content=body).raise_for_status() for body in b])
            else:
                store = stores[name.endswith("on")]
                timed(name, lambda s=samples, st=store: st.write(s))
    http.close()
    for store in stores.values():
        store.close()
    bare = best["bare httpx POST"]
    print(f"(a) writes into VictoriaMetrics, {points:,} points a run, best of {rounds}:")
    for name, rate in best.items():
        print(f"    {name:30s} {rate:>12,.0f} points/s   {rate / bare:5.2f} x bare")
    ratio = best["InfluxStore.write, gzip off"] / bare
    print(f"    ratio product / bare (gzip off, as on loopback): {ratio:.2f}  (target >= 0.5: "
          f"{'met' if ratio >= 0.5 else 'MISSED'})")


# --- (b) the daily review ------------------------------------------------------------


def import_lines(values: np.ndarray, ts_ms: np.ndarray, labels: list[dict[str, str]]) -> Iterator[str]:
    """VictoriaMetrics JSON lines for one slice (polls, series): each series' value points
    (good ones) and quality points (all), as the store's line protocol makes them."""
    times = json.dumps(ts_ms.tolist())
    all_good = json.dumps([0] * len(ts_ms))
    for j, tags in enumerate(labels):
        column = values[:, j]
        good = ~np.isnan(column)
        name_value = json.dumps({"__name__": "samples_value", **tags})
        name_quality = json.dumps({"__name__": "samples_quality", **tags})
        if good.all():
            yield f'{{"metric":{name_value},"values":{json.dumps(column.tolist())},"timestamps":{times}}}'
            yield f'{{"metric":{name_quality},"values":{all_good},"timestamps":{times}}}'
        else:
            if good.any():
                yield (f'{{"metric":{name_value},"values":{json.dumps(column[good].tolist())},'
                       f'"timestamps":{json.dumps(ts_ms[good].tolist())}}}')
            yield (f'{{"metric":{name_quality},"values":{json.dumps((~good).astype(int).tolist())},'
                   f'"timestamps":{times}}}')


def load_day(http: httpx.Client, stations: int, interval_s: float, win_start: dt.datetime, seconds: float,
             gap: set[int], high: set[int], site_of: dict[str, str]) -> tuple[int, Truth]:
    labels = [{"asset": station_id(s), "channel": c[0], "site": site_of[station_id(s)], "unit": c[1]}
              for s in range(stations) for c in CHANNELS]
    start_ms = round(win_start.timestamp() * 1000)
    truth = Truth(stations)
    written = 0
    pending: Future | None = None
    with ThreadPoolExecutor(max_workers=1) as sender:  # the server ingests one request while the next is built
        for k, values in day_slices(stations, interval_s, seconds, gap, high):
            truth.add(values)
            flat = values.reshape(len(k), -1)
            ts_ms = start_ms + k * round(interval_s * 1000)
            for first in range(0, len(labels), IMPORT_SERIES):
                body = "\n".join(import_lines(flat[:, first:first + IMPORT_SERIES], ts_ms,
                                              labels[first:first + IMPORT_SERIES])).encode()
                if pending is not None:
                    pending.result().raise_for_status()
                pending = sender.submit(http.post, "/api/v1/import", content=body)
            written += values.size
        if pending is not None:
            pending.result().raise_for_status()
    return written, truth


def bench_review(url: str, flush: Callable[[], None], stations: int, interval_s: float) -> None:
    from sitewatch.review.service import (
        DailyReviews,  # after argument parsing: --help stays instant
    )

    config = config_from_dict(bench_config(stations, interval_s))
    win = window(DAY, at=config.review.at, time_zone=TIME_ZONE)
    gap, high, expected_abnormal = faults(stations)
    site_of = {a.id: a.site for a in config.assets}
    http = httpx.Client(base_url=url, timeout=600)
    started = time.perf_counter()
    rows, truth = load_day(http, stations, interval_s, win.start, win.seconds, gap, high, site_of)
    flush()
    setup_s = time.perf_counter() - started
    http.close()
    print(f"(b) setup: {rows:,} samples ({stations} stations x {len(CHANNELS)} channels) loaded into VictoriaMetrics "
          f"in {setup_s:.0f} s ({rows / setup_s / 1e6:.2f} M samples/s)")

    class Clock:
        def now(self) -> dt.datetime:
            return win.end + dt.timedelta(minutes=2)

        def monotonic(self) -> float:
            return time.monotonic()

    store: InfluxStore = connect(InfluxSettings(url=url, reader="victoriametrics"), credentials=None,
                                 site_of=site_of, lookback=LOOKBACK, clock=Clock())
    ids = [a.id for a in config.assets]
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'sitewatch.db'}")
        upgrade_schema(engine)
        sessions = session_factory(engine)
        try:
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                stats = store.aggregate(start=win.start, end=win.end, asset_ids=ids)
                timings.append(time.perf_counter() - started)
            reviews = DailyReviews(config=config, store=store, sessions=sessions, clock=Clock())
            started = time.perf_counter()
            with sessions() as session:
                computed = reviews.compute_sites(session, [s.id for s in config.sites], DAY, field_readings={})
            review_s = time.perf_counter() - started
            checked, worst = check(computed, truth, expected_abnormal)
        finally:
            store.close()
            engine.dispose()
    print(f"    InfluxStore.aggregate of the day: {len(stats):,} series over {rows:,} samples in {timings[0]:.1f} s, "
          f"again {timings[1]:.1f} s  (target < 30 s: {'met' if max(timings) < 30 else 'MISSED'})")
    print(f"    the whole review (aggregate, flags, canonical JSON) of {len(config.sites)} sites: {review_s:.1f} s")
    print(f"    check: {checked:,} series equal numpy (worst difference {worst:.2g}, the review rounds to 6 decimals); "
          f"abnormal stations = the {len(expected_abnormal)} injected ones")


def main(argv: list[str] | None = None) -> None:
    from tests.servers import VictoriaMetrics

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=480_000, help="points per write run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stations", type=int, default=1000, help="the review's day: 1000 = 69 M samples")
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--skip-review", action="store_true")
    args = parser.parse_args(argv)
    # A review over 69 M samples may take longer than the default 30 s query limit: measured, not cut off.
    with tempfile.TemporaryDirectory() as tmp, \
            VictoriaMetrics(Path(tmp) / "vm", extra_flags=("-search.maxQueryDuration=300s",)) as server:
        if not args.skip_writes:
            bench_writes(server.url, args.points, args.rounds)
        if not args.skip_review:
            bench_review(server.url, server.force_flush, args.stations, args.interval_s)


if __name__ == "__main__":
    main()
