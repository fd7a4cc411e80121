"""People's moves on tickets and alerts: only forward, each one audited, refusals explained.

The API calls these; the rules side never does (it has tickets/writer.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.domain.tickets import ALLOWED_TRANSITIONS, ServiceType, TicketState
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.sla import is_breached

RATING_LEVELS = range(1, 5)  # DOMAIN.md: four axes, four levels each (1 dissatisfied .. 4 very satisfied)
MAX_MUTE = timedelta(hours=24)  # longer than a day is a maintenance window, not a mute


class TicketNotFound(LookupError):
    pass


class AlertNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    """The lifecycle forbids this move now (409)."""


class MissingDetails(ValueError):
    """The move is allowed but the form is incomplete (422)."""


@dataclass(frozen=True, slots=True)
class Rating:
    attitude: int
    skill: int
    arrival_time: int
    follow_through: int

    def __post_init__(self) -> None:
        for axis, level in asdict(self).items():
            if level not in RATING_LEVELS:
                raise MissingDetails(f"rating {axis} must be 1..4 (1 dissatisfied, 4 very satisfied), got {level}")


@dataclass(frozen=True, slots=True)
class Report:
    """The technician's account at "resolved" (DOMAIN.md: cause, work done, hours, parts)."""

    cause: str
    work_done: str
    work_hours: float | None = None
    parts_used: str = ""


def transition_ticket(
    session: Session,
    ticket_id: int,
    *,
    to: TicketState,
    actor: str,
    at: datetime,
    note: str = "",
    assignee: str | None = None,
    service_type: ServiceType | None = None,
    report: Report | None = None,
    customer_name: str | None = None,
    rating: Rating | None = None,
) -> TicketRow:
    ticket = session.get(TicketRow, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound(f"ticket {ticket_id} does not exist")
    current = TicketState(ticket.state)
    allowed = ALLOWED_TRANSITIONS[current]
    if to not in allowed:
        options = ", ".join(sorted(s.value for s in allowed)) or "nothing (it is closed)"
        raise InvalidTransition(f"ticket {ticket_id} is {current.value!r}; it can go to: {options}")
    detail: dict = {"from": current.value, "to": to.value, "note": note}
    if to is TicketState.DISPATCHED:
        if not assignee:
            raise MissingDetails("dispatching needs an assignee (the technician)")
        ticket.assignee = detail["assignee"] = assignee
    elif to is TicketState.ARRIVED:
        ticket.arrived_at = at  # the SLA clock stops here
        ticket.sla_breached = ticket.sla_breached or is_breached(arrive_by=ticket.arrive_by, arrived_at=at, now=at)
    elif to is TicketState.RESOLVED:
        if report is None or not report.cause.strip() or not report.work_done.strip():
            raise MissingDetails("resolving needs the cause and the work done")
        ticket.resolved_at = at
        ticket.cause, ticket.work_done = report.cause, report.work_done
        ticket.work_hours, ticket.parts_used = report.work_hours, report.parts_used
        detail["report"] = asdict(report)
    elif to is TicketState.SIGNED_OFF:
        if not customer_name or rating is None:
            raise MissingDetails("the sign-off needs the customer's name and the four-axis rating "
                                 "(attitude, skill, arrival_time, follow_through; 1..4 each)")
        ticket.customer_name = customer_name
        ticket.rating_attitude, ticket.rating_skill = rating.attitude, rating.skill
        ticket.rating_arrival_time, ticket.rating_follow_through = rating.arrival_time, rating.follow_through
        detail |= {"customer_name": customer_name, "rating": asdict(rating)}
    elif to is TicketState.FOLLOWED_UP:
        if not note.strip():
            raise MissingDetails("the follow-up needs a note of what the customer said")
    elif to is TicketState.CLOSED:
        ticket.closed_at = at
    if service_type is not None:
        if current not in (TicketState.REGISTERED, TicketState.DISPATCHED, TicketState.ARRIVED):
            raise InvalidTransition(f"ticket {ticket_id}'s service type is fixed once it is resolved")
        detail["service_type"] = {"old": ticket.service_type, "new": service_type.value}
        ticket.service_type = service_type.value
    ticket.state = to.value
    ticket.updated_at = at
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket_id), action=f"to_{to.value}",
          detail=detail)
    return ticket


def commit_resolution(
    session: Session, ticket_id: int, *, resolve_by: datetime, reason: str, actor: str, at: datetime
) -> TicketRow:
    """Not fixable the same day: a committed resolution time and the reason (DOMAIN.md)."""
    ticket = session.get(TicketRow, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound(f"ticket {ticket_id} does not exist")
    if ticket.resolved_at is not None or ticket.state == TicketState.CLOSED.value:
        raise InvalidTransition(f"ticket {ticket_id} is {ticket.state!r}: there is nothing left to commit to")
    if not reason.strip():
        raise MissingDetails("a committed resolution time needs the reason it cannot be done sooner")
    if resolve_by <= at:
        raise MissingDetails(f"the committed time {resolve_by.isoformat()} is not in the future")
    old = ticket.resolve_by
    ticket.resolve_by, ticket.resolve_reason, ticket.updated_at = resolve_by, reason, at
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket_id), action="resolution_committed",
          detail={"resolve_by": {"old": old.isoformat() if old else None, "new": resolve_by.isoformat()},
                  "reason": reason})
    return ticket


def acknowledge_alert(session: Session, alert_id: int, *, actor: str, at: datetime, comment: str = "") -> AlertRow:
    """The control room has seen it: silences the sound and stops escalation, keeps the alert."""
    alert = session.get(AlertRow, alert_id, with_for_update=True)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} does not exist")
    if alert.acknowledged_at is not None:
        raise InvalidTransition(
            f"alert {alert_id} was acknowledged by {alert.acknowledged_by} at {alert.acknowledged_at.isoformat()}"
        )
    alert.acknowledged_at, alert.acknowledged_by, alert.ack_comment = at, actor, comment
    audit(session, at=at, actor=actor, entity="alert", entity_id=str(alert_id), action="acknowledged",
          detail={"comment": comment, "state": alert.state})
    return alert


def acknowledge_ticket(session: Session, ticket_id: int, *, actor: str, at: datetime, comment: str = "") -> TicketRow:
    """Someone has the ticket in hand (from its page, say, opened from a message): its firing
    alerts not yet acknowledged are, the alarm stops, and paging stops escalating it."""
    ticket = session.get(TicketRow, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound(f"ticket {ticket_id} does not exist")
    if ticket.state == TicketState.CLOSED.value:
        raise InvalidTransition(f"ticket {ticket_id} is closed: there is nothing to acknowledge")
    alerts = session.scalars(
        select(AlertRow).where(AlertRow.ticket_id == ticket_id, AlertRow.state == "firing",
                               AlertRow.acknowledged_at.is_(None)).with_for_update()
    ).all()
    for alert in alerts:
        alert.acknowledged_at, alert.acknowledged_by, alert.ack_comment = at, actor, comment
        audit(session, at=at, actor=actor, entity="alert", entity_id=str(alert.id), action="acknowledged",
              detail={"comment": comment, "state": alert.state, "ticket_id": ticket_id})
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket_id), action="acknowledged",
          detail={"comment": comment, "alerts": [a.id for a in alerts]})
    return ticket


def mute_alert(
    session: Session, alert_id: int, *, actor: str, at: datetime, duration: timedelta, reason: str
) -> AlertRow:
    """Silence a firing alert for a while (no sound, no escalation); announced again when the
    mute ends if it still fires (TicketWriter.end_mutes)."""
    alert = session.get(AlertRow, alert_id, with_for_update=True)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} does not exist")
    if alert.state != "firing":
        raise InvalidTransition(f"alert {alert_id} is {alert.state}: only a firing alert can be muted")
    if not timedelta(0) < duration <= MAX_MUTE:
        raise MissingDetails(f"a mute lasts more than 0 and at most {MAX_MUTE}; use a maintenance window for longer")
    if not reason.strip():
        raise MissingDetails("a mute needs a reason")
    alert.muted_until, alert.muted_by, alert.mute_reason = at + duration, actor, reason
    audit(session, at=at, actor=actor, entity="alert", entity_id=str(alert_id), action="muted",
          detail={"until": alert.muted_until.isoformat(), "reason": reason})
    return alert
