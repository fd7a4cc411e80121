"""Polls/s through one RTU-over-TCP gateway: the product's path vs a bare pymodbus loop.

    python -m bench.bench_gateway [--stations 8] [--seconds 10] [--warmup-s 3]

One simulator process (``python -m sitewatch.simulators.regulator serve --gateway-stations N``, a
subprocess started and stopped here, so its CPU is not charged to this process) serves one
gateway carrying RTU frames over TCP, N regulator stations behind it at device ids 1..N.
Against it, in this process and one after the other:

- bare: one ``AsyncModbusTcpClient`` with the RTU framer reading the same 18 holding
  registers of device id 1, 2, ... N, 1, ... back to back (no decoding);
- product: ``sitewatch.jobs.modbus_jobs`` on a config with one ``modbus_gateway`` asset
  (``framing = "rtu_over_tcp"``) and N stations behind it, run by the ``Scheduler``: one
  shared connection, its lock, each poll read and decoded per profile, samples handed to a
  sink that counts them. The station jobs get ``interval_s=0`` (as bench_collector does:
  the next poll as soon as the last ends); the gateway's own job keeps its 1 s interval.

Both sides go one request at a time on one connection, so both are bound by the round trip
(this process, loopback, the simulator); the product's cost on top shows in the ratio and
in the CPU per poll (process CPU seconds / polls). For the product the longest gap between
two polls of one station tells whether the lock serves all N stations in turn.

One run on the 2-core machine (8 stations, 10 s windows): bare 2,752 reads/s at 126 us CPU
a read; product 1,992 polls/s (one read each) at 238 us a poll: ratio 0.72, 1.9x the CPU.
Every station 2,490 polls in the window; the longest gap 11.9 ms (99th percentile 6.7 ms)
against a round of 4.0 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient

from bench.bench_collector import Simulator, Window, measure
from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.modbus.decode import plan_reads
from sitewatch.collector.results import PollResult
from sitewatch.collector.scheduler import PollJob, Scheduler
from sitewatch.components import tune_garbage_collector
from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo import example_config
from sitewatch.domain.samples import Sample
from sitewatch.jobs import modbus_jobs

PROFILE = "regulator-v1"
REGISTERS = 18  # the profile's one read: wire addresses 0-17
GATEWAY = "gw-bench"
GATEWAY_POLL_S = 1.0
STATION_TIMEOUT_S = 1.0
STOP_TIMEOUT_S = 20.0


# --- bare pymodbus ---------------------------------------------------------------------


async def bare(port: int, stations: int, sim: Simulator, *, warmup_s: float,
               seconds: float) -> tuple[Window, int]:
    """One RTU-over-TCP client reading device id after device id."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port, framer=FramerType.RTU)
    count = errors = 0
    stop = False

    async def loop() -> None:
        nonlocal count, errors
        device_id = 0
        # A flag, not only cancel(): a cancel landing inside pymodbus' request is not
        # always propagated, and such a loop would never end.
        while not stop:
            device_id = device_id % stations + 1
            reply = await client.read_holding_registers(0, count=REGISTERS, device_id=device_id)
            if reply.isError() or len(reply.registers) != REGISTERS:
                errors += 1
            else:
                count += 1

    try:
        if not await client.connect():
            raise RuntimeError(f"bare: cannot connect to the gateway on port {port}")
        task = asyncio.create_task(loop())
        try:
            window = await measure(lambda: count, sim, warmup_s=warmup_s, seconds=seconds)
        finally:
            stop = True
            await asyncio.wait((task,), timeout=5.0)
            task.cancel()
            await asyncio.wait((task,), timeout=5.0)
    finally:
        client.close()
    return window, errors


# --- the product's path ----------------------------------------------------------------


def gateway_config(port: int, stations: int, data_dir: Path) -> Config:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    station = raw["assets"][0]
    gateway = {
        "id": GATEWAY, "site": station["site"], "kind": "modbus_gateway", "name": "Bench DTU",
        "poll_interval_s": GATEWAY_POLL_S,
        "modbus_gateway": {"framing": "rtu_over_tcp", "host": "127.0.0.1", "port": port, "timeout_s": 2.0},
    }
    raw["assets"] = [gateway] + [
        {
            "id": f"rs-{n:03d}",
            "site": station["site"],
            "kind": station["kind"],
            "name": f"Regulator station {n:03d}",
            "poll_interval_s": 0.05,  # the model's minimum; the jobs get 0 below
            "modbus": {"gateway": GATEWAY, "device_id": n, "profile": PROFILE, "timeout_s": STATION_TIMEOUT_S},
            "limits": station["limits"],
        }
        for n in range(1, stations + 1)
    ]
    return config_from_dict(raw, source="bench_gateway")


class CountingSink:
    """Where the scheduler publishes: counts the stations' samples and drops them (no store)."""

    def __init__(self) -> None:
        self.samples = 0

    async def publish(self, samples: Sequence[Sample]) -> None:
        # One publish is one job's poll: the gateway's own (connected, stations_answering)
        # are not the stations'.
        if samples and samples[0].asset_id != GATEWAY:
            self.samples += len(samples)


def timed(job: PollJob, marks: dict[str, list[float]]) -> PollJob:
    """The job, noting the loop time at which each of its polls succeeds."""
    loop = asyncio.get_running_loop()
    done = marks.setdefault(job.device_id, [])

    async def poll(ts: datetime) -> PollResult:
        result = await job.poll(ts)
        done.append(loop.time())
        return result

    return dataclasses.replace(job, poll=poll)


@dataclasses.dataclass
class ProductResult:
    window: Window
    polls_ok: int  # whole run
    polls_failed: int
    samples: int  # whole run
    channels: int
    reads_per_poll: int
    longest_gap_s: float  # between two polls of one station, inside the window
    gap_p99_s: float
    per_station: tuple[int, int]  # fewest and most polls of one station inside the window


async def product(port: int, stations: int, sim: Simulator, data_dir: Path, *, warmup_s: float,
                  seconds: float) -> ProductResult:
    config = gateway_config(port, stations, data_dir)
    channels = len(config.profile(PROFILE).registers)
    health = HealthRegistry(offline_after_failures=config.collector.offline_after_failures)
    sink = CountingSink()
    marks: dict[str, list[float]] = {}
    jobs = [job if job.device_id == GATEWAY else timed(dataclasses.replace(job, interval_s=0.0), marks)
            for job in modbus_jobs(config)]
    reads_per_poll = len(plan_reads(config.profile(PROFILE)))
    scheduler = Scheduler(jobs=jobs, sink=sink, health=health, settings=config.collector)
    task = asyncio.create_task(scheduler.run(), name="scheduler-under-test")
    loop = asyncio.get_running_loop()
    try:
        window = await measure(lambda: _station_polls(health), sim, warmup_s=warmup_s, seconds=seconds)
        end = loop.time()
    finally:
        task.cancel()
        # Bounded: on Python 3.11 a cancel can be swallowed by asyncio.wait_for inside
        # pymodbus when the reply lands at the same moment; never hang the benchmark.
        await asyncio.wait((task,), timeout=STOP_TIMEOUT_S)
    if not task.done():
        raise RuntimeError(f"the scheduler did not stop within {STOP_TIMEOUT_S} s of being cancelled")
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    start = end - window.wall_s
    inside = {station: [t for t in times if start <= t <= end] for station, times in marks.items()}
    gaps = sorted(b - a for times in inside.values() for a, b in itertools.pairwise(times))
    counts = [len(times) for times in inside.values()]
    polls_ok, polls_failed = _station_totals(health)
    return ProductResult(window, polls_ok, polls_failed, sink.samples, channels, reads_per_poll,
                         gaps[-1], gaps[len(gaps) * 99 // 100], (min(counts), max(counts)))


def _station_polls(health: HealthRegistry) -> int:
    return sum(r.polls_ok for r in health.all() if r.device_id != GATEWAY)


def _station_totals(health: HealthRegistry) -> tuple[int, int]:
    records = [r for r in health.all() if r.device_id != GATEWAY]
    return sum(r.polls_ok for r in records), sum(r.polls_failed for r in records)


# --- main ------------------------------------------------------------------------------


async def run(args: argparse.Namespace, sim: Simulator, port: int) -> int:
    print(f"gateway: RTU over TCP, {args.stations} stations behind one port   window: {args.seconds:.0f} s "
          f"after {args.warmup_s:.0f} s warm-up   cores: {os.cpu_count()}", flush=True)

    b, bare_errors = await bare(port, args.stations, sim, warmup_s=args.warmup_s, seconds=args.seconds)
    print(f"bare pymodbus:  {b.rate:8,.0f} reads/s  ({b.count:,} reads in {b.wall_s:.2f} s, {bare_errors} error "
          f"replies; CPU here {b.cpu_pct:.0f} % = {b.cpu_us_each:.0f} us/read, simulator {b.sim_cpu_pct:.0f} %)",
          flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        r = await product(port, args.stations, sim, Path(tmp), warmup_s=args.warmup_s, seconds=args.seconds)
    w = r.window
    print(f"product:        {w.rate:8,.0f} polls/s  = {w.rate * r.reads_per_poll:,.0f} reads/s "
          f"({w.count:,} polls in {w.wall_s:.2f} s, {r.reads_per_poll} read(s) a poll; CPU here {w.cpu_pct:.0f} % "
          f"= {w.cpu_us_each:.0f} us/poll, simulator {w.sim_cpu_pct:.0f} %)")
    ratio = w.rate * r.reads_per_poll / b.rate
    print(f"ratio product/bare (reads/s): {ratio:.2f}; CPU per poll / per bare read: "
          f"{w.cpu_us_each / b.cpu_us_each:.1f}x")
    fewest, most = r.per_station
    print(f"fairness: longest gap between two polls of one station {r.longest_gap_s * 1000:.1f} ms, "
          f"99th percentile {r.gap_p99_s * 1000:.1f} ms (a round of {args.stations} polls: "
          f"{args.stations / w.rate * 1000:.1f} ms on average); polls per station in the window {fewest:,}-{most:,}")
    for side, x in (("bare", b), ("product", w)):
        if x.sim_cpu_pct >= 90:
            print(f"note: the {side} figure is bound by the simulator (one core), not by this process")

    expected = (r.polls_ok + r.polls_failed) * r.channels
    verdict = "OK" if r.samples == expected else f"MISMATCH ({r.samples - expected:+,})"
    print(f"samples {r.samples:,} == polls {r.polls_ok:,} ok + {r.polls_failed:,} failed x {r.channels} "
          f"channels = {expected:,}: {verdict}")
    return 0 if r.samples == expected and r.polls_failed == 0 and bare_errors == 0 else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends us like Ctrl-C: the finally below stops the simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=8, help="stations behind the gateway (default 8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measure window per side (default 10)")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="warm-up before each window (default 3)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _interrupt)
    tune_garbage_collector()  # as `sitewatch run` does; both sides share it
    started = time.perf_counter()
    sim = Simulator(1, gateway_stations=args.stations)
    try:
        sim.wait_ready()
        [port] = sim.gateway_ports
        rc = asyncio.run(run(args, sim, port))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        rc = 130
    finally:
        sim.stop()
    print(f"total run: {time.perf_counter() - started:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
