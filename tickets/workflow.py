"""Moving a ticket along its lifecycle: only forward, each step audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from domain.tickets import ALLOWED_TRANSITIONS, TicketState
from storage.repository import audit
from storage.tables import AlertRow, TicketRow
from tickets.sla import is_breached


class TicketNotFound(LookupError):
    pass


class AlertNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    pass


def transition_ticket(
    session: Session,
    ticket_id: int,
    *,
    to: TicketState,
    actor: str,
    at: datetime,
    note: str = "",
    assignee: str | None = None,
) -> TicketRow:
    ticket = session.get(TicketRow, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound(f"ticket {ticket_id} does not exist")
    current = TicketState(ticket.state)
    allowed = ALLOWED_TRANSITIONS[current]
    if to not in allowed:
        options = ", ".join(sorted(s.value for s in allowed)) or "nothing (it is closed)"
        raise InvalidTransition(f"ticket {ticket_id} is {current.value!r}; it can go to: {options}")
    if to is TicketState.DISPATCHED:
        if not assignee:
            raise InvalidTransition("dispatching needs an assignee (the technician)")
        ticket.assignee = assignee
    if to is TicketState.ARRIVED:
        ticket.arrived_at = at  # the SLA clock stops here
        ticket.sla_breached = is_breached(arrive_by=ticket.arrive_by, arrived_at=at, now=at)
    elif to is TicketState.RESOLVED:
        ticket.resolved_at = at
    elif to is TicketState.CLOSED:
        ticket.closed_at = at
    ticket.state = to.value
    ticket.updated_at = at
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket_id), action=f"to_{to.value}",
          detail={"from": current.value, "to": to.value, "note": note, "assignee": assignee})
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
