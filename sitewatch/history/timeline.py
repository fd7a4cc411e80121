"""Replays the week's database side in time order: alert transitions through the ticket
writer, people's moves through the ticket workflow, and the deadlines the service keeps.

Each action runs at its instant, in its own transaction, after every earlier one, so
each sees the database as it stood then (the holds, the correlation and the 08:30 logs
read it). Whenever a ticket is waiting for someone to arrive or resolve, the service's
housekeeping is run just after that deadline, as the live service's ticks would: breaches
are recorded when they happened.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState, AlertTransition
from sitewatch.domain.tickets import TicketState
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.deadlines import Deadlines
from sitewatch.tickets.writer import TicketWriter

log = logging.getLogger(__name__)

TICK = timedelta(seconds=10)  # how soon after a deadline the service notices it (SLA_CHECK_EVERY_TICKS)
_WAITING = (TicketState.REGISTERED.value, TicketState.DISPATCHED.value, TicketState.ARRIVED.value)

Action = Callable[[datetime], None]


class Timeline:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config, until: datetime) -> None:
        self.sessions = sessions
        self.until = until
        self.writer = TicketWriter(sessions=sessions, config=config)
        self._deadlines = Deadlines(sessions=sessions, config=config)
        self._queue: list[tuple[datetime, int, Action]] = []
        self._order = itertools.count()
        self._checks: set[datetime] = set()
        self.actions = 0

    def at(self, when: datetime, action: Action) -> None:
        """Run ``action(when)`` at ``when``; actions of one instant run in the order given.
        Refused at or after ``until``: the demo's own present is the live service's."""
        if when >= self.until:
            raise ValueError(f"history reaches {when.isoformat()}, at or after the demo's start "
                             f"{self.until.isoformat()}")
        heapq.heappush(self._queue, (when, next(self._order), action))

    def apply(self, transitions: list[AlertTransition]) -> None:
        """The alert transitions, each applied at its own instant by the ticket writer."""
        for transition in transitions:
            self.at(transition.at, lambda _at, t=transition: self._write(t))

    def run(self) -> None:
        while self._queue:
            when, _, action = heapq.heappop(self._queue)
            action(when)
            self.actions += 1
            self._watch_deadlines(when)

    def _write(self, transition: AlertTransition) -> None:
        summary = self.writer.apply([transition])
        if summary.failed:
            raise RuntimeError(f"the ticket writer failed on {transition.fingerprint} at {transition.at.isoformat()}")

    def _watch_deadlines(self, now: datetime) -> None:
        """Housekeeping just after each arrive-by and resolve-by still ahead of a ticket."""
        with self.sessions() as session:
            rows = session.execute(select(TicketRow.arrive_by, TicketRow.arrived_at, TicketRow.resolve_by)
                                   .where(TicketRow.state.in_(_WAITING))).all()
        for arrive_by, arrived_at, resolve_by in rows:
            for deadline in (arrive_by if arrived_at is None else None, resolve_by):
                if deadline is None or not now <= deadline + TICK < self.until or deadline + TICK in self._checks:
                    continue
                self._checks.add(deadline + TICK)
                self.at(deadline + TICK, self._housekeeping)

    def _housekeeping(self, now: datetime) -> None:
        """What the passage of time does to alerts and tickets (the runtime's rules tick)."""
        self._deadlines.escalate_unacknowledged(now=now)
        self.writer.release_held(now=now)
        self.writer.end_mutes(now=now)
        self._deadlines.check_arrivals(now=now)
        self._deadlines.check_resolutions(now=now)


def ticket_opened_by(session: Session, transition: AlertTransition) -> TicketRow | None:
    """The ticket a firing transition opened, once the writer applied it; None when its
    alert was held or joined a ticket another fault had opened."""
    alert = session.scalars(select(AlertRow).where(
        AlertRow.fingerprint == transition.fingerprint, AlertRow.started_at == transition.at,
        AlertRow.state.in_((AlertState.FIRING.value, AlertState.RESOLVED.value)))).first()
    if alert is None or alert.ticket_id is None:
        return None
    ticket = session.get(TicketRow, alert.ticket_id)
    return ticket if ticket is not None and ticket.opened_at == transition.at else None
