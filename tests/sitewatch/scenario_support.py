"""Ground-truth checking for a played fault script: what each fault must (or must not) have
caused in the alerts and tickets tables, compared against what the service recorded.

The expectation table is data: one ``Fault`` row per script step, listing the alerts the
step must raise (``fires(...)``; empty = must raise nothing). Tickets are derived from the
alerts: one ticket per fault — per asset and fault group (the rules' ``fault``; a rule
without one: per fingerprint) — carrying every paged alert of the group as a symptom, one
occurrence plus one per re-fire of an alert already on it, at the priority of its most
severe rule; a ``Tickets`` override says otherwise (a repeat after a closed ticket, an
announcement after maintenance, a stage-up). Every alert row and ticket row in the
database must be matched by an expectation: anything else is reported as unexpected (a
storm is a failure).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sitewatch.domain.alerts import Severity, fingerprint
from sitewatch.rules.models import NoDataRule
from sitewatch.simulators.scenario import Applied, Step
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.writer import PRIORITY

# Sample times are taken when a poll starts; the station answers a moment later, so a fault
# applied between the two shows in a sample stamped just before it. Allowed early by this much.
EARLY_S = 0.1


@dataclass(frozen=True, slots=True)
class Fires:
    """One alert a fault must raise: on the fault's device, by ``rule`` on ``channel``."""

    rule: str
    channel: str
    cause: str | None = None  # the step whose start it is measured from (default: its own)
    ends_with: str | None = None  # the step whose end resolves it (default: the cause)
    end_extra_s: float = 0.0  # resolution comes this long after that end (flapping settles)
    resolves: bool = True
    suppressed_by: str | None = None  # why it is held ("maintenance:<window>"): recorded, nobody paged
    summary_has: str = ""
    lead_s: float = 0.0  # the fault takes up to this long to cross the rule's level (a slow leak)
    severity: str | None = None  # the alert's severity at the end (a stage-up to critical)
    settles: bool = False  # resolves on its own while the fault lasts (a rate rule once the fall ends)


def fires(rule: str, channel: str, **kw) -> Fires:
    return Fires(rule, channel, **kw)


@dataclass(frozen=True, slots=True)
class Fault:
    """A row of the table: a script step and everything it must raise (nothing, if empty)."""

    step: Step
    alerts: tuple[Fires, ...] = ()
    why: str = ""


@dataclass(frozen=True, slots=True)
class Tickets:
    """The tickets of one fault: ``key`` is "<asset>/<fault group>" (or the fingerprint of
    a rule without a group). Derived from the table, or given as an override."""

    key: str
    occurrences: tuple[int, ...]  # one entry per ticket, in opening order
    priorities: tuple[int, ...]
    repeat_of_previous: tuple[bool, ...] = ()  # ticket i marked as a repeat of ticket i-1
    closed: tuple[bool, ...] = ()
    opened_after: datetime | None = None  # e.g. the end of a maintenance window
    fingerprints: frozenset[str] = frozenset()  # the alerts that must page on these tickets (derived)


@dataclass(frozen=True, slots=True)
class Budget:
    poll_s: float
    resolve_no_data_s: float  # reconnection after a comm loss: back-off plus a poll


@dataclass
class Measured:
    label: str
    rule_id: str
    rule_kind: str
    delay_s: float
    resolve_s: float | None


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    measured: list[Measured] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.problems.append(message)


@dataclass(frozen=True, slots=True)
class _Expected:
    fault: Fault
    alert: Fires
    fingerprint: str
    cause: Applied
    end: Applied


def duration_of(rule) -> float:
    """The part of the detection budget that is the rule's own waiting time: its duration
    (``for_s``), a no-data rule's silence (``after_s``), plus a rate rule's window."""
    return earliest_of(rule) + float(getattr(rule, "window_s", None) or 0.0)


def earliest_of(rule) -> float:
    """The least a rule must wait: a steep enough fall trips a rate rule before its window
    has gone by, a duration or a silence cannot be cut short."""
    return sum(float(getattr(rule, name, None) or 0.0) for name in ("for_s", "after_s"))


def expected_alerts(table: Sequence[Fault], applied: Mapping[str, Applied]) -> dict[str, list[_Expected]]:
    out: dict[str, list[_Expected]] = {}
    for fault in table:
        for alert in fault.alerts:
            cause = applied[alert.cause or fault.step.label]
            end = applied[alert.ends_with or alert.cause or fault.step.label]
            fp = fingerprint(fault.step.device_id, alert.rule, alert.channel)
            out.setdefault(fp, []).append(_Expected(fault, alert, fp, cause, end))
    for items in out.values():
        items.sort(key=lambda e: e.cause.started_at)
    return out


def check_alerts(
    table: Sequence[Fault],
    applied: Mapping[str, Applied],
    alerts: Iterable[AlertRow],
    *,
    rules: Mapping[str, object],
    budget: Budget,
) -> Outcome:
    outcome = Outcome()
    expected = expected_alerts(table, applied)
    rows: dict[str, list[AlertRow]] = {}
    for row in alerts:
        rows.setdefault(row.fingerprint, []).append(row)
    for items in rows.values():
        items.sort(key=lambda r: r.started_at)

    for fp in sorted(set(rows) - set(expected)):
        for row in rows[fp]:
            near = [f.step.label for f in table if f.step.device_id == row.asset_id] or ["none"]
            outcome.fail(f"unexpected alert {fp} at {row.started_at.isoformat()} ({row.summary!r}): "
                         f"no fault should raise it (faults on {row.asset_id}: {', '.join(near)})")
    for fp, wanted in expected.items():
        got = rows.get(fp, [])
        if len(got) != len(wanted):
            outcome.fail(
                f"{fp}: expected {len(wanted)} alert(s), from "
                f"{[w.fault.step.label for w in wanted]}; recorded {len(got)}: "
                f"{[(r.started_at.isoformat(), r.state, r.summary) for r in got]}"
            )
            continue
        for want, row in zip(wanted, got):
            _check_one(want, row, rules=rules, budget=budget, outcome=outcome)
    return outcome


def _check_one(
    want: _Expected, row: AlertRow, *, rules: Mapping[str, object], budget: Budget, outcome: Outcome
) -> None:
    label = f"fault {want.fault.step.label!r} -> {want.fingerprint}"
    rule = rules[want.alert.rule]
    no_data = isinstance(rule, NoDataRule)
    duration = duration_of(rule)
    lead = want.alert.lead_s
    delay = (row.started_at - want.cause.started_at).total_seconds()
    # no-data counts its silence from the last good sample, up to a poll before the fault
    # (a lead is "up to": noise may carry a slow fault across the level a little sooner)
    lowest = earliest_of(rule) - (budget.poll_s if no_data else 0.0) - EARLY_S
    highest = lead + budget.poll_s + duration + 1.0
    if not lowest <= delay <= highest:
        outcome.fail(f"{label}: detected after {delay:.2f} s; expected {lowest:.2f} .. {highest:.2f} s "
                     f"({f'lead {lead:g} s + ' if lead else ''}poll {budget.poll_s:g} s + rule {duration:g} s + 1 s)")
    if want.alert.severity is not None and row.severity != want.alert.severity:
        outcome.fail(f"{label}: severity {row.severity!r}, expected {want.alert.severity!r}")
    if row.suppressed_by != want.alert.suppressed_by:
        outcome.fail(f"{label}: suppressed_by {row.suppressed_by!r}, expected {want.alert.suppressed_by!r}")
    if want.alert.summary_has and want.alert.summary_has not in row.summary:
        outcome.fail(f"{label}: summary {row.summary!r} should mention {want.alert.summary_has!r}")
    resolve_s = None
    if want.alert.settles:
        end = want.end.ended_at
        if row.state != "resolved" or row.resolved_at is None:
            outcome.fail(f"{label}: still {row.state}; expected to settle while the fault lasted")
        elif end is not None and row.resolved_at > end + timedelta(seconds=budget.poll_s + 1.0):
            outcome.fail(f"{label}: resolved at {row.resolved_at.isoformat()}, after the fault ended at "
                         f"{end.isoformat()}; expected it to settle while the fault lasted")
        else:
            resolve_s = (row.resolved_at - row.started_at).total_seconds()
    elif want.alert.resolves:
        if want.end.ended_at is None:
            raise AssertionError(f"{label}: expected to resolve, but its step {want.end.step.label!r} never ended")
        end = want.end.ended_at + timedelta(seconds=want.alert.end_extra_s)
        if row.state != "resolved" or row.resolved_at is None:
            outcome.fail(f"{label}: still {row.state}; expected resolved after {end.isoformat()}")
        else:
            resolve_s = (row.resolved_at - end).total_seconds()
            limit = budget.resolve_no_data_s if no_data else budget.poll_s + 1.0
            if not -EARLY_S <= resolve_s <= limit:
                outcome.fail(f"{label}: resolved {resolve_s:+.2f} s after its end; expected 0 .. {limit:.2f} s")
    elif row.state != "firing":
        outcome.fail(f"{label}: {row.state} at {row.resolved_at}; expected still firing")
    outcome.measured.append(Measured(want.fault.step.label, want.alert.rule,
                                     "no_data" if no_data else getattr(rule, "kind", "?"), delay, resolve_s))


def ticket_key(asset_id: str, fault: str | None, fingerprint: str) -> str:
    return f"{asset_id}/{fault}" if fault is not None else fingerprint


def expected_tickets(
    table: Sequence[Fault], applied: Mapping[str, Applied], *, rules: Mapping[str, object],
    overrides: Sequence[Tickets] = (),
) -> dict[str, Tickets]:
    """One ticket per fault (asset and group), unless overridden; an override keeps the
    derived set of fingerprints that must page on it."""
    grouped: dict[str, list[tuple[str, list[_Expected]]]] = {}
    for fp, items in expected_alerts(table, applied).items():
        rule = rules[items[0].alert.rule]
        key = ticket_key(items[0].fault.step.device_id, getattr(rule, "fault", None), fp)
        grouped.setdefault(key, []).append((fp, [e for e in items if e.alert.suppressed_by is None]))
    derived: dict[str, Tickets] = {}
    for key, members in grouped.items():
        paged = [(fp, items) for fp, items in members if items]
        fps = frozenset(fp for fp, _ in paged)
        if not paged:
            continue
        occurrences = 1 + sum(len(items) - 1 for _, items in paged)
        priority = min(PRIORITY[Severity(rules[items[0].alert.rule].severity)] for _, items in paged)
        derived[key] = Tickets(key, occurrences=(occurrences,), priorities=(priority,), fingerprints=fps)
    for override in overrides:
        fps = derived[override.key].fingerprints if override.key in derived else frozenset()
        derived[override.key] = dataclasses.replace(override, fingerprints=fps)
    return {k: t for k, t in derived.items() if t.occurrences}


def check_tickets(expected: Mapping[str, Tickets], tickets: Iterable[TicketRow],
                  alerts: Iterable[AlertRow]) -> Outcome:
    """The tickets per fault, and every paged alert of a fault on one of its tickets."""
    outcome = Outcome()
    rows: dict[str, list[TicketRow]] = {}
    for row in tickets:
        rows.setdefault(ticket_key(row.asset_id, row.fault, row.fingerprint), []).append(row)
    for items in rows.values():
        items.sort(key=lambda r: r.opened_at)
    for key in sorted(set(rows) - set(expected)):
        outcome.fail(f"unexpected ticket(s) for {key}: {[(r.id, r.title) for r in rows[key]]}")
    paged_on: dict[str, list[AlertRow]] = {}
    for alert in alerts:
        if alert.suppressed_by is None:
            paged_on.setdefault(alert.fingerprint, []).append(alert)
    for key, want in expected.items():
        got = rows.get(key, [])
        if len(got) != len(want.occurrences):
            outcome.fail(f"{key}: expected {len(want.occurrences)} ticket(s), found {len(got)}: "
                         f"{[(r.id, r.state, r.occurrences, r.title) for r in got]}")
            continue
        ids = {r.id for r in got}
        for fp in sorted(want.fingerprints):
            for alert in paged_on.get(fp, []):
                if alert.ticket_id not in ids:
                    outcome.fail(f"{key}: alert {alert.id} {fp} ({alert.summary!r}) paged on ticket "
                                 f"{alert.ticket_id}, not on its fault's ticket(s) {sorted(ids)}")
        for i, row in enumerate(got):
            where = f"{key} ticket #{i + 1} (id {row.id})"
            if row.occurrences != want.occurrences[i]:
                outcome.fail(f"{where}: {row.occurrences} occurrence(s), expected {want.occurrences[i]}")
            if row.priority != want.priorities[i]:
                outcome.fail(f"{where}: priority {row.priority}, expected {want.priorities[i]}")
            repeat = want.repeat_of_previous[i] if want.repeat_of_previous else False
            wanted_repeat = got[i - 1].id if repeat else None
            if row.repeat_of != wanted_repeat:
                outcome.fail(f"{where}: repeat_of {row.repeat_of}, expected {wanted_repeat}")
            closed = want.closed[i] if want.closed else False
            if (row.state == "closed") != closed:
                outcome.fail(f"{where}: state {row.state!r}, expected {'closed' if closed else 'open'}")
            if want.opened_after is not None and i == 0 and row.opened_at < want.opened_after:
                outcome.fail(f"{where}: opened {row.opened_at.isoformat()}, before {want.opened_after.isoformat()}")
    return outcome


def delay_table(measured: Sequence[Measured]) -> str:
    """min / median / max detection delay per rule kind and per rule, for the log."""
    lines = []
    for key in ("rule_kind", "rule_id"):
        for name in sorted({getattr(m, key) for m in measured}):
            delays = [m.delay_s for m in measured if getattr(m, key) == name]
            lines.append(f"{name:>12}: n={len(delays):2d} delay min {min(delays):.2f} s, "
                         f"median {statistics.median(delays):.2f} s, max {max(delays):.2f} s")
    return "\n".join(lines)
