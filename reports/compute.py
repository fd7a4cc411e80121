"""Pure: ticket rows of a period -> SLA compliance, satisfaction, repeat faults.

Definitions (the same words the reports print):

* **Arrival compliance**: of the period's tickets (opened in it, by the site's calendar),
  the share whose technician arrived by arrive-by. A ticket not arrived whose arrive-by has
  passed at the report's time counts as missed; one whose arrive-by is still ahead is not
  yet due and left out. Arriving exactly at the deadline is in time (tickets/sla.py).
* **Resolution compliance**: the same for resolve-by. A ticket without a resolve-by is left
  out (counted as not due). A missed resolve-by is recorded once and sticks
  (``resolve_breached``): it stays missed even if a commitment moved resolve-by later.
  Likewise a recorded arrival breach (``sla_breached``) stays missed.
* **Repeat faults**: the period's tickets with ``repeat_of`` set, listed with their asset.
* **Satisfaction**: the mean of each axis over the period's tickets that carry the
  customer's sign-off rating, and how many there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sitewatch.reports.models import DeadlineCompliance, RepeatFault, Satisfaction

MET, MISSED, NOT_DUE = "met", "missed", "not_due"
AXES = ("attitude", "skill", "arrival_time", "follow_through")
LEVELS = (1, 2, 3, 4)


class TicketFacts(Protocol):
    """The columns of sitewatch.storage.tables.TicketRow the reports read."""

    id: int
    site_id: str
    asset_id: str
    title: str
    title_msg: dict | None
    service_type: str
    opened_at: datetime
    arrive_by: datetime
    arrived_at: datetime | None
    resolve_by: datetime | None
    resolved_at: datetime | None
    sla_breached: bool
    resolve_breached: bool
    repeat_of: int | None
    rating_attitude: int | None
    rating_skill: int | None
    rating_arrival_time: int | None
    rating_follow_through: int | None


def arrival_outcome(ticket: TicketFacts, *, now: datetime) -> str:
    if ticket.sla_breached:
        return MISSED
    if ticket.arrived_at is not None:
        return MET if ticket.arrived_at <= ticket.arrive_by else MISSED
    return MISSED if now > ticket.arrive_by else NOT_DUE


def resolution_outcome(ticket: TicketFacts, *, now: datetime) -> str:
    if ticket.resolve_breached:
        return MISSED
    if ticket.resolve_by is None:
        return NOT_DUE
    if ticket.resolved_at is not None:
        return MET if ticket.resolved_at <= ticket.resolve_by else MISSED
    return MISSED if now > ticket.resolve_by else NOT_DUE


def compliance(outcomes: Iterable[str]) -> DeadlineCompliance:
    outcomes = list(outcomes)
    met, missed = outcomes.count(MET), outcomes.count(MISSED)
    return DeadlineCompliance(met_count=met, missed_count=missed, not_due_count=outcomes.count(NOT_DUE),
                              compliance_pct=100.0 * met / (met + missed) if met + missed else None)


def arrival_compliance(tickets: Sequence[TicketFacts], *, now: datetime) -> DeadlineCompliance:
    return compliance(arrival_outcome(t, now=now) for t in tickets)


def resolution_compliance(tickets: Sequence[TicketFacts], *, now: datetime) -> DeadlineCompliance:
    return compliance(resolution_outcome(t, now=now) for t in tickets)


def satisfaction(tickets: Sequence[TicketFacts]) -> Satisfaction:
    rated = [t for t in tickets if all(getattr(t, f"rating_{axis}") is not None for axis in AXES)]
    means: dict[str, float | None] = {}
    levels: dict[str, list[int]] = {}
    for axis in AXES:
        values = [getattr(t, f"rating_{axis}") for t in rated]
        means[f"{axis}_mean"] = sum(values) / len(values) if values else None
        levels[axis] = [values.count(level) for level in LEVELS]
    return Satisfaction(rated_count=len(rated), levels_count=levels, **means)


def repeat_faults(
    tickets: Sequence[TicketFacts], asset_names: Mapping[str, str], zones: Mapping[str, str],
) -> list[RepeatFault]:
    return [
        RepeatFault(ticket_id=t.id, repeat_of=t.repeat_of, site_id=t.site_id, asset_id=t.asset_id,
                    asset_name=asset_names.get(t.asset_id, t.asset_id), title=t.title, opened_at=t.opened_at,
                    time_zone=zones[t.site_id], title_msg=t.title_msg)
        for t in sorted(tickets, key=lambda t: (t.opened_at, t.id)) if t.repeat_of is not None
    ]


def rate_pct(numerator: int, denominator: int) -> float | None:
    return 100.0 * numerator / denominator if denominator else None
