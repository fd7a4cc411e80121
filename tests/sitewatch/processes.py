"""Real `sitewatch run` processes for the outage tests: a configuration made from the example,
the process and what its API says, the machine's Mosquitto through its own command-line tools."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx

from sitewatch.collector.mqtt.decode import subscriptions
from tests.collector.mqtt.conftest import MACHINE_BROKER
from tests.serving import READER, bearer, reader_toml
from tests.sitewatch.test_cli import EXAMPLE, SITEWATCH
from tests.sitewatch.test_two_processes import read_until, spawn

BROKER = ["-h", MACHINE_BROKER[0], "-p", str(MACHINE_BROKER[1])]


def example_config(*, data_dir: Path, client_id: str, prefix: str, flush_interval_s: float,
                   station_port: int | None = None, poll_interval_s: float = 5.0, storage: str = "") -> str:
    """The example configuration, its alarm host on the machine's Mosquitto under ``client_id``
    and ``prefix``; its regulator station polled on ``station_port``, or left out when None.
    ``storage``: TOML lines added to ``[storage]`` (e.g. the influx server)."""
    text = EXAMPLE.read_text()
    changes = [
        ('data_dir = "var"', f'data_dir = "{data_dir}"'),
        ("port = 8000", "port = 0"),
        ('client_id = "sitewatch-collector"', f'client_id = "{client_id}"'),
        ('topic_prefix = "sitewatch/alarmhost"', f'topic_prefix = "{prefix}"'),
        ("flush_interval_s = 1.0", f"flush_interval_s = {flush_interval_s}"),
    ]
    if station_port is None:
        text = text[: text.index('[[assets]]\nid = "rs-north-01"')] + text[text.index('[[assets]]\nid = "ah-north-01"'):]
    else:
        changes += [("port = 15020", f"port = {station_port}"), ("poll_interval_s = 5.0", f"poll_interval_s = {poll_interval_s}")]
    for old, new in changes:
        assert old in text, f"the example no longer has {old!r}"
        text = text.replace(old, new)
    if storage:  # [storage]'s own keys end where its first sub-table begins
        assert "\n[storage.buffer]" in text, "the example no longer has [storage.buffer]"
        text = text.replace("\n[storage.buffer]", f"\n{storage}\n\n[storage.buffer]", 1)
    return text + reader_toml()


def until(what: str, value: Callable[[], object], done: Callable[[object], bool], *, timeout_s: float = 15) -> object:
    """Poll an HTTP view (the API has no push channel) until ``done(value())``; that value."""
    deadline = time.monotonic() + timeout_s
    while not done(last := value()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s; last seen: {last!r}")
        time.sleep(0.1)
    return last


def mosquitto(tool: str, *args: str) -> None:
    """Run mosquitto_pub or mosquitto_sub against the machine's broker; it must succeed."""
    done = subprocess.run([tool, *BROKER, *args], capture_output=True, timeout=20, check=False)
    assert done.returncode == 0, f"{tool} {args} failed: {done.stderr.decode()}"


def make_session(client_id: str, prefix: str) -> None:
    """A collector's persistent session, made before anything is published, as a deployed
    collector's already exists: the broker queues events for it from the first one on."""
    topics = [arg for topic in subscriptions(prefix) for arg in ("-t", topic)]
    mosquitto("mosquitto_sub", "-c", "-i", client_id, "-q", "1", *topics, "-E")


def forget_session(client_id: str) -> None:
    """A clean-session connection under the same id: the broker forgets what it kept for it."""
    mosquitto("mosquitto_sub", "-i", client_id, "-t", "sw-test/none", "-E")


class Running:
    """One `sitewatch run` process and what its API says."""

    def __init__(self, config: Path, log: Path) -> None:
        self.proc = spawn([SITEWATCH, "run", "--config", str(config)], log)
        # Its own line: an error line can name another server's URL (the time-series store's) first.
        self.url = read_until(self.proc, log, r"Sitewatch is running: (http://127\.0\.0\.1:\d+)/").group(1)

    def healthz(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()

    def counters(self) -> dict[str, int]:
        return self.healthz()["inputs"]["alarm_hosts"]

    def buffer(self) -> dict[str, int]:
        return self.healthz()["buffers"]["store"]

    def samples(self, asset_id: str, channel: str, *, start: datetime) -> list[datetime]:
        """The timestamps of one series in the store, from ``start`` to now."""
        response = httpx.get(f"{self.url}/api/samples", headers=bearer(READER), timeout=10, params={
            "asset_id": asset_id, "channel": channel, "start": start.isoformat(), "limit": 100_000})
        assert response.status_code == 200, response.text
        return [datetime.fromisoformat(s["ts"]) for s in response.json()]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
