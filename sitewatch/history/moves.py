"""What people did about each story's ticket, made through the ticket workflow at the
instants the story gives: the control room acknowledges, dispatches, follows up and closes;
the technician arrives, resolves, takes the customer's sign-off or commits to a date. The
customers' complaints about a ticket are registered as the desk would."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from sitewatch import i18n
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.tickets import TicketState
from sitewatch.history.episodes import Episode
from sitewatch.history.people import DISPATCHER, TECHNICIAN
from sitewatch.history.stories import ACKNOWLEDGE, COMMIT, COMPLAINTS, DESK_MOVES, Move, Story
from sitewatch.history.timeline import Timeline, ticket_opened_by
from sitewatch.reports.complaints import ComplaintClass, record_complaint
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.workflow import Report, acknowledge_alert, commit_resolution, transition_ticket

log = logging.getLogger(__name__)


class StoryTeller:
    def __init__(self, timeline: Timeline, config: Config, *, locale: str) -> None:
        self._timeline = timeline
        self._config = config
        self._locale = locale
        self.tickets: dict[str, int] = {}  # story key -> the ticket its fault opened

    def tell(self, story: Story, episode: Episode) -> None:
        """Apply the episode's transitions; once its first alert has opened a ticket, plan the
        moves and complaints about that ticket."""
        self._timeline.apply(episode.transitions)
        first = next((t for t in episode.transitions if t.state is AlertState.FIRING), None)
        if first is None:
            raise ValueError(f"story {story.key}: its fault on {episode.asset_id} fired no alert")

        def opened(_at: datetime) -> None:
            with self._timeline.sessions() as session:
                ticket = ticket_opened_by(session, first)
            if ticket is None:  # held, or a symptom of another story's ticket (a very small fleet)
                log.warning("history: %s on %s opened no ticket of its own; its moves are left out",
                            story.key, episode.asset_id)
                return
            self.tickets[story.key] = ticket.id
            for move in story.moves:
                base = ticket.arrive_by if move.from_deadline else ticket.opened_at
                self._timeline.at(base + timedelta(minutes=move.after_min),
                                  lambda at, m=move, t=ticket.id: self._make(t, m, at))
            for key, hours, kind, said in COMPLAINTS:
                if key == story.key:
                    self._timeline.at(ticket.opened_at + timedelta(hours=hours),
                                      lambda at, t=ticket, k=kind, s=said: self._complaint(t, k, s, at))

        self._timeline.at(first.at, opened)  # after the writer's action of the same instant

    def _make(self, ticket_id: int, move: Move, at: datetime) -> None:
        actor = DISPATCHER.username if move.to in DESK_MOVES else TECHNICIAN.username
        with i18n.using(self._locale), self._timeline.sessions() as session:
            if move.to == ACKNOWLEDGE:
                for alert in session.scalars(select(AlertRow).where(AlertRow.ticket_id == ticket_id,
                                                                    AlertRow.acknowledged_at.is_(None),
                                                                    AlertRow.started_at <= at)):
                    acknowledge_alert(session, alert.id, actor=actor, at=at, comment=_said(move.note))
            elif move.to == COMMIT:
                commit_resolution(session, ticket_id, resolve_by=at + timedelta(hours=move.hours),
                                  reason=_said(move.note), actor=actor, at=at)
            else:
                to = TicketState(move.to)
                report = (Report(_said(move.cause), _said(move.work_done), move.work_hours, _said(move.parts_used))
                          if to is TicketState.RESOLVED else None)
                transition_ticket(session, ticket_id, to=to, actor=actor, at=at, note=_said(move.note),
                                  assignee=TECHNICIAN.username if to is TicketState.DISPATCHED else None,
                                  report=report, customer_name=move.customer or None, rating=move.rating)
            session.commit()

    def _complaint(self, ticket: TicketRow, kind: str, said: str, at: datetime) -> None:
        customer = self._config.site(ticket.site_id).customer
        with i18n.using(self._locale), self._timeline.sessions() as session:
            record_complaint(session, self._config, customer_id=customer, site_id=ticket.site_id, ticket_id=ticket.id,
                             received_at=at - timedelta(minutes=10), complaint_class=ComplaintClass(kind),
                             description=_said(said), actor=DISPATCHER.username, at=at)
            session.commit()


def _said(text: str) -> str:
    """A person's words, in the language the demo's people work in."""
    return i18n.gettext(text) if text else ""
