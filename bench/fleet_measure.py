"""What the fleet benchmark reads back from the stores: polls per device from VictoriaMetrics
(expected vs found, and the gaps that make a poll late), tickets as they appear in
PostgreSQL (sample -> ticket latency), and the load on the database and the store."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import numpy as np
import psycopg

from sitewatch.domain.samples import Quality

TICKET_POLL_S = 0.5  # resolution of the "ticket visible" time


@dataclass(frozen=True)
class Polls:
    """One channel's samples per device over a window, against one every ``interval_s``."""

    devices: int  # configured
    devices_seen: int
    expected: float  # polls in the window, all devices
    found: int  # polls that left a sample, answered or not
    failed: int  # of those, the polls that failed (quality not good: timeouts, refusals)
    held_back: int  # NOT_POLLED samples: an interval a poll waited for CPU (collector/admission.py); not polls
    late: int  # gaps longer than two intervals: the poll came more than one interval late
    missing_devices: int  # devices with no sample at all in the window
    gap_p50_s: float
    gap_p99_s: float
    gap_max_s: float

    @property
    def found_pct(self) -> float:
        return 100 * self.found / self.expected if self.expected else 0.0


def poll_counts(vm_url: str, *, channel: str, start: datetime, end: datetime, interval_s: float,
                devices: int, kind_prefix: str = "") -> Polls:
    """Every sample of ``channel`` (its quality: written for failed polls too) in the window,
    from VictoriaMetrics' export. The gaps are between a device's consecutive samples, and
    from the window's start to its first and its last to the end."""
    params = {"match[]": f'samples_quality{{channel="{channel}",asset=~"{kind_prefix}.*"}}',
              "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"}
    reply = httpx.get(f"{vm_url}/api/v1/export", params=params, timeout=120)
    reply.raise_for_status()
    t0, t1 = start.timestamp() * 1000, end.timestamp() * 1000
    gaps: list[np.ndarray] = []
    found = seen = failed = held_back = 0
    for line in reply.text.splitlines():
        series = json.loads(line)
        ts = np.asarray(series["timestamps"], dtype=np.float64)
        quality = np.asarray(series["values"], dtype=np.float64)
        inside = (ts >= t0) & (ts < t1)
        held = inside & (quality == Quality.NOT_POLLED)
        held_back += int(held.sum())
        inside &= ~held
        failed += int((quality[inside] != Quality.GOOD).sum())
        ts = np.unique(ts[inside])
        if not len(ts):
            continue
        seen += 1
        found += len(ts)
        gaps.append(np.diff(np.concatenate(([t0], ts, [t1]))) / 1000)
    every = np.concatenate(gaps) if gaps else np.zeros(1)
    inner = np.concatenate([g[1:-1] for g in gaps]) if gaps else np.zeros(1)
    if not len(inner):
        inner = np.zeros(1)
    return Polls(
        devices=devices, devices_seen=seen, expected=devices * (t1 - t0) / 1000 / interval_s, found=found,
        failed=failed, held_back=held_back,
        late=int((every > 2 * interval_s).sum()), missing_devices=devices - seen,
        gap_p50_s=float(np.percentile(inner, 50)), gap_p99_s=float(np.percentile(inner, 99)),
        gap_max_s=float(every.max()),
    )


def alarm_messages(vm_url: str, *, start: datetime, end: datetime, prefix: str) -> int:
    """Samples the alarm hosts produced in the window (heartbeats and status), all channels."""
    query = f'sum(count_over_time(samples_quality{{asset=~"{prefix}.*"}}[{int((end - start).total_seconds())}s]))'
    reply = httpx.get(f"{vm_url}/api/v1/query", params={"query": query, "time": f"{end.timestamp():.3f}"}, timeout=60)
    reply.raise_for_status()
    result = reply.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def vm_rows_inserted(vm_url: str) -> int:
    """Rows VictoriaMetrics has taken in through the InfluxDB protocol since it started."""
    text = httpx.get(f"{vm_url}/metrics", timeout=10).text
    return sum(int(float(line.rpartition(" ")[2])) for line in text.splitlines()
               if line.startswith("vm_rows_inserted_total") and 'type="influx"' in line)


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass
class Ticket:
    asset_id: str
    rule_id: str | None
    opened_at: datetime  # the rule's time: the sample that made the alert fire
    seen_at: datetime  # when this watcher first found it in the database


@dataclass
class TicketWatcher:
    """Reads new tickets every half second on a thread, noting when each became visible."""

    url: str
    tickets: list[Ticket] = field(default_factory=list)
    _stop: bool = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ticket-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._thread.join()

    def _loop(self) -> None:
        last = 0
        with psycopg.connect(self.url, autocommit=True) as con:
            while not self._stop:
                rows = con.execute("SELECT id, asset_id, rule_id, opened_at FROM tickets WHERE id > %s ORDER BY id",
                                   (last,)).fetchall()
                now = datetime.now(UTC)
                for row_id, asset_id, rule_id, opened_at in rows:
                    last = row_id
                    self.tickets.append(Ticket(asset_id, rule_id, opened_at.replace(tzinfo=UTC)
                                               if opened_at.tzinfo is None else opened_at, now))
                time.sleep(TICKET_POLL_S)  # not Event.wait: it never returns under faketime


DB_COUNTERS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted", "tup_fetched", "blks_read", "blks_hit")


def db_counters(url: str, name: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute(f"SELECT {', '.join(DB_COUNTERS)} FROM pg_stat_database WHERE datname = %s",
                          (name,)).fetchone()
    return dict(zip(DB_COUNTERS, row, strict=True))


def db_backend_pids(url: str, name: str) -> list[int]:
    """The server processes serving our database's connections (one per pooled connection)."""
    with psycopg.connect(url, autocommit=True) as con:
        rows = con.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           (name,)).fetchall()
    return [pid for (pid,) in rows]


def log_summary(text: str) -> collections.Counter[str]:
    """A worker log's warnings and errors by kind: the message with its numbers and ids blanked."""
    kinds: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        parts = line.split(maxsplit=4)
        if len(parts) == 5 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            kinds[re.sub(r"[\w.-]*\d[\w.:/'-]*", "#", f"{parts[2]} {parts[3]} {parts[4]}")[:150]] += 1
        elif "no reply within" in line:
            kinds["INFO poll timed out: " + re.sub(r"[\w.-]*\d[\w.:/'-]*", "#", line.rpartition("[")[2])[:60]] += 1
    return kinds


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max; NaN when there is nothing to rank."""
    if not values:
        return float("nan"), float("nan"), float("nan")
    a = np.asarray(values)
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())
