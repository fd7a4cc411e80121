"""Reminders that time alone calls for, each once per ticket (paging_reminders):

- ``arrive_soon``: arrive-by is ``arrive_soon_min`` away and nobody is on site — the
  technician (if dispatched) and the desk hear of it while there is still time to act;
- ``end_of_day:<local date>``: the site's working day ends with the ticket unresolved and
  no committed resolution time — DOMAIN.md (§2 2(1)): resolve it the same day, or explain
  and commit a time in writing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config, WorkingCalendar
from sitewatch.domain.tickets import TicketState
from sitewatch.domain.time import to_local
from sitewatch.paging.models import NoticeKind
from sitewatch.paging.routes import Recipient, assignee_recipients, recipients
from sitewatch.storage.paging import ReminderRow
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets.sla import first_instant_reading, is_working_day

if TYPE_CHECKING:
    from sitewatch.paging.planner import Planner

_BEFORE_ARRIVAL = (TicketState.REGISTERED.value, TicketState.DISPATCHED.value)
_UNRESOLVED = (*_BEFORE_ARRIVAL, TicketState.ARRIVED.value)
ARRIVE_SOON = "arrive_soon"


class Reminders:
    def __init__(self, config: Config, planner: Planner) -> None:
        assert config.paging is not None
        self._config = config
        self._settings = config.paging
        self._planner = planner
        self._soon = timedelta(minutes=config.paging.arrive_soon_min)
        duty = config.duty
        # The working day the seed means is the office's: the duty calendar, else Mon-Fri 08:30-17:30.
        self._calendar = (config.sla.calendars.get(duty.calendar) if duty.calendar else None) or WorkingCalendar()

    def run(self, session: Session, now: datetime) -> None:
        self._arrive_soon(session, now)
        self._end_of_day(session, now)

    def _arrive_soon(self, session: Session, now: datetime) -> None:
        due = session.scalars(
            select(TicketRow).where(
                TicketRow.state.in_(_BEFORE_ARRIVAL), TicketRow.arrived_at.is_(None),
                TicketRow.sla_breached.is_(False), TicketRow.arrive_by > now, TicketRow.arrive_by <= now + self._soon,
            )
        ).all()
        for ticket in due:
            if self._mark(session, ticket.id, ARRIVE_SOON, now):
                self._planner.tell(session, ticket, NoticeKind.ARRIVE_SOON, self._technician_and_desk(ticket, now),
                                   now, key=ARRIVE_SOON)

    def _end_of_day(self, session: Session, now: datetime) -> None:
        calendar = self._calendar
        open_tickets = session.scalars(
            select(TicketRow).where(TicketRow.state.in_(_UNRESOLVED), TicketRow.resolve_reason == "",
                                    TicketRow.resolve_by > now)
        ).all()
        for ticket in open_tickets:
            try:
                time_zone = self._config.site(ticket.site_id).time_zone
            except KeyError:
                continue
            today = to_local(now, time_zone).date()
            if not is_working_day(today, calendar):
                continue
            day_ends = first_instant_reading(today, calendar.end, ZoneInfo(time_zone))
            if now < day_ends or ticket.opened_at >= day_ends:
                continue  # the day is not over, or it opened after: tomorrow's working day is its first
            mark = f"end_of_day:{today.isoformat()}"
            if self._mark(session, ticket.id, mark, now):
                self._planner.tell(session, ticket, NoticeKind.END_OF_DAY, self._technician_and_desk(ticket, now),
                                   now, key=mark)

    def _technician_and_desk(self, ticket: TicketRow, now: datetime) -> list[Recipient]:
        technician = assignee_recipients(self._settings, ticket.assignee)
        desk = recipients(self._settings, self._planner.route_of(ticket), desk=self._planner.desk_of(ticket, None),
                          targets=("on_call", "groups"), at=now)
        return list({r.key: r for r in [*technician, *desk]}.values())  # someone both: told once

    @staticmethod
    def _mark(session: Session, ticket_id: int, mark: str, now: datetime) -> bool:
        """Record the reminder; False if it was already made."""
        if session.get(ReminderRow, (ticket_id, mark)) is not None:
            return False
        session.add(ReminderRow(ticket_id=ticket_id, mark=mark, at=now))
        return True
