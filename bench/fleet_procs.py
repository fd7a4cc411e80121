"""The fleet benchmark's processes: simulators, workers and the servers, each in its own
session so that stopping one stops its whole group, and their CPU and memory per role.

Simulators are the project's own (simulators/): a regulator process serves thousands of
stations (one pymodbus server each), a camera process thousands of cameras (one HTTP server
each; launched by bench/fleet_cameras.py, scenes shared), an alarm-host process 250 paho
clients (bench/fleet_alarmhosts.py). They bind fixed ports below the
kernel's ephemeral range (32768+), which the workers' own connections need: 15,000
listening sockets there would leave too few for them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

START_TIMEOUT_S = 300.0  # thousands of servers per simulator take a while to bind
STOP_TIMEOUT_S = 15.0
ROOT = Path(__file__).parent.parent  # the tree whose code runs, in every child
STATIONS_PER_PROCESS = 2500
CAMERAS_PER_PROCESS = 2000
HOSTS_PER_PROCESS = 250  # paho's select() takes no descriptor past 1023 (bench/fleet_alarmhosts.py)
STATION_BASE_PORT = 10000  # stations 10000-14999, cameras 15000-24999
CAMERA_BASE_PORT = 15000


class Child:
    """One process in a session of its own, its output in a log file; ``stop`` ends its group."""

    def __init__(self, role: str, argv: list[str], log: Path, *, stdout_pipe: bool = False) -> None:
        self.role = role
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE if stdout_pipe else self._log_file, stderr=self._log_file,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True, cwd=ROOT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the group; ``stop`` then waits. Several children stop in one period."""
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log_file.close()

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Simulator(Child):
    """``python -m sitewatch.simulators.X serve``: the device lines it prints, then its control URL."""

    def __init__(self, role: str, argv: list[str], log: Path) -> None:
        super().__init__(role, [sys.executable, "-m", *argv], log, stdout_pipe=True)
        self.lines: list[list[str]] = []
        self.control = ""

    def wait_ready(self) -> None:
        # The simulators flush their output only with the control line; the watchdog kills a
        # child that never gets there, which ends the read below with EOF.
        watchdog = threading.Timer(START_TIMEOUT_S, self.process.kill)
        watchdog.start()
        try:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith("control "):
                    self.control = line.split()[1]
                    return
                self.lines.append(line.split())
        finally:
            watchdog.cancel()
        raise RuntimeError(f"{self.role} simulator exited before it was ready:\n{self.log_tail()}")

    def ports(self) -> list[tuple[str, int]]:
        """(id inside the simulator, port) per device, from lines like ``rs-0001 127.0.0.1:PORT ...``."""
        return [(parts[0], int(parts[1].rpartition(":")[2])) for parts in self.lines]


def regulator_simulators(count: int, logs: Path) -> list[Simulator]:
    sims = []
    for n, start in enumerate(range(0, count, STATIONS_PER_PROCESS)):
        size = min(STATIONS_PER_PROCESS, count - start)
        sims.append(Simulator("sim-regulator", ["sitewatch.simulators.regulator", "serve", "--stations", str(size),
                                                "--base-port", str(STATION_BASE_PORT + start),
                                                "--seed", str(2026 + start)], logs / f"sim-regulator-{n}.log"))
    return sims


def camera_simulators(count: int, logs: Path) -> list[Simulator]:
    sims = []
    for n, start in enumerate(range(0, count, CAMERAS_PER_PROCESS)):
        size = min(CAMERAS_PER_PROCESS, count - start)
        sims.append(Simulator("sim-camera", ["bench.fleet_cameras", "--cameras", str(size),
                                             "--base-port", str(CAMERA_BASE_PORT + start),
                                             "--seed", str(start)], logs / f"sim-camera-{n}.log"))
    return sims


def alarmhost_simulators(count: int, logs: Path, *, topic_prefix: str, run_id: str) -> list[Simulator]:
    sims = []
    for n, start in enumerate(range(0, count, HOSTS_PER_PROCESS)):
        size = min(HOSTS_PER_PROCESS, count - start)
        sims.append(Simulator("sim-alarmhost", ["bench.fleet_alarmhosts", "--hosts", str(size),
                                                "--first", str(start + 1), "--topic-prefix", topic_prefix,
                                                "--run-id", run_id], logs / f"sim-alarmhost-{n}.log"))
    return sims


def worker(n: int, config: Path, logs: Path) -> Child:
    # `-m` from the tree this bench runs from (Child's cwd), not the venv's console script:
    # a copy of a commit (git archive) then measures that commit whatever the tree holds.
    return Child("worker", [sys.executable, "-m", "sitewatch.cli", "run", "--config", str(config),
                            "--roles", "collector,rules"], logs / f"worker-{n}.log")


def inject(sim: Simulator, station: str, fault: str) -> None:
    httpx.post(f"{sim.control}/stations/{station}/faults", json={"fault": fault, "params": {}},
               timeout=10).raise_for_status()


# --- CPU and memory per role ----------------------------------------------------------------


@dataclass
class Usage:
    """One role's processes over the window: CPU seconds, and the largest RSS seen (sampled)."""

    processes: int = 0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0  # of one process of the role
    total_rss_mb: float = 0.0  # all of the role's processes, at the sample where it was largest


@dataclass
class Meter:
    """Samples the processes of each role every ``every_s`` on a thread, between ``start`` and
    ``stop``: CPU time differences per process, RSS maxima, and the machine's CPU."""

    roles: dict[str, list[int]]  # role -> pids (each with its threads; children are not ours)
    every_s: float = 2.0
    usage: dict[str, Usage] = field(default_factory=dict)
    machine_busy_pct: float = 0.0  # of all cores together, 100 = every core busy
    _stop: bool = False

    def start(self) -> None:
        self._procs = {role: [psutil.Process(pid) for pid in pids] for role, pids in self.roles.items()}
        self._cpu0 = {p.pid: _cpu(p) for procs in self._procs.values() for p in procs}
        self._machine0 = psutil.cpu_times()
        self._rss: dict[str, list[float]] = defaultdict(list)
        self._peak: dict[str, float] = defaultdict(float)
        self._thread = threading.Thread(target=self._sample_loop, name="fleet-meter", daemon=True)
        self._thread.start()

    def _sample_loop(self) -> None:
        while not self._stop:
            self._sample()
            time.sleep(self.every_s)  # not Event.wait: it never returns under faketime

    def _sample(self) -> None:
        for role, procs in self._procs.items():
            total = 0.0
            for p in procs:
                try:
                    rss = p.memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    continue
                total += rss
                self._peak[role] = max(self._peak[role], rss)
            self._rss[role].append(total)

    def stop(self) -> None:
        self._stop = True
        self._thread.join()
        self._sample()
        t1 = psutil.cpu_times()
        busy = sum(getattr(t1, f) - getattr(self._machine0, f) for f in ("user", "system", "nice", "irq", "softirq"))
        total = sum(t1) - sum(self._machine0)
        self.machine_busy_pct = 100 * busy / total if total else 0.0
        for role, procs in self._procs.items():
            cpu = 0.0
            for p in procs:
                try:
                    cpu += _cpu(p) - self._cpu0[p.pid]
                except psutil.NoSuchProcess:
                    pass
            self.usage[role] = Usage(len(procs), cpu, self._peak[role], max(self._rss[role], default=0.0))


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def server_pids(name: str) -> list[int]:
    """The machine's processes of a server by executable name (Mosquitto, PostgreSQL)."""
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == name]
