"""Judgements the control room shows, pure: an asset's status, whether an alert sounds, where
a ticket stands against its deadlines. No database, no clock: the caller passes ``now``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sitewatch import i18n

SEVERITY_RANK = {"info": 0, "warning": 1, "major": 2, "critical": 3}


class Status(StrEnum):
    """What a chip on the control room says about an asset, most urgent first."""

    CRITICAL = "critical"  # a paging alert of severity major or critical
    OFFLINE = "offline"  # its own silence (no data / offline rule) pages, or the collector cannot reach it
    WARNING = "warning"  # a paging alert of severity warning or info
    MAINTENANCE = "maintenance"  # a maintenance window or an inspection in progress covers it
    HELD = "held"  # its alerts fire but page nobody: an outage upstream, a site down
    OK = "ok"


STATUS_LABELS = {
    Status.CRITICAL: i18n.lazy("Critical"), Status.OFFLINE: i18n.lazy("Offline"), Status.WARNING: i18n.lazy("Warning"),
    Status.MAINTENANCE: i18n.lazy("In maintenance"), Status.HELD: i18n.lazy("Held"), Status.OK: i18n.lazy("Normal"),
}


@dataclass(frozen=True, slots=True)
class Firing:
    """What the status needs of one firing alert on the asset."""

    severity: str
    silence: bool  # an alert of a no-data or offline rule: the asset itself is not heard
    held_by: str | None  # AlertRow.suppressed_by: "maintenance:<w>", "offline:<asset>" ...


def asset_status(alerts: Iterable[Firing], *, at_work: str | None, unreachable: bool) -> tuple[Status, str | None]:
    """The status and its reason ("rule severity", a hold such as "offline:rtr-1", "inspection:12").

    Paging alerts speak first: a gas alarm during an inspection is critical, not
    maintenance. The asset's own silence outranks a warning (nothing it says can be
    trusted) but not a critical alarm from another channel. Held alerts are explained by
    their hold, so an asset that is both unreachable and held (its router is down) is held.
    """
    alerts = list(alerts)
    paging = [a for a in alerts if a.held_by is None]
    held = [a.held_by for a in alerts if a.held_by is not None]
    loud = max((SEVERITY_RANK[a.severity] for a in paging if not a.silence), default=-1)
    if loud >= SEVERITY_RANK["major"]:
        return Status.CRITICAL, None
    if any(a.silence for a in paging):
        return Status.OFFLINE, None
    if loud >= SEVERITY_RANK["info"]:
        return Status.WARNING, None
    if at_work is not None:
        return Status.MAINTENANCE, at_work
    if held:
        return Status.HELD, held[0]
    if unreachable:
        return Status.OFFLINE, None
    return Status.OK, None


def sounding(*, held_by: str | None, acknowledged_at: datetime | None, muted_until: datetime | None,
             now: datetime) -> bool:
    """A firing alert sounds while it pages (nothing holds it), nobody acknowledged it and
    no mute runs: the same test the deadlines use for escalating (tickets/deadlines.py)."""
    return held_by is None and acknowledged_at is None and (muted_until is None or muted_until <= now)


class Arrival(StrEnum):
    DUE = "due"  # nobody on site yet, deadline ahead
    OVERDUE = "overdue"  # nobody on site, deadline passed
    MET = "met"  # arrived in time
    LATE = "late"  # arrived after the deadline


class Resolution(StrEnum):
    DUE = "due"
    OVERDUE = "overdue"
    DONE = "done"  # resolved (signed off, followed up ... come after)


SLA_LABELS = {
    Arrival.DUE: i18n.lazy("Arrival due"), Arrival.OVERDUE: i18n.lazy("Arrival overdue"),
    Arrival.MET: i18n.lazy("Arrived in time"), Arrival.LATE: i18n.lazy("Arrived late"),
}


def arrival(*, arrive_by: datetime, arrived_at: datetime | None, breached: bool, now: datetime) -> Arrival:
    if arrived_at is not None:
        return Arrival.LATE if breached or arrived_at > arrive_by else Arrival.MET
    return Arrival.OVERDUE if now > arrive_by else Arrival.DUE


def resolution(*, resolve_by: datetime | None, resolved_at: datetime | None, now: datetime) -> Resolution:
    if resolved_at is not None:
        return Resolution.DONE
    return Resolution.OVERDUE if resolve_by is not None and now > resolve_by else Resolution.DUE
