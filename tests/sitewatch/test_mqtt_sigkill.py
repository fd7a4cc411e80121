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
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

from tests.sitewatch.processes import (
    BROKER,
    Running,
    example_config,
    forget_session,
    make_session,
    until,
)

HOST = "ah-north-01"


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

    def stored(self, process: Running) -> list[datetime]:
        return process.samples(HOST, "zone_01_alarm", start=self.base - timedelta(seconds=1))


def test_a_sigkill_between_receipt_and_storage_loses_no_event_and_stores_none_twice(tmp_path):
    run = uuid.uuid4().hex[:8]
    client_id, prefix = f"sw-kill-{run}", f"sw-kill-{run}/alarmhost"
    configs = {}
    for name, flush_s in (("hourly", 3600.0), ("fast", 0.2)):
        configs[name] = tmp_path / f"{name}.toml"
        configs[name].write_text(example_config(data_dir=tmp_path / "data", client_id=client_id, prefix=prefix,
                                                flush_interval_s=flush_s))
    events = Events(prefix)
    make_session(client_id, prefix)
    processes: list[Running] = []
    try:
        # 1. Received, not stored: the broker's in-flight window (20) lets 15 through unacknowledged.
        events.publish(range(15))
        first = Running(configs["hourly"], tmp_path / "first.log")
        processes.append(first)
        until("the first process receives 15 events", first.counters, lambda c: c["accepted"] == 15)
        assert events.stored(first) == [] and first.buffer()["spooled"] == 0, "nothing durable"
        first.kill()

        # 2. Ten more while no collector runs; the next process gets all 25 and stores each once.
        events.publish(range(15, 25))
        second = Running(configs["fast"], tmp_path / "second.log")
        processes.append(second)
        until("all 25 stored by the second process", lambda: len(events.stored(second)), lambda n: n >= 25)
        # A host sends five stored events again, then a new one: once that is in, so are the five.
        events.publish([0, 1, 2, 3, 4, 25])
        until("event 25 stored", lambda: len(events.stored(second)), lambda n: n >= 26)
        assert second.counters()["duplicates"] == 5
        second.kill()

        # 3. A process that saw none of them knows them from the buffer file.
        third = Running(configs["fast"], tmp_path / "third.log")
        processes.append(third)
        events.publish([*range(26), 26])
        until("event 26 stored by the third process", lambda: len(events.stored(third)), lambda n: n >= 27)
        counters = third.counters()
        assert (counters["duplicates"], counters["accepted"]) == (26, 1), counters
        assert sorted(events.stored(third)) == [events.ts(n) for n in range(27)], "every event stored exactly once"
    finally:
        for process in processes:
            process.stop()
        forget_session(client_id)
