"""The one writer of alerts and automatic tickets. Idempotent by fingerprint.

Applying the same transition twice, from two processes, or after a restart changes
nothing the second time: the partial unique indexes (one firing alert, one open ticket
per fingerprint) are the arbiter, and losing that race is treated as "already done".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from config.models import Config, Site
from domain.alerts import AlertState, AlertTransition, Severity
from domain.tickets import ServiceType, TicketState
from rules.models import NoDataRule, ThresholdRule
from storage.repository import audit
from storage.tables import AlertRow, TicketRow
from tickets.duty import desk_for
from tickets.maintenance import covering
from tickets.sla import arrive_by

log = logging.getLogger(__name__)

PRIORITY = {Severity.CRITICAL: 1, Severity.MAJOR: 2, Severity.WARNING: 3, Severity.INFO: 4}
# DOMAIN.md: the same problem must not be repaired twice; a re-fire this soon after closing
# opens a new ticket marked as a repeat, one priority step higher.
REPEAT_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class WriteSummary:
    alerts_opened: int = 0
    alerts_resolved: int = 0
    tickets_opened: int = 0
    occurrences_added: int = 0
    suppressed: int = 0  # fired inside a maintenance window: recorded, no ticket yet
    ignored: int = 0  # already applied (restart, duplicate, another process won)


class TicketWriter:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config, actor: str = "rules") -> None:
        self._sessions = sessions
        self._config = config
        self._actor = actor
        # Rule lookups the writer needs on every transition and tick, worked out once.
        self._no_data_rules = frozenset(r.id for r in config.rules if isinstance(r, NoDataRule))
        self._escalating = {r.id: r for r in config.rules if isinstance(r, ThresholdRule) and r.escalate_after_s}

    def apply(self, transitions: Sequence[AlertTransition]) -> WriteSummary:
        counts = dict.fromkeys(WriteSummary.__slots__, 0)
        with self._sessions() as session:
            down = self._sites_down(session, transitions)
        for transition in transitions:
            # One transaction per transition: a conflict on one never rolls back another.
            with self._sessions() as session:
                try:
                    outcome = self._apply_one(session, transition, down)
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    outcome = ("ignored",)
            for key in outcome:
                counts[key] += 1
        return WriteSummary(**counts)

    def _apply_one(self, session: Session, t: AlertTransition, down: set[str] = frozenset()) -> tuple[str, ...]:
        firing = session.scalars(
            select(AlertRow).where(AlertRow.fingerprint == t.fingerprint, AlertRow.state == AlertState.FIRING.value)
        ).one_or_none()
        if t.state is AlertState.RESOLVED:
            if firing is None:
                return ("ignored",)
            firing.state = AlertState.RESOLVED.value
            firing.resolved_at = t.at
            audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(firing.id),
                  action="resolved", detail={"fingerprint": t.fingerprint, "summary": t.summary})
            ticket = self._open_ticket(session, t.fingerprint)
            if ticket is not None:
                # The ticket stays open: a technician still has to find out why it happened.
                audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                      action="alert_resolved", detail={"summary": t.summary})
            return ("alerts_resolved",)
        if firing is not None:
            return ("ignored",)
        window = self._maintenance(t)
        site_id = self._config.asset(t.asset_id).site
        site_down = site_id in down and t.rule_id in self._no_data_rules
        if site_down and window is None:
            window = f"site-down:{site_id}"  # the site's ticket speaks for it
            self._site_ticket(session, site_id, t.at)
        alert = AlertRow(
            fingerprint=t.fingerprint, asset_id=t.asset_id, rule_id=t.rule_id, channel=t.channel,
            severity=t.severity.value, state=AlertState.FIRING.value, started_at=t.at,
            value=t.value, unit=t.unit, summary=t.summary, suppressed_by=window,
        )
        session.add(alert)
        session.flush()  # raises IntegrityError here if another writer got there first
        audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id),
              action="fired", detail={"fingerprint": t.fingerprint, "summary": t.summary, "maintenance": window})
        if site_down:
            return ("alerts_opened", "suppressed")
        if window is not None:
            # Recorded, but nobody is paged: a technician is working on it (announced when
            # the window ends if it is still firing — announce_after_maintenance).
            return ("alerts_opened", "suppressed")
        return ("alerts_opened", self._ticket_for(session, t))

    def _ticket_for(self, session: Session, t: AlertTransition) -> str:
        """An occurrence on the fault's open ticket, or a new ticket (marked if a repeat)."""
        ticket = self._open_ticket(session, t.fingerprint)
        if ticket is not None:
            ticket.occurrences += 1
            ticket.updated_at = t.at
            audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                  action="occurrence", detail={"summary": t.summary, "occurrences": ticket.occurrences})
            return "occurrences_added"
        ticket = self._new_ticket(t)
        previous = session.scalars(
            select(TicketRow)
            .where(TicketRow.fingerprint == t.fingerprint, TicketRow.closed_at >= t.at - REPEAT_WINDOW)
            .order_by(TicketRow.closed_at.desc())
            .limit(1)
        ).one_or_none()
        if previous is not None:
            ticket.repeat_of = previous.id
            ticket.priority = max(1, ticket.priority - 1)
        session.add(ticket)
        session.flush()
        audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
              action="opened", detail={"fingerprint": t.fingerprint, "title": ticket.title,
                                       "arrive_by": ticket.arrive_by.isoformat(), "repeat_of": ticket.repeat_of})
        log.warning("ticket %d opened for the %s desk: %s (arrive by %s)", ticket.id, ticket.desk, ticket.title,
                    ticket.arrive_by.isoformat())
        return "tickets_opened"

    def _sites_down(self, session: Session, transitions: Sequence[AlertTransition]) -> set[str]:
        """Sites where enough assets are silent at once (already, or in this batch) to blame
        the site rather than each device: a network outage silences them all together."""
        settings = self._config.rules_engine
        rules = self._no_data_rules
        if settings.site_down_min_assets is None or not rules:
            return set()
        firing = session.scalars(
            select(AlertRow.asset_id).where(AlertRow.state == AlertState.FIRING.value, AlertRow.rule_id.in_(rules))
        ).all()
        fresh = [t.asset_id for t in transitions if t.state is AlertState.FIRING and t.rule_id in rules]
        silent: dict[str, set[str]] = {}
        for asset_id in [*firing, *fresh]:
            try:
                silent.setdefault(self._config.asset(asset_id).site, set()).add(asset_id)
            except KeyError:
                continue  # an alert of an asset no longer configured
        down = set()
        for site_id, assets in silent.items():
            total = sum(1 for a in self._config.assets if a.site == site_id)
            if len(assets) >= settings.site_down_min_assets and len(assets) >= settings.site_down_fraction * total:
                down.add(site_id)
        return down

    def _site_ticket(self, session: Session, site_id: str, at: datetime) -> None:
        fp = f"site:{site_id}/site-down/network"
        if self._open_ticket(session, fp) is not None:
            return
        site = self._config.site(site_id)
        ticket = TicketRow(
            fingerprint=fp, asset_id=f"site:{site_id}", site_id=site_id, rule_id="site-down", channel=None,
            title=f"{site.name}: its devices went silent together — network or power at the site?",
            severity=Severity.CRITICAL.value, priority=1, state=TicketState.REGISTERED.value,
            service_type=ServiceType.B_CONTRACT.value, source="rules", opened_at=at, occurrences=1, updated_at=at,
            arrive_by=arrive_by(opened_at=at, zone=self._config.sla.zones[site.sla_zone],
                                calendars=self._config.sla.calendars, time_zone=site.time_zone),
            desk=self._desk(at, site),
        )
        session.add(ticket)
        session.flush()
        audit(session, at=at, actor=self._actor, entity="ticket", entity_id=str(ticket.id), action="opened",
              detail={"fingerprint": fp, "title": ticket.title})
        log.warning("ticket %d opened: site %s is down", ticket.id, site_id)

    def _maintenance(self, t: AlertTransition, at: datetime | None = None) -> str | None:
        windows = self._config.maintenance_windows
        if not windows:
            return None
        asset = self._config.asset(t.asset_id)
        site = self._config.site(asset.site)
        window = covering(windows, at or t.at, asset_id=asset.id, site_id=site.id, time_zone=site.time_zone)
        return None if window is None else window.id

    def _desk(self, at: datetime, site: Site) -> str:
        duty = self._config.duty
        calendar = self._config.sla.calendars.get(duty.calendar) if duty.calendar else None
        return desk_for(at, time_zone=site.time_zone, duty=duty, calendar=calendar)

    def announce_after_maintenance(self, *, now: datetime) -> int:
        """Alerts that fired inside a maintenance window and still fire after it: page now."""
        windows = {w.id for w in self._config.maintenance_windows}
        if not windows:
            return 0
        announced = 0
        with self._sessions() as session:
            held = session.scalars(
                select(AlertRow).where(AlertRow.state == AlertState.FIRING.value, AlertRow.suppressed_by.is_not(None))
            ).all()
            for alert in held:
                if alert.suppressed_by not in windows:
                    continue  # held for another reason (its site is down)
                t = AlertTransition(
                    fingerprint=alert.fingerprint, asset_id=alert.asset_id, rule_id=alert.rule_id,
                    channel=alert.channel, state=AlertState.FIRING, at=now, severity=Severity(alert.severity),
                    value=alert.value, unit=alert.unit, summary=alert.summary,
                )
                if self._maintenance(t, now) is not None:
                    continue
                audit(session, at=now, actor=self._actor, entity="alert", entity_id=str(alert.id),
                      action="announced", detail={"after_maintenance": alert.suppressed_by})
                alert.suppressed_by = None
                self._ticket_for(session, t)
                announced += 1
            session.commit()
        return announced

    def escalate(self, *, now: datetime) -> int:
        """Raise firing alerts nobody acknowledged in time (rules with ``escalate_after_s``),
        and their open tickets; returns how many. Idempotent: each alert escalates once."""
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
                ticket = self._open_ticket(session, alert.fingerprint)
                if ticket is not None and PRIORITY[rule.escalate_to] < ticket.priority:
                    ticket.severity, ticket.priority, ticket.updated_at = alert.severity, PRIORITY[rule.escalate_to], now
                    audit(session, at=now, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                          action="escalated", detail={"severity": alert.severity, "priority": ticket.priority,
                                                      "reason": f"alert not acknowledged within {rule.escalate_after_s:g} s"})
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

    @staticmethod
    def _open_ticket(session: Session, fp: str) -> TicketRow | None:
        return session.scalars(
            select(TicketRow).where(TicketRow.fingerprint == fp, TicketRow.state != TicketState.CLOSED.value)
        ).one_or_none()

    def _new_ticket(self, t: AlertTransition) -> TicketRow:
        asset = self._config.asset(t.asset_id)
        site = self._config.site(asset.site)
        deadline = arrive_by(
            opened_at=t.at, zone=self._config.sla.zones[site.sla_zone],
            calendars=self._config.sla.calendars, time_zone=site.time_zone,
        )
        return TicketRow(
            desk=self._desk(t.at, site),
            fingerprint=t.fingerprint, asset_id=t.asset_id, site_id=site.id, rule_id=t.rule_id,
            channel=t.channel, title=t.summary, severity=t.severity.value, priority=PRIORITY[t.severity],
            state=TicketState.REGISTERED.value, service_type=ServiceType.B_CONTRACT.value, source="rules",
            opened_at=t.at, arrive_by=deadline, occurrences=1, updated_at=t.at,
        )
