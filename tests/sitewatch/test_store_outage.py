"""Issue 12's store-outage acceptance, both scenarios in one 60 s outage of a real
VictoriaMetrics (storage/influx, `timeseries = "influx"`): two real `sitewatch run` processes
with their own data folders and measurements; A runs through the outage, B is SIGKILLed in
the middle of it and started again (its buffer file is all it has). When the server is back,
each has stored every sample produced.

"Produced", counted exactly: the test is the alarm host. It publishes one QoS 1 event every
100 ms from before the outage to after it (mosquitto_pub in line mode: every line written is
an event the broker took); both processes subscribe to the same topics under their own
client ids, and each event is one `zone_01_alarm` sample at its own timestamp. So each
process must end with exactly as many distinct timestamps as lines were written. (Duplicates
cannot show here: VictoriaMetrics keeps one sample per series and timestamp;
test_mqtt_sigkill.py counts them in DuckDB.)

Both also poll one simulated regulator station every 0.5 s. Its samples have no exact count
to compare with (a poll's samples are "produced" when polled, and the ones B held in memory
for the last 0.2 s before its SIGKILL are lost with it, as nobody can send them again), so
for A the test checks that the polls made during the outage are all in the store: no gap.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from tests.servers import VictoriaMetrics
from tests.sitewatch.processes import (
    BROKER,
    Running,
    example_config,
    forget_session,
    make_session,
    until,
)
from tests.sitewatch.test_two_processes import read_until, spawn

OUTAGE_S = 60.0
EVENT_EVERY_S = 0.1
POLL_S = 0.5
HOST, STATION = "ah-north-01", "rs-north-01"


class AlarmHost:
    """Publishes one event every EVENT_EVERY_S on a thread until stopped; counts them."""

    def __init__(self, prefix: str) -> None:
        self._pub = subprocess.Popen(["mosquitto_pub", *BROKER, "-q", "1", "-t", f"{prefix}/{HOST}/event", "-l"],
                                     stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._stop = threading.Event()
        self.sent: list[datetime] = []
        self._thread = threading.Thread(target=self._run, name="alarm-host")
        self._thread.start()

    def _run(self) -> None:
        assert self._pub.stdin is not None
        # A publishing schedule, not a synchronisation. time.sleep, not Event.wait(timeout):
        # under Debian's faketime (CI at any hour) a timed wait on a thread never returns.
        while not self._stop.is_set():
            time.sleep(EVENT_EVERY_S)
            ts = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
            if self.sent and ts <= self.sent[-1]:
                continue
            n = len(self.sent)
            kind = "zone_alarm" if n % 2 == 0 else "zone_restore"
            self._pub.stdin.write(f'{{"event_id": "o-{n}", "ts": "{ts.isoformat()}", "type": "{kind}", "zone": 1}}\n')
            self._pub.stdin.flush()
            self.sent.append(ts)

    def stop(self) -> list[datetime]:
        """Stop publishing; returns every event's timestamp once the broker has them all."""
        self._stop.set()
        self._thread.join()
        _, errors = self._pub.communicate(timeout=30)
        assert self._pub.returncode == 0, f"mosquitto_pub failed: {errors}"
        return self.sent


def test_a_60_s_store_outage_loses_nothing_even_with_a_sigkill_in_the_middle(tmp_path):
    run = uuid.uuid4().hex[:8]
    prefix = f"sw-outage-{run}/alarmhost"
    sim_log = tmp_path / "station.log"
    sim = spawn([sys.executable, "-m", "sitewatch.simulators.regulator", "serve", "--stations", "1"], sim_log)
    vm = VictoriaMetrics(tmp_path / "vm")
    processes: dict[str, Running] = {}
    configs, clients = {}, {}
    try:
        station_port = int(read_until(sim, sim_log, r"rs-001 127\.0\.0\.1:(\d+)").group(1))
        vm.start()
        for name in ("a", "b"):
            clients[name] = f"sw-out-{name}-{run}"
            influx = (f'\n[storage.influx]\nurl = "{vm.url}"\nreader = "victoriametrics"\n'
                      f'measurement = "outage_{name}_{run}"')
            configs[name] = tmp_path / f"{name}.toml"
            configs[name].write_text(
                example_config(data_dir=tmp_path / name, client_id=clients[name], prefix=prefix, flush_interval_s=0.2,
                               station_port=station_port, poll_interval_s=POLL_S,
                               storage='timeseries = "influx"' + influx).replace('timeseries = "duckdb"', ""))
            make_session(clients[name], prefix)
        host = AlarmHost(prefix)
        start = datetime.now(UTC) - timedelta(seconds=1)
        for name in ("a", "b"):
            processes[name] = Running(configs[name], tmp_path / f"{name}.log")
        a, b = processes["a"], processes["b"]
        for p in (a, b):
            until("events stored before the outage", lambda p=p: len(p.samples(HOST, "zone_01_alarm", start=start)),
                  lambda n: n > 0)

        vm.stop()
        down_at = datetime.now(UTC)
        for p in (a, b):
            until("samples buffered on disk", p.buffer, lambda buffer: buffer["samples"] > 0)
        time.sleep(OUTAGE_S / 4)  # the outage's own length, not a synchronisation
        b_before_kill = b.buffer()["samples"]
        b.kill()
        time.sleep(5)  # B stays dead for a while: events wait on the broker for its session
        processes["b"] = b = Running(configs["b"], tmp_path / "b-again.log")
        assert b.buffer()["samples"] >= b_before_kill, "the new process starts with what the killed one buffered"
        time.sleep(max(0.0, OUTAGE_S - (datetime.now(UTC) - down_at).total_seconds()))
        assert (datetime.now(UTC) - down_at).total_seconds() >= OUTAGE_S
        assert a.buffer()["samples"] > 0 and b.buffer()["samples"] > 0
        vm.start()

        time.sleep(2)  # a little traffic after the outage too
        produced = host.stop()
        for name, p in processes.items():
            def stored(p=p):
                vm.force_flush()
                return len(p.samples(HOST, "zone_01_alarm", start=start))
            until(f"{name}: every produced event stored", stored, lambda n: n >= len(produced), timeout_s=30)
            until(f"{name}: buffer drained", p.buffer, lambda buffer: buffer["samples"] == 0)
            assert sorted(p.samples(HOST, "zone_01_alarm", start=start)) == produced, f"{name}: stored != produced"
            assert p.buffer()["dropped"] == 0
        # A's station polls during the outage, all there: no gap longer than a poll or two.
        polls = sorted(set(a.samples(STATION, "outlet_kpa", start=down_at - timedelta(seconds=2))))
        gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(polls)]
        assert polls[0] < down_at and polls[-1] > down_at + timedelta(seconds=OUTAGE_S), "polls cover the outage"
        assert max(gaps) < 3 * POLL_S, f"a gap of {max(gaps):.1f} s in A's polls"
    finally:
        for p in processes.values():
            p.stop()
        for client_id in clients.values():
            forget_session(client_id)
        vm.stop()
        sim.terminate()
        sim.wait(timeout=10)
