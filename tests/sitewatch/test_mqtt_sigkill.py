"""Issue 12's Mosquitto acceptance: the real `sitewatch run` process, SIGKILLed between the
receipt of QoS 1 alarm events and their storage, loses none and stores none twice.

Deterministic window: the first process flushes to the store once an hour
(`flush_interval_s = 3600`, an ordinary setting), so it receives and counts every event and
stores none; it is killed then. A message is acknowledged only once stored, so the broker
still holds them all and delivers them again to the next process under the same client id.
That one stores them; the events a host then sends again (the same event ids) are dropped,
also by a third process, which knows them only from the buffer file the others left.

Counted in the store, through /api/samples: each event is one `zone_01_alarm` sample at its
own timestamp, so "stored exactly once" is "each event's timestamp appears once".
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from collector.mqtt.decode import subscriptions
from tests.collector.mqtt.conftest import MACHINE_BROKER
from tests.serving import READER, bearer, reader_toml
from tests.sitewatch.test_cli import EXAMPLE
from tests.sitewatch.test_two_processes import start_service

READ = bearer(READER)
HOST = "ah-north-01"
BROKER = ["-h", MACHINE_BROKER[0], "-p", str(MACHINE_BROKER[1])]


def config_text(*, data_dir: Path, client_id: str, prefix: str, flush_interval_s: float) -> str:
    """The example configuration with its alarm host only (no station to poll)."""
    text = EXAMPLE.read_text()
    text = text[: text.index('[[assets]]\nid = "rs-north-01"')] + text[text.index('[[assets]]\nid = "ah-north-01"'):]
    for old, new in [
        ('data_dir = "var"', f'data_dir = "{data_dir}"'),
        ("port = 8000", "port = 0"),
        ('client_id = "sitewatch-collector"', f'client_id = "{client_id}"'),
        ('topic_prefix = "sitewatch/alarmhost"', f'topic_prefix = "{prefix}"'),
        ("flush_interval_s = 1.0", f"flush_interval_s = {flush_interval_s}"),
    ]:
        assert old in text, f"the example config no longer has {old!r}"
        text = text.replace(old, new)
    return text + reader_toml()


def until(what: str, value: Callable[[], object], done: Callable[[object], bool], *, timeout_s: float = 15) -> None:
    """Poll an HTTP view (the API has no push channel) until ``done(value())``."""
    deadline = time.monotonic() + timeout_s
    while not done(last := value()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s; last seen: {last!r}")
        time.sleep(0.1)


def mosquitto(tool: str, *args: str) -> None:
    done = subprocess.run([tool, *BROKER, *args], capture_output=True, timeout=20, check=False)
    assert done.returncode == 0, f"{tool} {args} failed: {done.stderr.decode()}"


class Events:
    """Alarm events of one host, each with its own timestamp 100 ms after the last."""

    def __init__(self, prefix: str) -> None:
        self.topic = f"{prefix}/{HOST}/event"
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)

    def ts(self, n: int) -> datetime:
        return self.base + timedelta(milliseconds=100 * n)

    def publish(self, numbers: range | list[int]) -> None:
        """At QoS 1, one mosquitto_pub connection: returns once the broker has them all."""
        lines = [json.dumps({"event_id": f"k-{n}", "ts": self.ts(n).isoformat(), "zone": 1,
                             "type": "zone_alarm" if n % 2 == 0 else "zone_restore"}) for n in numbers]
        done = subprocess.run(["mosquitto_pub", *BROKER, "-q", "1", "-t", self.topic, "-l"],
                              input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=20, check=False)
        assert done.returncode == 0, done.stderr


class Running:
    """One `sitewatch run` process and what its API says."""

    def __init__(self, config: Path, log: Path) -> None:
        self.proc, self.url = start_service(config, log)

    def healthz(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()

    def counters(self) -> dict[str, int]:
        return self.healthz()["inputs"]["alarm_hosts"]

    def stored(self, events: Events) -> list[datetime]:
        """The timestamps of the zone samples in the store, one per stored event."""
        response = httpx.get(f"{self.url}/api/samples", headers=READ, timeout=5, params={
            "asset_id": HOST, "channel": "zone_01_alarm", "start": (events.base - timedelta(seconds=1)).isoformat()})
        assert response.status_code == 200, response.text
        return [datetime.fromisoformat(s["ts"]) for s in response.json()]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


def test_a_sigkill_between_receipt_and_storage_loses_no_event_and_stores_none_twice(tmp_path):
    run = uuid.uuid4().hex[:8]
    client_id, prefix = f"sw-kill-{run}", f"sw-kill-{run}/alarmhost"
    data_dir = tmp_path / "data"
    configs = {}
    for name, flush_s in (("hourly", 3600.0), ("fast", 0.2)):
        configs[name] = tmp_path / f"{name}.toml"
        configs[name].write_text(config_text(data_dir=data_dir, client_id=client_id, prefix=prefix,
                                             flush_interval_s=flush_s))
    events = Events(prefix)
    # The collector's persistent session, made before anything is published, as a deployed
    # collector's already exists: the broker queues events for it from the first one on.
    topics = [arg for topic in subscriptions(prefix) for arg in ("-t", topic)]
    mosquitto("mosquitto_sub", "-c", "-i", client_id, "-q", "1", *topics, "-E")
    processes: list[Running] = []
    try:
        # 1. Received, not stored: the broker's in-flight window (20) lets 15 through unacknowledged.
        events.publish(range(15))
        first = Running(configs["hourly"], tmp_path / "first.log")
        processes.append(first)
        until("the first process receives 15 events", first.counters, lambda c: c["accepted"] == 15)
        assert first.stored(events) == [] and first.healthz()["buffers"]["store"]["spooled"] == 0, "nothing durable"
        first.kill()

        # 2. Ten more while no collector runs; the next process gets all 25 and stores each once.
        events.publish(range(15, 25))
        second = Running(configs["fast"], tmp_path / "second.log")
        processes.append(second)
        until("all 25 stored by the second process", lambda: len(second.stored(events)), lambda n: n >= 25)
        # A host sends five stored events again, then a new one: once that is in, so are the five.
        events.publish([0, 1, 2, 3, 4, 25])
        until("event 25 stored", lambda: len(second.stored(events)), lambda n: n >= 26)
        assert second.counters()["duplicates"] == 5
        second.kill()

        # 3. A process that saw none of them knows them from the buffer file.
        third = Running(configs["fast"], tmp_path / "third.log")
        processes.append(third)
        events.publish([*range(26), 26])
        until("event 26 stored by the third process", lambda: len(third.stored(events)), lambda n: n >= 27)
        counters = third.counters()
        assert (counters["duplicates"], counters["accepted"]) == (26, 1), counters
        stored = third.stored(events)
        assert sorted(stored) == [events.ts(n) for n in range(27)], "every event stored exactly once"
    finally:
        for process in processes:
            process.stop()
        # Forget the session: a clean-session connection under the same id.
        mosquitto("mosquitto_sub", "-i", client_id, "-t", f"{prefix}/none", "-E")
