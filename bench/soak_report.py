"""The soak's figures (bench/soak.py): what was injected against what the records hold, what
was produced against what was stored, and how the service's memory, tasks and loops fared."""

from __future__ import annotations

import argparse
import collections
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench import fleet_measure as m
from bench import soak_measure as sm

if TYPE_CHECKING:
    from bench.soak import Injected, Restart

STATIONS = "(gw-01-)?rs-"  # asset ids of the regulator stations, on their own ports or behind gw-01
STATION_CHANNELS = 12  # regulator-v1's channels: a poll, answered or not, leaves one sample each
TICKET_SLACK = timedelta(seconds=2)  # a ticket's opened_at is its sample's time, a little before the POST returns


@dataclass
class Counts:
    """Produced (by the service's health records, saved at its shutdown) against stored."""

    station_polls: int = 0  # polls_ok + polls_failed of every station (/metrics at the last scrape)
    station_polls_stored: m.Polls | None = None  # outlet_kpa samples (one per poll, answered or not)
    station_samples_stored: int = 0  # every channel
    camera_polls: int = 0
    camera_polls_stored: m.Polls | None = None  # reachable samples (one per poll; NOT_POLLED apart)
    alarm_events_published: int = 0  # distinct event ids the witness saw
    alarm_events_stored: int = 0  # alarm-host samples other than `online` (one per event)
    published_by_type: dict[str, int] = field(default_factory=dict)
    alarm_events_missing: list[tuple[int, str, str]] = field(default_factory=list)  # (device ms, host, type)
    station_polls_saved: int = 0  # the same, as the health records saved at shutdown say


@dataclass
class Soak:
    opts: argparse.Namespace
    fleet_s: float
    window_s: float  # the measured window's start, seconds after the warm-up began
    injected: list[Injected]
    restarts: list[Restart]
    readings: list[sm.ProcessReading]
    minute_readings: list[sm.ProcessReading]
    metrics: dict[str, float]
    health: dict
    records: sm.Records
    counts: Counts
    service_log: str
    stopped_cleanly: bool
    stopped_at: datetime


def count_samples(vm_url: str, records: sm.Records, witness: sm.Witness, *, start: datetime, end: datetime,
                  metrics: dict[str, float], scraped_at: datetime, since: datetime, cut: datetime) -> Counts:
    """Station polls as the service counted them at the last scrape (/metrics, its live health
    records) against the polls stored up to that moment; camera polls as the health records
    saved at shutdown say; alarm-host events stamped from ``since`` (the service subscribed
    before) up to ``cut`` (some seconds before the service was stopped: later ones may be
    acknowledged only by the next process) against those stored."""
    c = Counts()
    c.station_polls = int(sm.metric_sum(metrics, "sitewatch_polls_total", kind="regulator_station"))
    c.station_polls_saved = sum(ok + failed for d, (ok, failed) in records.polls.items() if re.match(STATIONS, d))
    c.camera_polls = sum(ok + failed for d, (ok, failed) in records.polls.items() if d.startswith("cam-")
                         and "/" not in d)  # a camera's events job is not a poll of its own channels
    c.station_polls_stored = m.poll_counts(vm_url, channel="outlet_kpa", start=start, end=scraped_at, interval_s=1.0,
                                           devices=24, kind_prefix=STATIONS)
    c.station_samples_stored = sm.vm_count(vm_url, f'asset=~"{STATIONS}.*"', start=start, end=scraped_at)
    c.camera_polls_stored = m.poll_counts(vm_url, channel="reachable", start=start, end=end, interval_s=1.0,
                                          devices=30, kind_prefix="cam-")
    kept = sm.vm_times(vm_url, 'asset=~"ah-.*",channel!="online"', start=since, end=cut)
    c.alarm_events_stored = len(kept)
    published = witness.by_type(since=since, until=cut)
    c.alarm_events_published = sum(published.values())
    c.published_by_type = dict(published)
    c.alarm_events_missing = sorted((ms, host, kind)
                                    for (host, ms), kind in witness.stamped(since=since, until=cut).items()
                                    if not any((host, ms + d) in kept for d in (-1, 0, 1)))  # rounding to ms
    return c


@dataclass
class Matched:
    injected: Injected
    tickets: list[sm.TicketRecord]
    firing_after_clear: list[sm.AlertRecord]

    @property
    def ok(self) -> bool:
        return (self.injected.error is None and len(self.tickets) == 1
                and self.tickets[0].fault == self.injected.fault.group and not self.firing_after_clear)


def match(injected: list[Injected], records: sm.Records, *, fleet_s: float) -> tuple[list[Matched], list]:
    """Each fault's tickets: on its asset, of its fault group, opened from its injection until it
    was cleared plus a fleet minute. The tickets no fault explains are returned apart."""
    matched, explained = [], set()
    for entry in injected:
        until = (entry.cleared_at or entry.at) + timedelta(seconds=fleet_s) + TICKET_SLACK
        # Of its fault group: two faults of an asset may overlap (rs-011: gas, then a slam-shut).
        tickets = [t for t in records.tickets if t.asset_id == entry.fault.asset and t.fault == entry.fault.group
                   and entry.at - TICKET_SLACK <= t.opened_at <= until]
        explained.update(t.id for t in tickets)
        ids = {t.id for t in tickets}
        firing = [a for a in records.alerts if a.ticket_id in ids and a.state == "firing"]
        matched.append(Matched(entry, tickets, firing if entry.cleared_at is not None else []))
    return matched, [t for t in records.tickets if t.id not in explained]


MAX_GROWTH_PCT = 10.0  # the bar for memory after the warm-up


def report(s: Soak) -> list[str]:
    """Print the figures; return what failed the soak's bars (empty: passed)."""
    o = s.opts
    print(f"\n== soak: {o.minutes} fleet minutes at x{o.compress:g} ({o.minutes * s.fleet_s / 60:.1f} wall min) "
          f"after {o.warmup_min:g} fleet min of warm-up; outages {o.outage_s:g} s ==")
    _memory(s)
    _faults(s)
    _samples(s)
    _service(s)
    failures = verdict(s)
    print("PASSED" if not failures else "FAILED: " + "; ".join(failures))
    sys.stdout.flush()
    return failures


def verdict(s: Soak) -> list[str]:
    failures = []
    after = [r for r in s.readings if r.at >= s.window_s]
    if after:
        first, last = after[0], s.readings[-1]
        growth = 100 * (last.rss_mb - first.rss_mb) / first.rss_mb
        if growth >= MAX_GROWTH_PCT:
            failures.append(f"memory grew {growth:.1f} %")
        if first.tasks is not None and last.tasks is not None and last.tasks > first.tasks:
            failures.append(f"tasks {first.tasks} -> {last.tasks}")
    matched, unexplained = match(s.injected, s.records, fleet_s=s.fleet_s)
    if bad := [x for x in matched if not x.ok]:
        failures.append(f"{len(bad)} fault(s) without exactly one ticket resolved")
    if unexplained:
        failures.append(f"{len(unexplained)} ticket(s) no fault explains")
    c = s.counts
    if c.station_polls_stored is not None and c.station_polls_stored.found < c.station_polls:
        failures.append(f"station polls lost: {c.station_polls - c.station_polls_stored.found}")
    if c.camera_polls_stored is not None and c.camera_polls_stored.found < c.camera_polls:
        failures.append(f"camera polls lost: {c.camera_polls - c.camera_polls_stored.found}")
    if c.alarm_events_stored < c.alarm_events_published:
        failures.append(f"alarm events lost: {c.alarm_events_published - c.alarm_events_stored}")
    if sm.metric_sum(s.metrics, "sitewatch_transitions_unwritten"):
        failures.append("alert transitions left unwritten")
    if not s.stopped_cleanly:
        failures.append("the service did not stop cleanly")
    return failures


def _memory(s: Soak) -> None:
    after = [r for r in s.readings if r.at >= s.window_s]
    if not after:
        print("no readings after the warm-up")
        return
    first, last = after[0], s.readings[-1]
    growth = 100 * (last.rss_mb - first.rss_mb) / first.rss_mb
    peak = max(r.rss_mb for r in after)
    print(f"service RSS: {first.rss_mb:.0f} MB after warm-up -> {last.rss_mb:.0f} MB at the end "
          f"({growth:+.1f} %; peak {peak:.0f} MB; {len(s.readings)} readings every ~2 s)")
    rss = [r.rss_mb for r in s.minute_readings]
    tasks = [r.tasks for r in s.minute_readings if r.tasks is not None]
    print(f"  RSS per fleet minute  {sm.sparkline(rss)}  {min(rss):.0f}-{max(rss):.0f} MB")
    print("  " + " ".join(f"{v:.0f}" for v in rss))
    if tasks:
        print(f"  tasks per fleet minute {sm.sparkline(tasks)}  {min(tasks)}-{max(tasks)}")
        print("  " + " ".join(str(v) for v in tasks))
    print(f"asyncio tasks: {first.tasks} after warm-up -> {last.tasks} at the end; "
          f"threads {first.threads} -> {last.threads}; open fds {first.fds} -> {last.fds}")


def _faults(s: Soak) -> None:
    matched, unexplained = match(s.injected, s.records, fleet_s=s.fleet_s)
    good = [x for x in matched if x.ok]
    by_kind: collections.Counter[str] = collections.Counter(x.injected.fault.fault for x in matched)
    print(f"faults injected: {len(matched)} ({', '.join(f'{k} {n}' for k, n in sorted(by_kind.items()))}); "
          f"with exactly one ticket of the expected fault and its alerts resolved after the clear: {len(good)}")
    for x in matched:
        if not x.ok:
            f = x.injected.fault
            print(f"  NOT OK {f.fault} on {f.asset} at {x.injected.at:%H:%M:%S}: tickets "
                  f"{[(t.id, t.fault, t.rule_id, f'{t.opened_at:%H:%M:%S}') for t in x.tickets]}, "
                  f"firing after clear {[(a.rule_id, a.state) for a in x.firing_after_clear]}"
                  + (f", {x.injected.error}" if x.injected.error else ""))
    print(f"tickets no fault explains: {len(unexplained)}"
          + "".join(f"\n  #{t.id} {t.asset_id} {t.fault} {t.rule_id} {t.opened_at:%H:%M:%S}" for t in unexplained))
    firing = [a for a in s.records.alerts if a.state == "firing"]
    print(f"alerts still firing at the end: {len(firing)}"
          + "".join(f"\n  {a.asset_id} {a.rule_id} since {a.started_at:%H:%M:%S}"
                    f"{' held: ' + a.suppressed_by if a.suppressed_by else ''}" for a in firing))
    opened = sm.metric_sum(s.metrics, "sitewatch_tickets_opened_total")
    unwritten = sm.metric_sum(s.metrics, "sitewatch_transitions_unwritten")
    print(f"ticket changes: {len(s.records.tickets)} tickets in PostgreSQL, {opened:.0f} opened by the service "
          f"(its counter); transitions judged and not written at the end: {unwritten:.0f}; audit rows: "
          + ", ".join(f"{k} {n}" for k, n in sorted(s.records.audit.items()) if k.split()[0] in ("ticket", "alert")))
    for r in s.restarts:
        back = f"{r.back_s - r.started_s:.1f} s after the start" if r.back_s is not None and r.started_s else "never"
        print(f"restart: {r.server} stopped at {r.stopped_s - s.window_s:+.0f} s ({r.stopped_at:%H:%M:%S} UTC), "
              f"started at {(r.started_s or 0) - s.window_s:+.0f} s; back for the service {back}")


def _samples(s: Soak) -> None:
    c = s.counts
    st, cam = c.station_polls_stored, c.camera_polls_stored
    print(f"station polls: {c.station_polls:,} made (/metrics at the last scrape) vs {st.found:,} stored by then "
          f"(outlet_kpa samples; {st.failed:,} of them failed polls); samples stored {c.station_samples_stored:,} "
          f"vs {c.station_polls * STATION_CHANNELS:,} expected ({STATION_CHANNELS} channels a poll)")
    saved_at = s.records.health_saved_at
    print(f"  the health records saved in PostgreSQL count {c.station_polls_saved:,} station polls; newest row saved "
          f"{(s.stopped_at - saved_at).total_seconds():+.1f} s before the service was told to stop"
          if saved_at else "  no health records saved")
    print(f"camera polls: {c.camera_polls:,} made (health records saved at shutdown) vs {cam.found:,} stored "
          f"(reachable samples; "
          f"{cam.failed:,} failed; {cam.held_back:,} NOT_POLLED intervals apart)")
    print(f"alarm-host events: {c.alarm_events_published:,} published (witness) vs {c.alarm_events_stored:,} "
          f"stored; by type {dict(sorted(c.published_by_type.items()))}")
    for ms, host, kind in c.alarm_events_missing[:10]:
        at = datetime.fromtimestamp(ms / 1000, UTC)
        print(f"  not stored: {host} {kind} stamped {at:%H:%M:%S.%f} UTC")
    inputs = s.health.get("inputs", {}).get("alarm_hosts", {})
    print(f"  the service's alarm-host counters: {inputs}")


def _service(s: Soak) -> None:
    loops = s.health.get("loops", {})
    print("loops: " + ", ".join(f"{n} restarts {v.get('restarts', 0)} errors {v.get('errors', 0)}"
                                for n, v in sorted(loops.items())))
    written = sm.metric_sum(s.metrics, "sitewatch_samples_written_total")
    dropped = sm.metric_sum(s.metrics, "sitewatch_buffer_samples_moved_total", way="dropped")
    spooled = sm.metric_sum(s.metrics, "sitewatch_buffer_samples_moved_total", way="spooled")
    print(f"store writer: {written:,.0f} samples written, {spooled:,.0f} spooled, {dropped:,.0f} dropped; "
          f"set aside {s.health.get('set_aside')}; status {s.health.get('status')}; "
          f"stopped cleanly: {s.stopped_cleanly}")
    print("service log, warnings and errors by kind:")
    for kind, n in m.log_summary(s.service_log).most_common(12):
        print(f"  {n:6,d}  {kind}")
