"""The fleet failover test's deployment (tests/sitewatch/test_fleet_failover.py): simulators,
`sitewatch run` workers and API processes as real processes, its configuration, the alarm
hosts the test itself plays, and the leases table read as an operator would.

The configuration is the shipped example's (profile, rules, SLA zones, correlation) with the
simulated devices as assets and the production stores, written by the fleet benchmark's
TOML writer and vault helpers (bench/fleet_config.py) rather than a copy of them.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.fleet_config import CAMERA_CREDENTIAL, put_camera_credential, to_toml, write_key_file
from sitewatch.demo import example_config
from sitewatch.storage.database import make_engine
from sitewatch.storage.tables import LeaseRow
from tests.serving import READER, bearer, reader_entry
from tests.sitewatch.processes import BROKER
from tests.sitewatch.test_cli import SITEWATCH
from tests.sitewatch.test_two_processes import read_until

READ = bearer(READER)
STOP_TIMEOUT_S = 20.0  # for every process together
FLUSH_S = 0.2  # [storage] flush_interval_s: how long a worker holds samples in memory before writing them
START_TIMEOUT_S = 60.0  # a process's start-up (imports, migrations check) on a machine busy with the rest of the fleet


class Proc:
    """One child process, its output in a log file (a pipe nobody reads would stall it).
    Started at once; ``ready`` waits for the line that says it is up (``READY``), so several
    start side by side."""

    READY = ""

    def __init__(self, name: str, argv: list[str], log: Path, *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        with log.open("w") as out:
            # The environment is inherited whole: under faketime the children share its clock.
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         text=True, env=os.environ | (env or {}))

    def ready(self) -> re.Match:
        return read_until(self.proc, self.log, self.READY, timeout_s=START_TIMEOUT_S)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def stop_all(procs: list[Proc]) -> None:
    """SIGINT to every process at once (a clean stop, side by side: one after the other would
    outlast the suite's timeout on a busy machine), then SIGKILL to any still running."""
    running = [p.proc for p in procs if p.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Simulator(Proc):
    """``python -m sitewatch.simulators.X serve``: its devices' ports and its control URL, once ready."""

    READY = r"control (http://\S+)"

    def __init__(self, name: str, args: list[str], log: Path, *, device: str) -> None:
        super().__init__(name, [sys.executable, "-m", f"sitewatch.simulators.{name}", "serve", *args], log)
        self.device = device
        self.control = ""
        self.ports: dict[str, int] = {}

    def ready(self) -> re.Match:
        found = super().ready()
        self.control = found.group(1)
        self.ports = {m.group(1): int(m.group(2)) for m in
                      re.finditer(rf"^({self.device}-\d+) 127\.0\.0\.1:(\d+)", self.log.read_text(), re.MULTILINE)}
        return found

    def inject(self, collection: str, device_id: str, fault: str) -> None:
        httpx.post(f"{self.control}/{collection}/{device_id}/faults", json={"fault": fault},
                   timeout=10).raise_for_status()

    def clear(self, collection: str, device_id: str, fault: str) -> None:
        httpx.delete(f"{self.control}/{collection}/{device_id}/faults/{fault}", timeout=10).raise_for_status()


class Worker(Proc):
    """``sitewatch run --roles collector,rules`` as if on machine ``node`` (SITEWATCH_NODE)."""

    READY = r"Sitewatch is running \[roles: collector,rules\], without the API"

    def __init__(self, node: str, config: Path, log: Path) -> None:
        super().__init__(node, [SITEWATCH, "run", "--config", str(config), "--roles", "collector,rules"], log,
                         env={"SITEWATCH_NODE": node})


class Api(Proc):
    """``sitewatch run --roles api --port 0``: a stateless API process; its URL once ready."""

    READY = r"Sitewatch is running: (http://127\.0\.0\.1:\d+)/"

    def __init__(self, name: str, config: Path, log: Path) -> None:
        super().__init__(name, [SITEWATCH, "run", "--config", str(config), "--roles", "api", "--port", "0"], log)
        self.url = ""

    def ready(self) -> re.Match:
        found = super().ready()
        self.url = found.group(1)
        return found

    def get(self, path: str, **params: object) -> object:
        response = httpx.get(f"{self.url}{path}", params=params, headers=READ, timeout=10)
        assert response.status_code == 200, f"{self.name} {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def samples(self, asset_id: str, channel: str, *, start: datetime) -> list[datetime]:
        """The distinct timestamps of one series in the store from ``start`` on, sorted."""
        rows = self.get("/api/samples", asset_id=asset_id, channel=channel, start=start.isoformat(), limit=100_000)
        return sorted({datetime.fromisoformat(row["ts"]) for row in rows})


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """Where the simulated devices answer, and the deployment's knobs."""

    stations: dict[str, int]  # station id -> Modbus port
    cameras: dict[str, int]  # camera id -> ONVIF port
    hosts: list[str]  # alarm host ids (they publish to the broker)
    run_id: str
    database_url: str
    vm_url: str
    shards: int
    lease_ttl_s: float
    station_poll_s: float
    camera_poll_s: float


def write_configs(fleet: Fleet, folder: Path, names: list[str]) -> dict[str, Path]:
    """One configuration file per process, alike but for ``data_dir`` (each process a machine
    of its own: its buffer file is not the others'); the camera password in the vault."""
    key_file = write_key_file(folder / "vault.key")
    paths = {}
    for name in names:
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(to_toml(_config(fleet, data_dir=folder / name, key_file=key_file)))
    put_camera_credential(paths[names[0]])
    return paths


def _config(fleet: Fleet, *, data_dir: Path, key_file: Path) -> dict:
    raw = example_config()
    station = raw["assets"][0]
    raw["storage"] = {
        "data_dir": str(data_dir), "timeseries": "influx", "database_url": fleet.database_url,
        "flush_interval_s": FLUSH_S,
        "influx": {"url": fleet.vm_url, "reader": "victoriametrics", "measurement": f"fleet_{fleet.run_id}"},
    }
    raw["api"] |= {"port": 0, "tokens": [reader_entry()]}
    raw["mqtt"] |= {"client_id": f"sw-fleet-{fleet.run_id}", "topic_prefix": f"sw-fleet-{fleet.run_id}/alarmhost"}
    raw["vault"] = {"key_file": str(key_file)}
    raw["cluster"] = {"shards": fleet.shards, "lease_ttl_s": fleet.lease_ttl_s}
    raw["rules_engine"] = {"tick_s": 0.2}
    for rule in raw["rules"]:
        if rule["id"] == "outlet-high":
            rule["for_s"] = 1.0  # a ticket within seconds of the fault, not the example's 10 s
    raw["assets"] = [
        {"id": sid, "site": station["site"], "kind": "regulator_station", "name": f"Station {sid}",
         "poll_interval_s": fleet.station_poll_s,
         "modbus": station["modbus"] | {"port": port, "timeout_s": 1.0},
         "regulator": station["regulator"], "limits": station["limits"]}
        for sid, port in fleet.stations.items()
    ] + [
        {"id": cid, "site": station["site"], "kind": "camera", "name": f"Camera {cid}",
         "poll_interval_s": fleet.camera_poll_s,
         "onvif": {"host": "127.0.0.1", "port": port, "credential": CAMERA_CREDENTIAL, "timeout_s": 2.0,
                   "events_pull_timeout_s": 0.1, "events_interval_s": 0.3}}
        for cid, port in fleet.cameras.items()
    ] + [
        {"id": hid, "site": station["site"], "kind": "alarm_host", "name": f"Alarm host {hid}",
         "alarm_host": {"host_id": hid, "zones": 8}}
        for hid in fleet.hosts
    ]
    return raw


# --- the alarm hosts ----------------------------------------------------------------------


class AlarmHosts:
    """The test plays the alarm hosts: each sends a QoS 1 heartbeat every ``every_s`` with an id
    of its own (``hb-<n>``) and a timestamp of its own (ms, rising), through a mosquitto_pub
    in line mode (every line written is a message the broker takes, ``stop`` waits for it);
    ``fault`` slips a zone fault into a host's stream. Each heartbeat is one ``online`` sample
    at its timestamp, so "every event stored once" is "the stored timestamps are the sent ones"."""

    def __init__(self, prefix: str, hosts: list[str], *, every_s: float) -> None:
        self.every_s = every_s
        self._pubs = {h: subprocess.Popen(["mosquitto_pub", *BROKER, "-q", "1", "-t", f"{prefix}/{h}/event", "-l"],
                                          stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for h in hosts}
        self.sent: dict[str, list[datetime]] = {h: [] for h in hosts}
        self._lock = threading.Lock()  # the thread's heartbeats and a test's fault share each pipe
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="alarm-hosts")
        self._thread.start()

    def _write(self, host: str, event: str) -> None:
        pub = self._pubs[host]
        assert pub.stdin is not None
        pub.stdin.write(event + "\n")
        pub.stdin.flush()

    def _run(self) -> None:
        # A publishing schedule, not a synchronisation; time.sleep, not Event.wait(timeout):
        # under Debian's faketime a timed wait on a thread never returns.
        while not self._stopping:
            time.sleep(self.every_s)
            now = datetime.now(UTC)
            ts = now.replace(microsecond=now.microsecond // 1000 * 1000)
            with self._lock:
                for host, sent in self.sent.items():
                    if sent and ts <= sent[-1]:
                        continue
                    self._write(host, f'{{"event_id": "hb-{len(sent)}", "ts": "{ts.isoformat()}", "type": "heartbeat"}}')
                    sent.append(ts)

    def fault(self, host: str, zone: int) -> None:
        now = datetime.now(UTC).isoformat()
        with self._lock:
            self._write(host, f'{{"event_id": "fault-{zone}", "ts": "{now}", "type": "zone_fault", "zone": {zone}}}')

    def stop(self) -> dict[str, list[datetime]]:
        """Stop sending; every heartbeat's timestamp per host, once the broker has them all."""
        if self._stopping:
            return self.sent
        self._stopping = True
        self._thread.join()
        for host, pub in self._pubs.items():
            _, errors = pub.communicate(timeout=30)
            assert pub.returncode == 0, f"mosquitto_pub for {host} failed: {errors}"
        return self.sent


# --- the leases ----------------------------------------------------------------------------


class Leases:
    """The leases table as an operator reads it: who holds which shard now."""

    def __init__(self, database_url: str, shards: int) -> None:
        self._engine = make_engine(database_url)
        self._names = {f"shard-{i}-of-{shards}": i for i in range(shards)}

    def shards_by_node(self) -> dict[str, set[int]]:
        """Node (the holder's first part) -> the shards it holds unexpired now."""
        now = datetime.now(UTC)
        held: dict[str, set[int]] = {}
        with self._engine.connect() as con:
            for row in con.execute(select(LeaseRow.name, LeaseRow.holder, LeaseRow.expires_at)):
                if row.name in self._names and row.holder and row.expires_at > now:
                    held.setdefault(row.holder.partition(":")[0], set()).add(self._names[row.name])
        return held

    def close(self) -> None:
        self._engine.dispose()


def largest_gap(stamps: list[datetime], start: datetime, end: datetime) -> tuple[float, datetime]:
    """The longest stretch without a sample between ``start`` and ``end`` (their edges included):
    its length (s) and where it begins."""
    inside = [start, *(t for t in stamps if start < t < end), end]
    return max(((b - a).total_seconds(), a) for a, b in itertools.pairwise(inside))


def around(stamps: list[datetime], moment: datetime) -> tuple[float, float]:
    """How long before ``moment`` the last sample was, and after it the first (s, rounded)."""
    before = max((t for t in stamps if t <= moment), default=moment)
    after = min((t for t in stamps if t > moment), default=moment)
    return round((moment - before).total_seconds(), 2), round((after - moment).total_seconds(), 2)
