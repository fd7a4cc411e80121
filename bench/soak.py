"""Soak (issue 15): a compressed hour of the demo fleet's life under the real service, with a
fault every minute and the broker and the database restarted twice.

    python -m bench.soak [--minutes 60] [--compress 3] [--warmup-min 6] [--outage-s 10] [--keep DIR]

The fleet is the demo's (bench/soak_fleet.py: 20 regulator stations and 4 behind the DTU
gateway gw-01, 30 cameras, 5 alarm hosts, built by sitewatch/demo.py's functions), so the soak
judges what people see in ``sitewatch demo``; bench_fleet's thousands of devices measure
capacity, this measures staying power. It is watched by ``sitewatch run`` (all roles, one
process, the demo's configuration: bench/soak_plan.py) on production stores of this run alone:
a PostgreSQL cluster made by initdb in a temp folder and a Mosquitto, each on a free port
(bench/soak_servers.py), and a VictoriaMetrics for the samples. The machine's PostgreSQL and
Mosquitto are never touched.

Time is compressed by ``--compress`` F (bench/soak_plan.py says what is and is not): the
default, 60 fleet minutes at F = 3, runs in 20 wall minutes after a warm-up of 6 fleet minutes.
Every fleet minute one fault is injected through a simulator's control API and cleared after
its hold; the database and the broker are each stopped for ``--outage-s`` and started again,
twice, so that a fault falls inside each outage. Then (bench/soak_report.py): memory and tasks
after the warm-up and at the end, samples produced vs stored, alarm-host events published vs
stored, faults vs tickets (exactly one each), alerts left firing, loops restarted, errors.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import soak_measure as sm
from bench.fleet_config import put_camera_credential, to_toml, write_key_file
from bench.fleet_procs import ROOT, Child, Simulator
from bench.soak_plan import HOST_HEARTBEAT_S, Fault, fault_plan, restart_minutes, soak_config
from bench.soak_report import Soak, count_samples, report
from bench.soak_servers import PrivateMosquitto, PrivatePostgres, free_port
from sitewatch.demo import TOPIC_PREFIX

RUNNING_LINE = "Sitewatch is running"
START_TIMEOUT_S = 180.0
SERVICE_STOP_TIMEOUT_S = 60.0
READ_EVERY_S = 2.0
LEAD_S = 2.0  # a server stops this long before a fault is due: the fault falls inside the outage
CUT_S = 5.0  # alarm-host events stamped this long before the service is stopped must be stored by then
SETTLE_FLEET_S = 120.0  # after the last clear: durations run out, alerts resolve, the store catches up


@dataclass
class Injected:
    fault: Fault
    at: datetime
    cleared_at: datetime | None = None
    error: str | None = None


@dataclass
class Restart:
    server: str  # postgresql | mosquitto
    stopped_s: float
    started_s: float | None = None
    back_s: float | None = None  # the service had it again: database check ok / an alarm-host message accepted
    accepted_before: int | None = None
    stopped_at: datetime | None = None


@dataclass
class Timeline:
    """Everything that happened, in wall time since the start of the measured window."""

    injected: list[Injected] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    readings: list[sm.ProcessReading] = field(default_factory=list)
    minute_readings: list[sm.ProcessReading] = field(default_factory=list)


def run(opts: argparse.Namespace) -> Soak:
    run_id = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix=f"soak-{run_id}-"))
    os.chmod(tmp, 0o755)  # the database's and the broker's users must reach their folders
    logs = tmp / "logs"
    logs.mkdir()
    fleet_s = 60.0 / opts.compress  # one fleet minute in wall seconds
    pg = PrivatePostgres(tmp / "pg")
    broker = PrivateMosquitto(tmp / "mosquitto")
    vm = witness = None
    children: list[Child] = []
    try:
        from tests.servers import VictoriaMetrics

        pg.create()
        broker.start()
        vm = VictoriaMetrics(tmp / "vm")
        vm.start()
        witness = sm.Witness(port=broker.port, topic_prefix=TOPIC_PREFIX, client_id=f"soak-witness-{run_id}")
        witness.start()
        fleet = Simulator("fleet", ["bench.soak_fleet", "--broker-port", str(broker.port), "--topic-prefix",
                                    TOPIC_PREFIX, "--run-id", run_id, "--heartbeat-s",
                                    str(HOST_HEARTBEAT_S / opts.compress)], logs / "fleet.log")
        children.append(fleet)
        fleet.wait_ready()
        ports = json.loads(fleet.lines[0][0])
        api_port = free_port()
        config_path = tmp / "sitewatch.toml"
        raw = soak_config(factor=opts.compress, ports=ports, data_dir=tmp / "data", database_url=pg.url,
                          vm_url=vm.url, broker_port=broker.port, key_file=write_key_file(tmp / "vault.key"),
                          api_port=api_port)
        config_path.write_text(to_toml(raw))
        put_camera_credential(config_path)  # also brings the new database to the schema
        probe_file = tmp / "tasks.jsonl"
        started_at = datetime.now(UTC)
        service = Child("service", [sys.executable, "-m", "bench.soak_probe", str(probe_file), "run", "--config",
                                    str(config_path), "--metrics-port", "0"], logs / "service.log")
        children.append(service)
        metrics_url = _wait_running(service)
        api_url = f"http://127.0.0.1:{api_port}"
        print(f"  service running (pid {service.pid}); warm-up {opts.warmup_min:g} fleet min "
              f"= {opts.warmup_min * fleet_s:.0f} s", flush=True)

        timeline = Timeline()
        origin, origin_at = time.monotonic(), datetime.now(UTC)  # readings and events count from here
        window_s = opts.warmup_min * fleet_s  # where the measured window starts
        db_minutes, broker_minutes = restart_minutes(opts.minutes)
        plan = fault_plan(opts.minutes, broker_minutes=broker_minutes)
        events = _schedule(plan, ports["controls"], timeline, pg=pg, broker=broker, fleet_s=fleet_s,
                           outage_s=opts.outage_s, db_minutes=db_minutes, broker_minutes=broker_minutes,
                           minutes=opts.minutes, offset_s=window_s, origin=origin, api_url=api_url)
        watch = functools.partial(_watch, timeline, service, probe_file, origin=origin, api_url=api_url)
        watch(until_s=window_s)
        print(f"  soak: {len(plan)} faults over {opts.minutes} fleet min ({opts.minutes * fleet_s:.0f} s); "
              f"database restarts at min {sorted(db_minutes)}, broker at min {sorted(broker_minutes)}", flush=True)
        for at, label, action in events:
            watch(until_s=at)
            action()
            if label:
                print(f"  {at - window_s:+7.1f} s  {label}", flush=True)
        watch(until_s=max(at for at, _, _ in events) + SETTLE_FLEET_S / opts.compress)

        metrics, scraped_at, health = sm.scrape(metrics_url), datetime.now(UTC), sm.healthz(api_url)
        stopped_at = datetime.now(UTC)
        stopped_cleanly = _stop_service(service)
        time.sleep(3.0)  # the witness's last messages, VictoriaMetrics' last second
        vm.force_flush()
        records = sm.read_records(pg.url)
        counts = count_samples(vm.url, records, witness, start=started_at - timedelta(minutes=1),
                               end=datetime.now(UTC), metrics=metrics, scraped_at=scraped_at,
                               since=origin_at, cut=scraped_at - timedelta(seconds=CUT_S))
        return Soak(opts=opts, fleet_s=fleet_s, window_s=window_s, injected=timeline.injected,
                    restarts=timeline.restarts, readings=timeline.readings, minute_readings=timeline.minute_readings,
                    metrics=metrics, health=health, records=records, counts=counts,
                    service_log=service.log.read_text(errors="replace"), stopped_cleanly=stopped_cleanly,
                    stopped_at=stopped_at)
    finally:
        if witness is not None:
            witness.stop()
        for child in reversed(children):
            child.stop()
        if vm is not None:
            vm.stop()
        broker.stop()
        pg.stop(mode="immediate")
        if opts.keep is not None:
            shutil.copytree(tmp, opts.keep / f"soak-{run_id}", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("data", "vm", "*.db"))
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_running(service: Child) -> str:
    """The metrics URL, once the service says it runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = service.log.read_text(errors="replace")
        if RUNNING_LINE in text:
            return next(line.split()[1] for line in text.splitlines() if line.startswith("metrics: "))
        if not service.alive():
            break
        time.sleep(0.5)
    raise RuntimeError(f"service not running:\n{service.log_tail()}")


def _stop_service(service: Child) -> bool:
    """SIGTERM and wait: the last flush, device health saved. True if it ended by itself."""
    if not service.alive():
        return False
    os.killpg(service.pid, signal.SIGTERM)
    try:
        service.process.wait(SERVICE_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    return service.process.returncode == 0


def _watch(timeline: Timeline, service: Child, probe_file: Path, *, origin: float, api_url: str,
           until_s: float) -> None:
    """Read the service every READ_EVERY_S until ``until_s``; note when it has its restarted
    database and broker back (/healthz); fail at once if it died."""
    while True:
        if not service.alive():
            raise RuntimeError(f"the service died:\n{service.log_tail(30)}")
        now = time.monotonic() - origin
        if not timeline.readings or now - timeline.readings[-1].at >= READ_EVERY_S:
            timeline.readings.append(sm.read_process(service.pid, probe_file, at=now))
            _note_recovery(timeline, api_url, now)
        if now >= until_s:
            return
        time.sleep(min(until_s - now, 0.5))


def _note_recovery(timeline: Timeline, api_url: str, at: float) -> None:
    pending = [r for r in timeline.restarts if r.started_s is not None and r.back_s is None]
    if not pending:
        return
    try:
        health = sm.healthz(api_url)
    except (httpx.HTTPError, ValueError):
        return
    back = {"postgresql": health.get("checks", {}).get("database") == "ok"}
    for r in pending:
        if back.get(r.server, _accepted(health) > (r.accepted_before or 0)):
            r.back_s = at


def _accepted(health: dict) -> int:
    return int(health.get("inputs", {}).get("alarm_hosts", {}).get("accepted", 0))


def _schedule(plan: list[Fault], controls: dict[str, str], timeline: Timeline, *, pg: PrivatePostgres,
              broker: PrivateMosquitto, fleet_s: float, outage_s: float, db_minutes: frozenset[int],
              broker_minutes: frozenset[int], minutes: int, offset_s: float, origin: float,
              api_url: str) -> list[tuple[float, str, Callable]]:
    """(seconds after the origin, what to print, what to do), in order."""
    events: list[tuple[float, str, Callable]] = []
    for minute, fault in enumerate(plan):
        at = offset_s + minute * fleet_s
        entry = Injected(fault, datetime.now(UTC))
        events.append((at, f"min {minute:3d}: {fault.fault} on {fault.asset}",
                       functools.partial(_inject, entry, controls, timeline)))
        events.append((at + fault.hold_s * fleet_s / 60.0, "", functools.partial(_clear, entry, controls)))
    for server, server_minutes, stop, start in (("postgresql", db_minutes, pg.stop, pg.start),
                                                ("mosquitto", broker_minutes, broker.stop, broker.start)):
        for minute in sorted(server_minutes):
            at = offset_s + max(0.0, minute * fleet_s - LEAD_S)
            restart = Restart(server, at)
            events.append((at, f"{server} stopped", functools.partial(_stopped, restart, stop, timeline, api_url)))
            events.append((at + outage_s, f"{server} started", functools.partial(_started, restart, start, origin)))
    for minute in range(minutes + 1):
        events.append((offset_s + minute * fleet_s, "",
                       lambda: timeline.minute_readings.append(timeline.readings[-1])))
    return sorted(events, key=lambda e: e[0])


def _stopped(restart: Restart, stop: Callable[[], None], timeline: Timeline, api_url: str) -> None:
    if restart.server == "mosquitto":
        try:
            restart.accepted_before = _accepted(sm.healthz(api_url))
        except (httpx.HTTPError, ValueError):
            restart.accepted_before = None
    timeline.restarts.append(restart)
    restart.stopped_at = datetime.now(UTC)
    stop()


def _started(restart: Restart, start: Callable[[], None], origin: float) -> None:
    start()
    restart.started_s = time.monotonic() - origin


def _inject(entry: Injected, controls: dict[str, str], timeline: Timeline) -> None:
    f = entry.fault
    entry.at = datetime.now(UTC)
    timeline.injected.append(entry)
    try:
        if f.collection == "hosts":
            body = {"action": f.fault, "zone": f.zone} if f.zone is not None and "zone" in f.fault else \
                {"action": f.fault}
            httpx.post(f"{controls['hosts']}/hosts/{f.asset}/actions", json=body, timeout=10).raise_for_status()
        else:
            base = controls["stations"] if f.collection == "gateways" else controls[f.collection]
            httpx.post(f"{base}/{f.collection}/{f.asset}/faults", json={"fault": f.fault, "params": {}},
                       timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        entry.error = f"inject: {exc}"


def _clear(entry: Injected, controls: dict[str, str]) -> None:
    f = entry.fault
    try:
        if f.collection == "hosts":
            body = {"action": f.restore, "zone": f.zone} if "zone" in (f.restore or "") else {"action": f.restore}
            httpx.post(f"{controls['hosts']}/hosts/{f.asset}/actions", json=body, timeout=10).raise_for_status()
        else:
            base = controls["stations"] if f.collection == "gateways" else controls[f.collection]
            httpx.delete(f"{base}/{f.collection}/{f.asset}/faults/{f.fault}", timeout=10).raise_for_status()
        entry.cleared_at = datetime.now(UTC)
    except httpx.HTTPError as exc:
        entry.error = f"clear: {exc}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends us like Ctrl-C: the finally blocks stop everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="fleet minutes of the measured window (default 60)")
    parser.add_argument("--compress", type=float, default=3.0,
                        help="fleet time per wall time (default 3: 60 fleet minutes in 20 wall minutes)")
    parser.add_argument("--warmup-min", type=float, default=6.0, help="fleet minutes before the window (default 6)")
    parser.add_argument("--outage-s", type=float, default=10.0,
                        help="wall seconds the database and the broker stay stopped (default 10)")
    parser.add_argument("--keep", type=Path, help="copy the run's logs and configuration into this folder")
    opts = parser.parse_args(argv)
    if opts.minutes < 3 or opts.compress <= 0:
        parser.error("--minutes: at least 3 (two restarts of each server); --compress: above 0")
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"command: python -m bench.soak {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(),
          f"(tree {ROOT})", flush=True)
    try:
        soak = run(opts)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    failures = report(soak)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
