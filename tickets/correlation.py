"""Which open ticket a paging alert belongs to: one ticket per fault, never a storm.

A firing alert that pages (nothing holds it) joins an open ticket, in this order:

1. as an *occurrence* — its fingerprint already paged on a ticket still open (the ticket it
   named, or one it joined as a symptom): the same problem again;
2. as a *symptom* — its rule's fault group (``Rule.fault``, or a group that group
   ``follows``) has a ticket open on the same asset that is still active: one of the
   ticket's alerts still fires, or the newest began less than ``[correlation] window_s``
   ago. A regulator failure's outlet-high, relief venting, over-lock-up and slam-shut
   trip are one fault and one ticket.

Otherwise it opens a ticket of its own, named by it. Independent faults — a gas leak
during a regulator failure — belong to different groups and stay separate tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState, AlertTransition
from sitewatch.domain.tickets import TicketState
from sitewatch.storage.tables import AlertRow, AssetRow, TicketRow

# DOMAIN.md: the same problem must not be repaired twice; a fault back this soon after its
# ticket closed opens a new ticket marked as a repeat, one priority step higher.
REPEAT_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Joined:
    ticket: TicketRow
    as_symptom: bool  # False: an occurrence of a fingerprint the ticket already carries


class Correlation:
    def __init__(self, config: Config) -> None:
        self._window = timedelta(seconds=config.correlation.window_s)
        self._fault_of = {r.id: r.fault for r in config.rules}
        # The groups whose open ticket an alert of each group may join.
        self._joins = {name: (name, *group.follows) for name, group in config.correlation.faults.items()}

    def fault_of(self, rule_id: str) -> str | None:
        return self._fault_of.get(rule_id)

    @staticmethod
    def serialise(session: Session, asset_id: str) -> None:
        """Take the asset's row lock for the rest of the transaction: two processes judging
        the same station must not each open a ticket for two symptoms of one fault.
        (PostgreSQL; SQLite serialises writers by itself.)"""
        session.execute(select(AssetRow.id).where(AssetRow.id == asset_id).with_for_update())

    def ticket_to_join(self, session: Session, t: AlertTransition) -> Joined | None:
        carrying = session.scalars(
            select(TicketRow)
            .outerjoin(AlertRow, AlertRow.ticket_id == TicketRow.id)
            .where(TicketRow.state != TicketState.CLOSED.value,
                   (TicketRow.fingerprint == t.fingerprint) | (AlertRow.fingerprint == t.fingerprint))
            .order_by(TicketRow.opened_at.desc())
            .limit(1)
        ).first()
        if carrying is not None:
            return Joined(carrying, as_symptom=False)
        fault = self.fault_of(t.rule_id)
        if fault is None:
            return None
        candidates = session.scalars(
            select(TicketRow)
            .where(TicketRow.asset_id == t.asset_id, TicketRow.fault.in_(self._joins[fault]),
                   TicketRow.state != TicketState.CLOSED.value)
            .order_by(TicketRow.opened_at.desc())
        ).all()
        for ticket in candidates:
            if self._active(session, ticket, t.at):
                return Joined(ticket, as_symptom=True)
        return None

    def _active(self, session: Session, ticket: TicketRow, at: datetime) -> bool:
        newest, firing = session.execute(
            select(func.max(AlertRow.started_at), func.count().filter(AlertRow.state == AlertState.FIRING.value))
            .where(AlertRow.ticket_id == ticket.id)
        ).one()
        if firing:
            return True
        return at - (newest or ticket.opened_at) <= self._window

    def repeated(self, session: Session, t: AlertTransition) -> TicketRow | None:
        """The ticket of the same fault closed within REPEAT_WINDOW before ``t``, if any: the
        same group on the same asset, or the same fingerprint for rules without a group."""
        fault = self.fault_of(t.rule_id)
        same = ((TicketRow.asset_id == t.asset_id) & (TicketRow.fault == fault) if fault is not None
                else TicketRow.fingerprint == t.fingerprint)
        return session.scalars(
            select(TicketRow)
            .where(same, TicketRow.closed_at >= t.at - REPEAT_WINDOW)
            .order_by(TicketRow.closed_at.desc())
            .limit(1)
        ).one_or_none()
