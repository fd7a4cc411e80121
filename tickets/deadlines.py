"""Deadlines kept on every tick: escalation of unanswered alerts, arrive-by and resolve-by.

Each breach is recorded once, audited, and raises the ticket to the top priority; what a
breach was is never edited afterwards (DOMAIN.md: the record is the basis for penalties).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.tickets import TicketState
from sitewatch.rules.models import ThresholdRule
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.writer import raise_ticket, ticket_of

log = logging.getLogger(__name__)

_NOT_YET_RESOLVED = (TicketState.REGISTERED.value, TicketState.DISPATCHED.value, TicketState.ARRIVED.value)


class Deadlines:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config, actor: str = "rules") -> None:
        self._sessions = sessions
        self._actor = actor
        self._escalating = {r.id: r for r in config.rules if isinstance(r, ThresholdRule) and r.escalate_after_s}

    def escalate_unacknowledged(self, *, now: datetime) -> int:
        """Raise firing alerts nobody acknowledged in time (rules with ``escalate_after_s``),
        and their open tickets; returns how many. Held and muted alerts wait: nobody was
        asked to answer them. Idempotent: each alert escalates once."""
        rules = self._escalating
        if not rules:
            return 0
        escalated = 0
        with self._sessions() as session:
            due = session.scalars(
                select(AlertRow).where(
                    AlertRow.state == AlertState.FIRING.value,
                    AlertRow.rule_id.in_(rules),
                    AlertRow.acknowledged_at.is_(None),
                    AlertRow.escalated_at.is_(None),
                    AlertRow.suppressed_by.is_(None),
                    or_(AlertRow.muted_until.is_(None), AlertRow.muted_until <= now),
                )
            ).all()
            for alert in due:
                rule = rules[alert.rule_id]
                if alert.started_at + timedelta(seconds=rule.escalate_after_s) > now:
                    continue
                old = alert.severity
                alert.severity, alert.escalated_at = rule.escalate_to.value, now
                audit(session, at=now, actor=self._actor, entity="alert", entity_id=str(alert.id), action="escalated",
                      detail={"from": old, "to": alert.severity, "unacknowledged_s": rule.escalate_after_s})
                ticket = ticket_of(session, alert)
                if ticket is not None:
                    raise_ticket(session, ticket, rule.escalate_to, at=now, actor=self._actor,
                                 reason=f"alert not acknowledged within {rule.escalate_after_s:g} s")
                escalated += 1
            session.commit()
        return escalated

    def check_arrivals(self, *, now: datetime) -> int:
        """Record a breach on every open ticket whose arrive-by passed with nobody on site, and
        escalate it to the top priority; once per ticket. Returns how many breached now."""
        with self._sessions() as session:
            late = session.scalars(
                select(TicketRow).where(
                    TicketRow.state != TicketState.CLOSED.value,
                    TicketRow.arrived_at.is_(None),
                    TicketRow.sla_breached.is_(False),
                    TicketRow.arrive_by < now,
                )
            ).all()
            for ticket in late:
                ticket.sla_breached, ticket.updated_at = True, now
                old, ticket.priority = ticket.priority, 1
                audit(session, at=now, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                      action="sla_breached", detail={"arrive_by": ticket.arrive_by.isoformat(),
                                                     "priority": {"old": old, "new": 1}})
                log.warning("ticket %d: nobody arrived by %s", ticket.id, ticket.arrive_by.isoformat())
            session.commit()
        return len(late)

    def check_resolutions(self, *, now: datetime) -> int:
        """Record each missed resolve-by (the same day, or the committed time) once, and
        escalate the ticket to the company (top priority). Returns how many missed now."""
        with self._sessions() as session:
            late = session.scalars(
                select(TicketRow).where(
                    TicketRow.state.in_(_NOT_YET_RESOLVED),
                    TicketRow.resolve_by < now,
                    or_(TicketRow.resolve_overdue_for.is_(None), TicketRow.resolve_overdue_for != TicketRow.resolve_by),
                )
            ).all()
            for ticket in late:
                ticket.resolve_breached, ticket.resolve_overdue_for, ticket.updated_at = True, ticket.resolve_by, now
                old, ticket.priority = ticket.priority, 1
                audit(session, at=now, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                      action="resolve_overdue", detail={"resolve_by": ticket.resolve_by.isoformat(),
                                                        "committed_reason": ticket.resolve_reason or None,
                                                        "priority": {"old": old, "new": 1}})
                log.warning("ticket %d: not resolved by %s", ticket.id, ticket.resolve_by.isoformat())
            session.commit()
        return len(late)
