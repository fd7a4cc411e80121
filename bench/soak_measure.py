"""What the soak (bench/soak.py) reads: the service process (RSS, file descriptors, threads,
asyncio tasks from bench/soak_probe.py), an MQTT witness of every alarm-host event published,
and at the end the records (PostgreSQL), the samples (VictoriaMetrics) and the service's own
counters (/metrics, /healthz)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

DB_TIMEOUT_S = 3


@dataclass(frozen=True)
class ProcessReading:
    at: float  # monotonic seconds since the soak's start
    rss_mb: float
    fds: int
    threads: int
    tasks: int | None  # None until the probe wrote its first line


def read_process(pid: int, probe_file: Path, *, at: float) -> ProcessReading:
    p = psutil.Process(pid)
    tasks = None
    if probe_file.exists():
        lines = probe_file.read_text().splitlines()
        if lines:
            tasks = json.loads(lines[-1])["tasks"]
    return ProcessReading(at, p.memory_info().rss / 2**20, p.num_fds(), p.num_threads(), tasks)


class Witness:
    """A persistent-session QoS 1 subscriber to every alarm host's events on the soak's broker:
    what the hosts published, counted apart from the service. It subscribes again on every
    connect (paho never does: FIELD-NOTES) and keeps each (host, event_id) once."""

    def __init__(self, *, port: int, topic_prefix: str, client_id: str) -> None:
        self.events: dict[tuple[str, str], tuple[str, datetime]] = {}  # (host, event_id) -> type, device time
        self._lock = threading.Lock()
        self._topic = f"{topic_prefix}/+/event"
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                             protocol=MQTTProtocolVersion.MQTTv311)
        client.reconnect_delay_set(1, 5)
        client.on_connect = self._connected
        client.on_message = self._message
        client.connect_async("127.0.0.1", port, keepalive=30)
        self._client = client

    def start(self) -> None:
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def by_type(self, *, since: datetime, until: datetime) -> Counter[str]:
        """Events stamped between ``since`` and ``until``, by type."""
        with self._lock:
            return Counter(kind for kind, ts in self.events.values() if since <= ts <= until)

    def stamped(self, *, since: datetime, until: datetime) -> dict[tuple[str, int], str]:
        """(host, device time in ms) -> type, of the events stamped between ``since`` and ``until``."""
        with self._lock:
            return {(host, round(ts.timestamp() * 1000)): kind for (host, _), (kind, ts) in self.events.items()
                    if since <= ts <= until}

    def _connected(self, client: paho.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if not getattr(reason, "is_failure", False):
            client.subscribe(self._topic, qos=1)

    def _message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
            key = (message.topic.split("/")[-2], str(body["event_id"]))
            ts = datetime.fromisoformat(body["ts"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.events.setdefault(key, (str(body.get("type")), ts))


# --- PostgreSQL -----------------------------------------------------------------------------


def count_tickets(url: str) -> int | None:
    """Tickets so far, or None while the database is away (it is restarted on purpose)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=DB_TIMEOUT_S) as con:
            return con.execute("SELECT count(*) FROM tickets").fetchone()[0]
    except psycopg.OperationalError:
        return None


@dataclass(frozen=True)
class TicketRecord:
    id: int
    asset_id: str
    fault: str | None
    rule_id: str | None
    opened_at: datetime


@dataclass(frozen=True)
class AlertRecord:
    asset_id: str
    rule_id: str
    state: str
    started_at: datetime
    ticket_id: int | None
    suppressed_by: str | None


@dataclass
class Records:
    tickets: list[TicketRecord] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    polls: dict[str, tuple[int, int]] = field(default_factory=dict)  # device -> (ok, failed), saved at shutdown
    health_saved_at: datetime | None = None  # the newest device_health row's updated_at
    audit: Counter[str] = field(default_factory=Counter)  # "entity action" -> rows


def read_records(url: str) -> Records:
    records = Records()
    with psycopg.connect(url, autocommit=True) as con:
        for row in con.execute("SELECT id, asset_id, fault, rule_id, opened_at FROM tickets ORDER BY id"):
            records.tickets.append(TicketRecord(*row[:4], _utc(row[4])))
        for row in con.execute("SELECT asset_id, rule_id, state, started_at, ticket_id, suppressed_by FROM alerts"):
            records.alerts.append(AlertRecord(row[0], row[1], row[2], _utc(row[3]), row[4], row[5]))
        for device, ok, failed, updated_at in con.execute(
                "SELECT device_id, polls_ok, polls_failed, updated_at FROM device_health"):
            records.polls[device] = (ok, failed)
            saved = _utc(updated_at)
            records.health_saved_at = max(records.health_saved_at or saved, saved)
        for entity, action, n in con.execute("SELECT entity, action, count(*) FROM audit_log GROUP BY 1, 2"):
            records.audit[f"{entity} {action}"] = n
    return records


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- the service's own counters ---------------------------------------------------------------


def scrape(url: str) -> dict[str, float]:
    """Prometheus text as ``name{labels}`` -> value."""
    values = {}
    for line in httpx.get(url, timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metric_sum(values: dict[str, float], name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in values.items()
               if re.match(rf"{name}(\{{|$)", k) and all(w in k for w in want))


def healthz(url: str) -> dict:
    return httpx.get(f"{url}/healthz", timeout=10).json()


# --- VictoriaMetrics --------------------------------------------------------------------------


def vm_count(vm_url: str, selector: str, *, start: datetime, end: datetime) -> int:
    """Samples of ``selector`` between start and end, counted by the server."""
    return sum(vm_count_by_asset(vm_url, selector, start=start, end=end).values())


def vm_count_by_asset(vm_url: str, selector: str, *, start: datetime, end: datetime) -> dict[str, int]:
    span = max(1, int((end - start).total_seconds()) + 1)
    query = f"sum by (asset) (count_over_time(samples_quality{{{selector}}}[{span}s]))"
    reply = httpx.get(f"{vm_url}/api/v1/query", params={"query": query, "time": f"{end.timestamp():.3f}"},
                      timeout=60)
    reply.raise_for_status()
    return {r["metric"].get("asset", ""): int(float(r["value"][1])) for r in reply.json()["data"]["result"]}


def vm_times(vm_url: str, selector: str, *, start: datetime, end: datetime) -> set[tuple[str, int]]:
    """(asset, time in ms) of every sample of ``selector`` in the window."""
    params = {"match[]": f"samples_quality{{{selector}}}", "start": f"{start.timestamp():.3f}",
              "end": f"{end.timestamp():.3f}"}
    reply = httpx.get(f"{vm_url}/api/v1/export", params=params, timeout=120)
    reply.raise_for_status()
    found = set()
    for line in reply.text.splitlines():
        series = json.loads(line)
        found.update((series["metric"].get("asset", ""), int(t)) for t in series["timestamps"])
    return found


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    low, high = min(values), max(values)
    return "".join(bars[int((v - low) / (high - low) * (len(bars) - 1)) if high > low else 0] for v in values)


def wait_until(deadline: float) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))  # not Event.wait: it never returns under faketime
