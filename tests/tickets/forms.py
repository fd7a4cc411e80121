"""Filled-in ticket forms for tests that need a ticket moved along its whole lifecycle."""

from __future__ import annotations

from datetime import datetime

from sitewatch.domain.tickets import TicketState
from sitewatch.tickets.workflow import Rating, Report, transition_ticket

FORMS = {
    TicketState.DISPATCHED: {"assignee": "Li Wei"},
    TicketState.ARRIVED: {},
    TicketState.RESOLVED: {"report": Report(cause="diaphragm worn", work_done="replaced the diaphragm",
                                            work_hours=1.5, parts_used="diaphragm DN50")},
    TicketState.SIGNED_OFF: {"customer_name": "Wang Fang", "rating": Rating(4, 4, 3, 4)},
    TicketState.FOLLOWED_UP: {"note": "customer called back on day 3: no recurrence"},
    TicketState.CLOSED: {},
}


def close_ticket(session, ticket_id: int, *, at: datetime, actor: str = "desk") -> None:
    """Walk a registered ticket through every state to closed, each form filled in."""
    for state, form in FORMS.items():
        transition_ticket(session, ticket_id, to=state, actor=actor, at=at, **form)
