"""Collector throughput: polls/s through the product's path vs a bare pymodbus read loop.

    python -m bench.bench_collector [--stations 500] [--seconds 10] [--warmup-s 3]
                                    [--collector pipeline|store]

One simulator process (``python -m sitewatch.simulators.regulator serve``, a subprocess started and
stopped here, so its CPU is not charged to this process) serves N regulator stations on
loopback. Against it, in this process and one after the other:

- bare: N ``AsyncModbusTcpClient``, each reading the same 18 holding registers in a tight
  loop (no decoding, no storing);
- collector: the real path — ``sitewatch.pipeline.Pipeline`` (Scheduler + ModbusPoller
  read and decode per profile + SampleBus + the DuckDBStore writer loop + the rules
  worker) on a config whose assets are the simulated stations. ``--collector store`` drops
  the rules worker: Scheduler + SampleBus + the same store loop into DuckDBStore, to show
  what the rules cost.

Both sides are throughput-bound: the collector's jobs get ``interval_s=0`` (the config
model refuses < 0.05 s, so the jobs are rebuilt with ``dataclasses.replace``), which makes
the scheduler's random start delay and jitter 0 too. Each side is measured over a fixed
window after a warm-up: bare by its read counters, the collector by the HealthRegistry's
``polls_ok`` and the rows stored with a timestamp inside the window. After the pipeline
stops (its shutdown writes whatever was queued), every stored row is counted and must equal
polls x channels. CPU shares are process CPU seconds / wall seconds (100 % = one core); the
event-loop thread's share is also shown alone (the collector's other threads write DuckDB and
run the rules' database work).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import duckdb
from pymodbus.client import AsyncModbusTcpClient

from sitewatch.bus import SampleBus, drain
from sitewatch.collector.health import HealthRegistry
from sitewatch.collector.scheduler import PollJob, Scheduler
from sitewatch.components import build_components, tune_garbage_collector
from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo import example_config
from sitewatch.domain.time import UTC
from sitewatch.jobs import modbus_jobs
from sitewatch.pipeline import Pipeline
from sitewatch.storage.duckdb_store import DuckDBStore

PROFILE = "regulator-v1"
REGISTERS = 18  # the profile's one read: wire addresses 0-17
SIMULATOR_START_TIMEOUT_S = 60.0
SIMULATOR_STOP_TIMEOUT_S = 10.0
TARGET_RATIO = 0.8
STOP_TIMEOUT_S = 20.0


# --- the simulator subprocess ----------------------------------------------------------


class Simulator:
    """``python -m sitewatch.simulators.regulator serve`` in its own session; always stopped by ``stop``.
    ``ports``: the stations' own ports; ``gateway_ports``: the simulated gateway's, when
    ``gateway_stations`` stations sit behind one."""

    def __init__(self, stations: int, *, seed: int = 2026, gateway_stations: int = 0) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        behind = ["--gateway-stations", str(gateway_stations)] if gateway_stations else []
        # Own session: a Ctrl-C in the terminal reaches only us; we stop the child ourselves.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sitewatch.simulators.regulator", "serve",
             "--stations", str(stations), "--seed", str(seed), *behind],
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, start_new_session=True,
        )
        self.ports: list[int] = []
        self.gateway_ports: list[int] = []

    def wait_ready(self) -> list[int]:
        # The child block-buffers its station lines until the flushed "control" line; a
        # watchdog kills it if that never comes, which ends the read below with EOF.
        watchdog = threading.Timer(SIMULATOR_START_TIMEOUT_S, self.process.kill)
        watchdog.start()
        try:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith("control "):
                    return self.ports
                # "rs-001 HOST:PORT device_id=1", "gw-01 HOST:PORT rtu_over_tcp", or a station
                # behind it: "gw-01-rs-001 HOST:PORT device_id=1 gateway=gw-01" (its gateway's port).
                _, address, *rest = line.split()
                port = int(address.rpartition(":")[2])
                if rest == ["rtu_over_tcp"]:
                    self.gateway_ports.append(port)
                elif len(rest) == 1:
                    self.ports.append(port)
        finally:
            watchdog.cancel()
        raise RuntimeError(f"simulator exited before it was ready:\n{self.stderr_tail()}")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) used by the simulator so far."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stderr_tail(self, lines: int = 20) -> str:
        self._stderr.seek(0)
        return "".join(self._stderr.readlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the simulator closes its servers and exits
            try:
                self.process.wait(SIMULATOR_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


# --- measuring -------------------------------------------------------------------------


@dataclasses.dataclass
class Window:
    wall_s: float
    count: int  # reads or polls inside the window
    cpu_pct: float  # this process
    sim_cpu_pct: float  # the simulator process
    loop_cpu_pct: float  # this process's event-loop thread alone (the rest: store, rules, DuckDB threads)

    @property
    def rate(self) -> float:
        return self.count / self.wall_s

    @property
    def cpu_us_each(self) -> float:
        """CPU of this process per read or poll, in microseconds."""
        return self.cpu_pct / 100 * self.wall_s / max(self.count, 1) * 1e6

    @property
    def loop_us_each(self) -> float:
        """CPU of the event-loop thread per read or poll, in microseconds."""
        return self.loop_cpu_pct / 100 * self.wall_s / max(self.count, 1) * 1e6


async def measure(counter: Callable[[], int], sim: Simulator, *, warmup_s: float, seconds: float) -> Window:
    await asyncio.sleep(warmup_s)
    # thread_time: this coroutine runs on the event-loop thread, which polls (or reads).
    c0, w0, p0, s0, t0 = counter(), time.perf_counter(), time.process_time(), sim.cpu_s(), time.thread_time()
    await asyncio.sleep(seconds)
    c1, w1, p1, s1, t1 = counter(), time.perf_counter(), time.process_time(), sim.cpu_s(), time.thread_time()
    wall = w1 - w0
    return Window(wall, c1 - c0, 100 * (p1 - p0) / wall, 100 * (s1 - s0) / wall, 100 * (t1 - t0) / wall)


async def bare(ports: list[int], sim: Simulator, *, warmup_s: float, seconds: float) -> tuple[Window, int]:
    """N plain pymodbus clients, each reading the 18 registers back to back."""
    clients = [AsyncModbusTcpClient("127.0.0.1", port=port) for port in ports]
    counts = [0] * len(clients)
    errors = [0]
    stop = False

    async def loop(i: int, client: AsyncModbusTcpClient) -> None:
        # A flag, not only cancel(): a cancel landing inside pymodbus' request is not
        # always propagated, and such a loop would never end.
        while not stop:
            reply = await client.read_holding_registers(0, count=REGISTERS, device_id=1)
            if reply.isError() or len(reply.registers) != REGISTERS:
                errors[0] += 1
            else:
                counts[i] += 1

    try:
        connected = await asyncio.gather(*(c.connect() for c in clients))
        if not all(connected):
            raise RuntimeError(f"bare: {connected.count(False)} client(s) could not connect")
        tasks = [asyncio.create_task(loop(i, c)) for i, c in enumerate(clients)]
        try:
            window = await measure(lambda: sum(counts), sim, warmup_s=warmup_s, seconds=seconds)
        finally:
            stop = True
            await asyncio.wait(tasks, timeout=5.0)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5.0)
    finally:
        for client in clients:
            client.close()
    return window, errors[0]


def collector_config(ports: list[int], data_dir: Path) -> Config:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    asset = raw["assets"][0]
    raw["assets"] = [
        {
            "id": f"rs-{n:03d}",
            "site": asset["site"],
            "kind": asset["kind"],
            "name": f"Regulator station {n:03d}",
            "poll_interval_s": 0.05,  # the model's minimum; the jobs get 0 below
            "modbus": {"host": "127.0.0.1", "port": port, "device_id": 1, "profile": PROFILE, "timeout_s": 2.0},
            "limits": asset["limits"],
        }
        for n, port in enumerate(ports, start=1)
    ]
    return config_from_dict(raw, source="bench_collector")


def flat_out(jobs: list[PollJob]) -> list[PollJob]:
    """Interval 0: no start delay, no jitter, the next poll as soon as the last one ends."""
    return [dataclasses.replace(job, interval_s=0.0) for job in jobs]


def polls(health: HealthRegistry) -> tuple[int, int]:
    records = health.all()
    return sum(r.polls_ok for r in records), sum(r.polls_failed for r in records)


class Tally:
    """Polls of the whole run, also of records the pipeline forgets when it releases its
    shards at shutdown (counted as they are forgotten, so the stored rows can be checked)."""

    def __init__(self, health: HealthRegistry) -> None:
        self._health = health
        self._forget = health.forget
        self.forgotten_ok = self.forgotten_failed = 0
        health.forget = self._counting_forget  # type: ignore[method-assign]

    def _counting_forget(self, device_ids: Iterable[str]) -> None:
        device_ids = list(device_ids)
        known = {r.device_id: r for r in self._health.all()}
        for device_id in device_ids:
            if device_id in known:
                self.forgotten_ok += known[device_id].polls_ok
                self.forgotten_failed += known[device_id].polls_failed
        self._forget(device_ids)

    def polls(self) -> tuple[int, int]:
        ok, failed = polls(self._health)
        return ok + self.forgotten_ok, failed + self.forgotten_failed


@dataclasses.dataclass
class CollectorResult:
    window: Window
    window_rows: int  # rows stored whose ts lies inside the window
    polls_ok: int  # whole run
    polls_failed: int
    rows: int  # whole run
    bad_rows: int  # quality != GOOD
    channels: int


async def collector(
    ports: list[int], sim: Simulator, data_dir: Path, *, path: str, warmup_s: float, seconds: float
) -> CollectorResult:
    config = collector_config(ports, data_dir)
    channels = len(config.profile(PROFILE).registers)
    parts = build_components(config)
    tally = Tally(parts.health)
    try:
        jobs = flat_out(modbus_jobs(config))
        if path == "pipeline":
            pipeline = Pipeline(parts, jobs=jobs)
            runner = pipeline.run()
        else:
            runner = store_only(parts.store, parts.health, config, jobs)
        task = asyncio.create_task(runner, name="collector-under-test")
        try:
            t0 = datetime.now(UTC)
            window = await measure(lambda: tally.polls()[0], sim, warmup_s=warmup_s, seconds=seconds)
            t1 = datetime.now(UTC)
            t0 = t1 - (t1 - t0) * (window.wall_s / (window.wall_s + warmup_s))  # start of window
        finally:
            task.cancel()
            # Bounded: on Python 3.11 a cancel can be swallowed by asyncio.wait_for inside
            # pymodbus when the reply lands at the same moment; never hang the benchmark.
            await asyncio.wait((task,), timeout=STOP_TIMEOUT_S)
        if not task.done():
            raise RuntimeError(f"the collector did not stop within {STOP_TIMEOUT_S} s of being cancelled")
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        polls_ok, polls_failed = tally.polls()
    finally:
        parts.close()
    path_db = data_dir / config.storage.timeseries_path
    with duckdb.connect(str(path_db), read_only=True) as con:
        rows, bad = con.execute("SELECT count(*), count(*) FILTER (WHERE quality <> 0) FROM samples").fetchone()
        (window_rows,) = con.execute(
            "SELECT count(*) FROM samples WHERE ts >= $t0 AND ts < $t1",
            {"t0": t0.replace(tzinfo=None), "t1": t1.replace(tzinfo=None)},
        ).fetchone()
    return CollectorResult(window, window_rows, polls_ok, polls_failed, rows, bad, channels)


async def store_only(store: DuckDBStore, health: HealthRegistry, config: Config, jobs: list[PollJob]) -> None:
    """Scheduler -> SampleBus -> the store loop of Pipeline, without the rules worker."""
    bus = SampleBus()
    queue = bus.subscribe()
    scheduler = Scheduler(jobs=jobs, sink=bus, health=health, settings=config.collector)

    async def store_loop() -> None:
        while True:
            await asyncio.sleep(config.storage.flush_interval_s)
            samples = drain(queue).samples
            if samples:
                await asyncio.to_thread(store.write, samples)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(scheduler.run())
            group.create_task(store_loop())
    finally:
        rest = drain(queue).samples
        if rest:
            await asyncio.shield(asyncio.to_thread(store.write, rest))


# --- main ------------------------------------------------------------------------------


async def run(args: argparse.Namespace, sim: Simulator) -> int:
    ports = sim.ports
    print(f"stations: {len(ports)}   window: {args.seconds:.0f} s after {args.warmup_s:.0f} s warm-up   "
          f"collector path: {args.collector}   cores: {os.cpu_count()}", flush=True)

    b, bare_errors = await bare(ports, sim, warmup_s=args.warmup_s, seconds=args.seconds)
    print(f"bare pymodbus:   {b.rate:9,.0f} reads/s  ({b.count:,} reads in {b.wall_s:.2f} s, "
          f"{bare_errors} error replies; CPU here {b.cpu_pct:.0f} % = {b.cpu_us_each:.0f} us/read, "
          f"of which event loop {b.loop_us_each:.0f}; simulator {b.sim_cpu_pct:.0f} %)", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp:
        r = await collector(ports, sim, Path(tmp), path=args.collector, warmup_s=args.warmup_s, seconds=args.seconds)
    w = r.window
    print(f"collector:       {w.rate:9,.0f} polls/s  ({w.count:,} polls in {w.wall_s:.2f} s; "
          f"CPU here {w.cpu_pct:.0f} % = {w.cpu_us_each:.0f} us/poll, of which event loop {w.loop_us_each:.0f} "
          f"(other threads: store, rules, DuckDB); simulator {w.sim_cpu_pct:.0f} %)")
    print(f"samples stored:  {r.window_rows / w.wall_s:9,.0f} rows/s   (rows with ts inside the window)")
    ratio = w.rate / b.rate
    print(f"ratio collector/bare: {ratio:.2f}  (target >= {TARGET_RATIO}); "
          f"CPU per poll / per bare read: {w.cpu_us_each / b.cpu_us_each:.2f}x "
          f"(event-loop thread alone: {w.loop_us_each / b.loop_us_each:.2f}x)")
    for side, x in (("bare", b), ("collector", w)):
        if x.sim_cpu_pct >= 90:
            print(f"note: the {side} figure is bound by the simulator (one core), not by this process")

    expected = (r.polls_ok + r.polls_failed) * r.channels
    verdict = "OK" if r.rows == expected else f"MISMATCH ({r.rows - expected:+,})"
    print(f"stored rows {r.rows:,} == polls {r.polls_ok:,} ok + {r.polls_failed:,} failed x {r.channels} "
          f"channels = {expected:,}: {verdict}; rows not GOOD: {r.bad_rows:,}")
    return 0 if r.rows == expected else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends us like Ctrl-C: the finally below stops the simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_collector", description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0, help="measure window per side (default 10)")
    parser.add_argument("--warmup-s", type=float, default=3.0, help="warm-up before each window (default 3)")
    parser.add_argument("--collector", choices=("pipeline", "store"), default="pipeline",
                        help="pipeline: the real Pipeline (store + rules); store: without the rules worker")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _interrupt)
    tune_garbage_collector()  # as `sitewatch run` and `sitewatch demo` do; both sides share it
    started = time.perf_counter()
    sim = Simulator(args.stations)
    try:
        sim.wait_ready()
        rc = asyncio.run(run(args, sim))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        rc = 130
    finally:
        sim.stop()
    print(f"total run: {time.perf_counter() - started:.1f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
