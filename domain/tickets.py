"""Ticket lifecycle vocabulary (DOMAIN.md "Tickets")."""

from __future__ import annotations

import enum


class TicketState(str, enum.Enum):
    REGISTERED = "registered"
    DISPATCHED = "dispatched"
    ARRIVED = "arrived"
    RESOLVED = "resolved"
    SIGNED_OFF = "signed_off"
    FOLLOWED_UP = "followed_up"
    CLOSED = "closed"


class ServiceType(str, enum.Enum):
    A_PAID = "A"
    B_CONTRACT = "B"
    C_WARRANTY = "C"
    D_INTERNAL = "D"


# The forward path of a ticket; any other move is refused (DOMAIN.md: the record is the
# basis for pay and penalties, so it only ever moves forward and every move is audited).
ALLOWED_TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    TicketState.REGISTERED: frozenset({TicketState.DISPATCHED}),
    TicketState.DISPATCHED: frozenset({TicketState.ARRIVED}),
    TicketState.ARRIVED: frozenset({TicketState.RESOLVED}),
    TicketState.RESOLVED: frozenset({TicketState.SIGNED_OFF}),
    TicketState.SIGNED_OFF: frozenset({TicketState.FOLLOWED_UP}),
    TicketState.FOLLOWED_UP: frozenset({TicketState.CLOSED}),
    TicketState.CLOSED: frozenset(),
}

OPEN_STATES = frozenset(s for s in TicketState if s is not TicketState.CLOSED)
