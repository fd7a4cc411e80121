"""Fleet benchmark (issue 14): the whole production set-up, with real processes, on this machine.

    python -m bench.bench_fleet [--workers 1|2|both] [--minutes M] [--scale F] [--warmup-s S]
                                [--kinds stations,cameras,hosts] [--keep-logs DIR]

5,000 regulator stations polled every 10 s, 10,000 ONVIF cameras every 60 s and 1,000 MQTT
alarm hosts (``--scale 0.1``: a tenth of each), all simulated (simulators/, a few processes
each, bench/fleet_procs.py), watched by 1 or 2 ``sitewatch run --roles collector,rules``
worker processes (2: ``[cluster] shards = 8``, the workers share the shards through leases)
with records in a fresh PostgreSQL database, samples on a VictoriaMetrics of their own and
alarm hosts on the machine's Mosquitto (topic prefix and client ids of this run only). The
configuration is the shipped example's (profile, rules, SLA zones) with these assets
(bench/fleet_config.py). Each case starts everything afresh and stops it all at the end.

Measured over a window of M minutes after a warm-up (bench/fleet_measure.py):
- CPU (% of one core) and peak RSS per process and role: workers, each simulator kind,
  VictoriaMetrics, our database's PostgreSQL backends, Mosquitto (shared with the machine);
- polls: every station's and camera's samples in VictoriaMetrics against one per interval,
  and the polls late by more than one interval (a gap over two intervals; target: none);
- sample -> ticket: 20 stations get a ``regulator_failure`` at known times spread over the
  window; the ``outlet-high`` rule (2.9 kPa for 10 s) opens a ticket whose ``opened_at`` is
  the time of the sample that fired it. Reported: that sample -> the ticket visible in
  PostgreSQL (the pipeline's latency), and injection -> visible (adds the fault's rise, the
  rule's 10 s and the poll phase);
- load on PostgreSQL (commits, rows per second) and VictoriaMetrics (rows per second);
- the workers' warnings, errors and poll timeouts, counted by kind.

Figures, and what they imply for sizing: deploy/SIZING.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import fleet_measure as m
from bench import fleet_procs as p
from bench.fleet_config import (
    CAMERA_INTERVAL_S,
    STATION_INTERVAL_S,
    Database,
    Device,
    fleet_config,
    put_camera_credential,
    to_toml,
    write_key_file,
)

FULL = {"stations": 5000, "cameras": 10000, "hosts": 1000}
SHARDS_FOR_TWO = 8
INJECTIONS = 20
FAULT = "regulator_failure"
RUNNING_LINE = "Sitewatch is running"
WORKER_START_TIMEOUT_S = 300.0
SETTLE_S = 5.0  # after the window: the last samples flushed to the store before reading it


@dataclass
class Case:
    workers: int
    stations: int
    cameras: int
    hosts: int
    window_s: float
    worker_start_s: list[float]
    usage: dict[str, p.Usage]
    machine_busy_pct: float
    station_polls: m.Polls
    camera_polls: m.Polls
    alarm_samples: int
    detect_s: list[float]  # injection -> the firing sample (opened_at)
    sample_to_ticket_s: list[float]
    inject_to_ticket_s: list[float]
    missed_injections: int
    tickets_by_rule: dict[str, int]
    db: dict[str, int]
    vm_rows: int
    log_kinds: collections.Counter[str]  # the workers' warnings and errors, and poll timeouts


def run_case(workers: int, *, scale: float, kinds: frozenset[str], warmup_s: float, window_s: float,
             keep_logs: Path | None) -> Case:
    counts = {k: max(1, round(v * scale)) if k in kinds else 0 for k, v in FULL.items()}
    run_id = uuid.uuid4().hex[:10]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-fleet-{run_id}-"))
    logs = tmp / "logs"
    logs.mkdir()
    database = Database(f"bench_fleet_{run_id}")
    children: list[p.Child] = []
    vm = None
    watcher = None
    try:
        from tests.servers import VictoriaMetrics

        vm = VictoriaMetrics(tmp / "vm")
        vm.start()
        topic_prefix = f"bench-fleet/{run_id}"
        stations = p.regulator_simulators(counts["stations"], logs)
        cameras = p.camera_simulators(counts["cameras"], logs)
        hosts = p.alarmhost_simulators(counts["hosts"], logs, topic_prefix=topic_prefix, run_id=run_id)
        children += [*stations, *cameras, *hosts]
        t = time.monotonic()
        for sim in children:
            sim.wait_ready()
        print(f"  simulators ready in {time.monotonic() - t:.0f} s "
              f"({len(stations)} regulator, {len(cameras)} camera, {len(hosts)} alarm-host processes)", flush=True)
        station_devices, camera_devices = _devices("rs", stations), _devices("cam", cameras)
        host_devices = [Device(parts[0], 0, parts[0], sim.control) for sim in hosts for parts in sim.lines]

        database.create()
        config_path = tmp / "sitewatch.toml"
        raw = fleet_config(run_id=run_id, data_dir=tmp / "data", database_url=database.url, vm_url=vm.url,
                           key_file=write_key_file(tmp / "vault.key"), stations=station_devices,
                           cameras=camera_devices, hosts=host_devices,
                           shards=SHARDS_FOR_TWO if workers > 1 else 1)
        config_path.write_text(to_toml(raw))
        put_camera_credential(config_path)  # also brings the new database to the schema

        watcher = m.TicketWatcher(database.url)
        watcher.start()
        started = time.monotonic()
        procs = [p.worker(n, config_path, logs) for n in range(workers)]
        children += procs
        worker_start_s = [_wait_running(w, started) for w in procs]
        print(f"  {workers} worker(s) running after {', '.join(f'{s:.0f}' for s in worker_start_s)} s; "
              f"warm-up {warmup_s:.0f} s", flush=True)
        _sleep_checking(warmup_s, children)

        roles = {"worker": [w.pid for w in procs], "sim-regulator": [s.pid for s in stations],
                 "sim-camera": [s.pid for s in cameras], "sim-alarmhost": [s.pid for s in hosts],
                 "victoria-metrics": [vm._process.pid] if vm._process else [],
                 "postgres (our db)": m.db_backend_pids(database.url, database.name),
                 "mosquitto (shared)": p.server_pids("mosquitto")}
        meter = p.Meter({role: pids for role, pids in roles.items() if pids})
        db0, vm0 = m.db_counters(database.url, database.name), m.vm_rows_inserted(vm.url)
        t0 = datetime.now(UTC)
        meter.start()
        injected = _inject_spread(station_devices, stations, window_s, children)
        _sleep_checking(window_s - (datetime.now(UTC) - t0).total_seconds(), children)
        t1 = datetime.now(UTC)
        meter.stop()
        db1, vm1 = m.db_counters(database.url, database.name), m.vm_rows_inserted(vm.url)
        time.sleep(SETTLE_S)
        watcher.stop()
        vm.force_flush()
        station_polls = m.poll_counts(vm.url, channel="outlet_kpa", start=t0, end=t1, interval_s=STATION_INTERVAL_S,
                                      devices=len(station_devices), kind_prefix="rs-")
        camera_polls = m.poll_counts(vm.url, channel="reachable", start=t0, end=t1, interval_s=CAMERA_INTERVAL_S,
                                     devices=len(camera_devices), kind_prefix="cam-")
        alarm = m.alarm_messages(vm.url, start=t0, end=t1, prefix="ah-")
        detect, to_ticket, end_to_end, missed = _latencies(injected, watcher.tickets)
        return Case(
            workers, len(station_devices), len(camera_devices), len(host_devices), (t1 - t0).total_seconds(),
            worker_start_s, meter.usage, meter.machine_busy_pct, station_polls, camera_polls, alarm,
            detect, to_ticket, end_to_end, missed,
            dict(collections.Counter(t.rule_id or "?" for t in watcher.tickets)),
            {k: db1[k] - db0[k] for k in db0}, vm1 - vm0,
            sum((m.log_summary(w.log.read_text(errors="replace")) for w in procs), collections.Counter()),
        )
    finally:
        if watcher is not None and watcher._thread.is_alive():
            watcher.stop()
        for child in children:
            child.terminate()
        for child in reversed(children):
            child.stop()
        if vm is not None:
            vm.stop()
        database.drop()
        if keep_logs is not None:
            shutil.copytree(logs, keep_logs / f"workers{workers}-{run_id}", dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _devices(prefix: str, sims: list[p.Simulator]) -> list[Device]:
    """Numbered across the simulator processes, each of which numbers its own from 1."""
    pairs = ((sim, sim_id, port) for sim in sims for sim_id, port in sim.ports())
    return [Device(f"{prefix}-{n:05d}", port, sim_id, sim.control) for n, (sim, sim_id, port) in enumerate(pairs, 1)]


def _wait_running(worker: p.Child, started: float) -> float:
    deadline = started + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if RUNNING_LINE in worker.log.read_text(errors="replace"):
            return time.monotonic() - started
        if not worker.alive():
            break
        time.sleep(0.5)
    raise RuntimeError(f"worker not running:\n{worker.log_tail()}")


def _sleep_checking(seconds: float, children: list[p.Child]) -> None:
    """Sleep, failing at once if a process of the fleet died."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        dead = [c for c in children if not c.alive()]
        if dead:
            raise RuntimeError(f"{dead[0].role} (pid {dead[0].pid}) died:\n{dead[0].log_tail()}")
        time.sleep(min(left, 1.0))


def _inject_spread(devices: list[Device], sims: list[p.Simulator], window_s: float,
                   children: list[p.Child]) -> dict[str, datetime]:
    """A fault in INJECTIONS stations spread over the fleet and over the window's first part
    (the last ticket needs ~25 s and the settle time to appear)."""
    by_control = {s.control: s for s in sims}
    chosen = devices[:: max(1, len(devices) // INJECTIONS)][:INJECTIONS]
    spacing = max(window_s - 40.0, 0.0) / max(len(chosen), 1)
    injected = {}
    for d in chosen:
        p.inject(by_control[d.control], d.sim_id, FAULT)
        injected[d.asset_id] = datetime.now(UTC)
        _sleep_checking(spacing, children)
    return injected


def _latencies(injected: dict[str, datetime], tickets: list[m.Ticket]) -> tuple[list[float], ...]:
    detect, to_ticket, end_to_end = [], [], []
    missed = 0
    for asset_id, at in injected.items():
        found = [t for t in tickets if t.asset_id == asset_id and t.opened_at >= at - timedelta(seconds=1)]
        if not found:
            missed += 1
            continue
        t = found[0]
        detect.append((t.opened_at - at).total_seconds())
        to_ticket.append((t.seen_at - t.opened_at).total_seconds())
        end_to_end.append((t.seen_at - at).total_seconds())
    return detect, to_ticket, end_to_end, missed


# --- the report ---------------------------------------------------------------------------------


def report(c: Case) -> None:
    w = c.window_s
    print(f"\n== {c.workers} worker(s): {c.stations:,} stations @ {STATION_INTERVAL_S:.0f} s, {c.cameras:,} cameras "
          f"@ {CAMERA_INTERVAL_S:.0f} s, {c.hosts:,} alarm hosts; window {w:.0f} s ==")
    cores = os.cpu_count() or 1
    ours = sum(100 * u.cpu_s / w for u in c.usage.values())
    print(f"machine CPU busy: {c.machine_busy_pct:.0f} % of {cores} cores; the roles below "
          f"{ours:.0f} % of a core, other processes on the machine {c.machine_busy_pct * cores - ours:.0f} %")
    print(f"{'role':22} {'procs':>5} {'CPU % of a core':>16} {'peak RSS/proc MB':>17} {'RSS all MB':>11}")
    for role, u in c.usage.items():
        print(f"{role:22} {u.processes:5d} {100 * u.cpu_s / w:16.0f} {u.peak_rss_mb:17.0f} {u.total_rss_mb:11.0f}")
    for name, polls in (("stations", c.station_polls), ("cameras", c.camera_polls)):
        print(f"polls, {name}: {polls.found:,} of {polls.expected:,.0f} expected ({polls.found_pct:.1f} %); "
              f"failed {polls.failed:,}; held back (NOT_POLLED) {polls.held_back:,}; "
              f"late by > 1 interval: {polls.late:,}; "
              f"devices never seen: {polls.missing_devices:,}; "
              f"gap p50 {polls.gap_p50_s:.1f} s, p99 {polls.gap_p99_s:.1f} s, max {polls.gap_max_s:.1f} s")
    print(f"alarm-host samples: {c.alarm_samples:,} ({c.alarm_samples / w:.1f}/s)")
    for label, values in (("sample -> ticket visible", c.sample_to_ticket_s),
                          ("injection -> firing sample", c.detect_s),
                          ("injection -> ticket visible", c.inject_to_ticket_s)):
        p50, p99, worst = m.percentiles(values)
        print(f"{label:28} p50 {p50:6.1f} s  p99 {p99:6.1f} s  max {worst:6.1f} s  (n={len(values)})")
    print(f"injected faults without a ticket: {c.missed_injections}")
    print(f"tickets by rule (whole run): {dict(sorted(c.tickets_by_rule.items()))}")
    print(f"PostgreSQL: {c.db['xact_commit'] / w:,.0f} commits/s, {c.db['tup_inserted'] / w:,.0f} rows inserted/s, "
          f"{c.db['tup_updated'] / w:,.0f} updated/s, {c.db['tup_fetched'] / w:,.0f} fetched/s")
    print(f"VictoriaMetrics: {c.vm_rows / w:,.0f} rows/s inserted")
    print("worker log, whole run (warnings, errors, poll timeouts):")
    for kind, n in c.log_kinds.most_common(8):
        print(f"  {n:7,d}  {kind}")
    sys.stdout.flush()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends us like Ctrl-C: the finally blocks stop everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_fleet", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", choices=("1", "2", "both"), default="both")
    parser.add_argument("--minutes", type=float, default=3.0, help="measured window per case (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full fleet (default 1)")
    parser.add_argument("--warmup-s", type=float, default=90.0, help="after the workers start (default 90)")
    parser.add_argument("--kinds", default="stations,cameras,hosts",
                        help="which part of the fleet (default all: stations,cameras,hosts); faults need stations")
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs into this folder")
    args = parser.parse_args(argv)
    kinds = frozenset(args.kinds.split(","))
    if not kinds or not kinds <= FULL.keys():
        parser.error(f"--kinds: a comma-separated choice of {', '.join(FULL)}")
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"command: python -m bench.bench_fleet {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    cases = [1, 2] if args.workers == "both" else [int(args.workers)]
    try:
        for workers in cases:
            print(f"case: {workers} worker(s), scale {args.scale}", flush=True)
            report(run_case(workers, scale=args.scale, kinds=kinds, warmup_s=args.warmup_s,
                            window_s=args.minutes * 60, keep_logs=args.keep_logs))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
