"""The forms of a ticket's page: what each move asks for, turned into the workflow's
arguments, and the workflow's refusals said in the viewer's language.

Fields arrive as text and are read here, so a bad number is a message on the page (422)
rather than a validation dump; whether a move is complete is still the workflow's call
(tickets/workflow.py), and its refusal is mapped onto a sentence per move.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from sitewatch import i18n
from sitewatch.api.bounds import FIRST_YEAR, LAST_YEAR
from sitewatch.domain.tickets import ServiceType, TicketState
from sitewatch.domain.time import UTC
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets.words import STATES, label
from sitewatch.tickets.workflow import InvalidTransition, MissingDetails, Rating, Report

# Each move's form: its heading (also the button).
MOVES = {
    TicketState.DISPATCHED: i18n.lazy("Dispatch a technician"),
    TicketState.ARRIVED: i18n.lazy("Arrived on site"),
    TicketState.RESOLVED: i18n.lazy("Resolved: the technician's report"),
    TicketState.SIGNED_OFF: i18n.lazy("Customer sign-off"),
    TicketState.FOLLOWED_UP: i18n.lazy("Follow-up call"),
    TicketState.CLOSED: i18n.lazy("Close the ticket"),
}
# What the workflow found missing, per move (its MissingDetails).
MISSING = {
    TicketState.DISPATCHED: i18n.lazy("Choose the technician to send, or type a name."),
    TicketState.RESOLVED: i18n.lazy("The report needs the cause and the work done."),
    TicketState.SIGNED_OFF: i18n.lazy("The sign-off needs the customer's name and all four ratings (1 to 4)."),
    TicketState.FOLLOWED_UP: i18n.lazy("The follow-up needs a note of what the customer said."),
}
INCOMPLETE = i18n.lazy("The form is incomplete.")


class FormRefused(Exception):
    """A form the page does not pass on: the message (translated) and the HTTP status."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class MoveForm(BaseModel):
    """Every field any move's form has; each move reads its own."""

    to: str = ""
    note: str = ""
    assignee: str = ""  # chosen from the technicians
    assignee_other: str = ""  # or typed (a contractor, a colleague without a login)
    cause: str = ""
    work_done: str = ""
    work_hours: str = ""
    parts_used: str = ""
    service_type: str = ""
    customer_name: str = ""
    rating_attitude: str = ""
    rating_skill: str = ""
    rating_arrival_time: str = ""
    rating_follow_through: str = ""

    def target(self) -> TicketState:
        try:
            return TicketState(self.to)
        except ValueError:
            raise FormRefused(i18n.gettext("Unknown move.")) from None


class CommitForm(BaseModel):
    resolve_by: str = ""  # <input type="datetime-local">: the site's wall clock, no zone
    reason: str = ""


def move_arguments(form: MoveForm, ticket: TicketRow) -> dict[str, Any]:
    """The keyword arguments of ``transition_ticket`` for this form. Raises FormRefused for
    a field that cannot be read, and MissingDetails for a rating out of 1..4."""
    to = form.target()
    arguments: dict[str, Any] = {"to": to, "note": form.note.strip()}
    if to is TicketState.DISPATCHED:
        arguments["assignee"] = form.assignee_other.strip() or form.assignee.strip() or None
    elif to is TicketState.RESOLVED:
        arguments["report"] = Report(form.cause.strip(), form.work_done.strip(), _hours(form.work_hours),
                                     form.parts_used.strip())
        service_type = _service_type(form.service_type)
        if service_type is not None and service_type.value != ticket.service_type:
            arguments["service_type"] = service_type
    elif to is TicketState.SIGNED_OFF:
        arguments["customer_name"] = form.customer_name.strip() or None
        arguments["rating"] = _rating(form)
    return arguments


def move_refusal(exc: InvalidTransition | MissingDetails, to: TicketState, ticket: TicketRow) -> FormRefused:
    if isinstance(exc, InvalidTransition):
        return FormRefused(i18n.gettext(
            "This ticket is “%(state)s” now and cannot become “%(target)s”; someone may have moved it "
            "meanwhile.", state=label(STATES, ticket.state), target=label(STATES, to.value)), 409)
    return FormRefused(i18n.gettext(MISSING.get(to, INCOMPLETE)))


def commit_arguments(form: CommitForm, time_zone: str) -> dict[str, Any]:
    try:
        wall = datetime.fromisoformat(form.resolve_by.strip())
        if not FIRST_YEAR <= wall.year <= LAST_YEAR:  # year 1 in the site's zone has no UTC (api/bounds.py)
            raise ValueError(wall)
    except ValueError:
        raise FormRefused(i18n.gettext("Enter the date and time it will be resolved by.")) from None
    if wall.tzinfo is None:
        wall = wall.replace(tzinfo=ZoneInfo(time_zone))
    return {"resolve_by": wall.astimezone(UTC), "reason": form.reason.strip()}


def commit_refusal(exc: InvalidTransition | MissingDetails, form: CommitForm) -> FormRefused:
    if isinstance(exc, InvalidTransition):
        return FormRefused(i18n.gettext("The ticket is resolved or closed: there is nothing left to commit to."),
                           409)
    # commit_resolution refuses a missing reason first, then a time not in the future.
    if not form.reason.strip():
        return FormRefused(i18n.gettext("Give the reason it cannot be resolved sooner."))
    return FormRefused(i18n.gettext("The committed time must be in the future."))


def _hours(text: str) -> float | None:
    text = text.strip().replace(",", ".")  # a decimal comma from some keyboards
    if not text:
        return None
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours) or hours < 0:
        raise FormRefused(i18n.gettext("Work hours are a number of hours, e.g. 1.5."))
    return hours


def _service_type(text: str) -> ServiceType | None:
    if not text:
        return None
    try:
        return ServiceType(text)
    except ValueError:
        raise FormRefused(i18n.gettext("Unknown service type.")) from None


def _rating(form: MoveForm) -> Rating | None:
    """The four levels, or None when any is not given (the workflow then refuses)."""
    levels = [form.rating_attitude, form.rating_skill, form.rating_arrival_time, form.rating_follow_through]
    if not all(level.strip().isdigit() for level in levels):
        return None
    return Rating(*(int(level) for level in levels))  # MissingDetails for a level out of 1..4
