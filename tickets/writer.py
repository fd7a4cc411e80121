"""The one writer of alerts and automatic tickets. Idempotent by fingerprint.

Applying the same transition twice, from two processes, or after a restart changes
nothing the second time: the partial unique indexes (one firing alert, one open ticket
per fingerprint) are the arbiter, and losing that race is treated as "already done".
Whether a firing alert pages (opens a ticket) or is only recorded is decided in
tickets/holds.py; held alerts still firing when their reason ends are announced here.
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
from storage.repository import audit
from storage.tables import AlertRow, TicketRow
from tickets.duty import desk_for
from tickets.holds import SITE_DOWN, Fired, HoldContext, Holds
from tickets.sla import arrive_by, same_day_resolve_by

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
    escalated: int = 0  # a firing alert stepped up (e.g. gas warning -> critical)
    suppressed: int = 0  # held (maintenance, inspection, offline, site down): recorded, no ticket yet
    ignored: int = 0  # already applied (restart, duplicate, another process won)


class TicketWriter:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config, actor: str = "rules") -> None:
        self._sessions = sessions
        self._config = config
        self._actor = actor
        self._holds = Holds(config)

    def apply(self, transitions: Sequence[AlertTransition]) -> WriteSummary:
        counts = dict.fromkeys(WriteSummary.__slots__, 0)
        if not transitions:
            return WriteSummary()
        fired = [Fired(t.asset_id, t.rule_id) for t in transitions if t.state is AlertState.FIRING]
        ctx = None  # what may hold an alert: only read when something fires
        if fired:
            with self._sessions() as session:
                ctx = self._holds.context(session, at=max(t.at for t in transitions), fresh=fired)
        for transition in transitions:
            # One transaction per transition: a conflict on one never rolls back another.
            with self._sessions() as session:
                try:
                    outcome = self._apply_one(session, transition, ctx)
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    outcome = ("ignored",)
            for key in outcome:
                counts[key] += 1
        return WriteSummary(**counts)

    def _apply_one(self, session: Session, t: AlertTransition, ctx: HoldContext | None) -> tuple[str, ...]:
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
            ticket = open_ticket_for(session, t.fingerprint)
            if ticket is not None:
                # The ticket stays open: a technician still has to find out why it happened.
                audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                      action="alert_resolved", detail={"summary": t.summary})
            return ("alerts_resolved",)
        if firing is not None:
            return self._step_up(session, firing, t)
        assert ctx is not None  # built whenever the batch has a firing transition
        held = self._holds.reason(ctx, Fired(t.asset_id, t.rule_id), at=t.at)
        if held is not None and held.startswith(f"{SITE_DOWN}:"):
            self._site_ticket(session, held.partition(":")[2], t.at)  # the site's ticket speaks for it
        alert = AlertRow(
            fingerprint=t.fingerprint, asset_id=t.asset_id, rule_id=t.rule_id, channel=t.channel,
            severity=t.severity.value, state=AlertState.FIRING.value, started_at=t.at,
            value=t.value, unit=t.unit, summary=t.summary, suppressed_by=held,
        )
        session.add(alert)
        session.flush()  # raises IntegrityError here if another writer got there first
        audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id),
              action="fired", detail={"fingerprint": t.fingerprint, "summary": t.summary, "held_by": held})
        if held is not None:
            # Recorded, but nobody is paged; announced by release_held if it outlasts the reason.
            return ("alerts_opened", "suppressed")
        return ("alerts_opened", self._ticket_for(session, t))

    def _step_up(self, session: Session, alert: AlertRow, t: AlertTransition) -> tuple[str, ...]:
        """A firing alert reported again: a higher severity (gas warning -> critical) raises
        the alert and its open ticket; flapping is marked on it; anything else was already
        applied."""
        if t.flapping and t.summary != alert.summary:
            # The change that made it flapping may be a resolve turned into "firing": the
            # alert already fires, so say it flaps rather than drop the news.
            alert.summary = t.summary
            audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id), action="flapping",
                  detail={"summary": t.summary})
            return ("ignored",)
        if PRIORITY[t.severity] >= PRIORITY[Severity(alert.severity)]:
            return ("ignored",)
        old = alert.severity
        alert.severity, alert.value, alert.summary = t.severity.value, t.value, t.summary
        audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id), action="escalated",
              detail={"from": old, "to": t.severity.value, "summary": t.summary})
        ticket = open_ticket_for(session, t.fingerprint)
        if ticket is not None and PRIORITY[t.severity] < ticket.priority:
            ticket.severity, ticket.priority, ticket.title, ticket.updated_at = (
                t.severity.value, PRIORITY[t.severity], t.summary, t.at)
            audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id), action="escalated",
                  detail={"severity": t.severity.value, "priority": ticket.priority, "reason": t.summary})
            log.warning("ticket %d escalated to %s: %s", ticket.id, t.severity.value, t.summary)
        return ("escalated",)

    def _ticket_for(self, session: Session, t: AlertTransition) -> str:
        """An occurrence on the fault's open ticket, or a new ticket (marked if a repeat)."""
        ticket = open_ticket_for(session, t.fingerprint)
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
                                       "arrive_by": ticket.arrive_by.isoformat(),
                                       "resolve_by": ticket.resolve_by.isoformat(), "repeat_of": ticket.repeat_of})
        log.warning("ticket %d opened for the %s desk: %s (arrive by %s)", ticket.id, ticket.desk, ticket.title,
                    ticket.arrive_by.isoformat())
        return "tickets_opened"

    def _site_ticket(self, session: Session, site_id: str, at: datetime) -> None:
        fp = f"site:{site_id}/site-down/network"
        if open_ticket_for(session, fp) is not None:
            return
        site = self._config.site(site_id)
        ticket = TicketRow(
            fingerprint=fp, asset_id=f"site:{site_id}", site_id=site_id, rule_id="site-down", channel=None,
            title=f"{site.name}: its devices went silent together — network or power at the site?",
            severity=Severity.CRITICAL.value, priority=1, state=TicketState.REGISTERED.value,
            service_type=ServiceType.B_CONTRACT.value, source="rules", opened_at=at, occurrences=1, updated_at=at,
            desk=_desk(self._config, at, site), **_deadlines(self._config, at, site),
        )
        session.add(ticket)
        session.flush()
        audit(session, at=at, actor=self._actor, entity="ticket", entity_id=str(ticket.id), action="opened",
              detail={"fingerprint": fp, "title": ticket.title})
        log.warning("ticket %d opened: site %s is down", ticket.id, site_id)

    def release_held(self, *, now: datetime) -> int:
        """Held alerts still firing whose reason has ended (a maintenance window or an
        inspection over, the asset they depend on back): announce them now — a ticket, or an
        occurrence on the open one. Returns how many were announced."""
        announced = 0
        with self._sessions() as session:
            held = session.scalars(
                select(AlertRow).where(AlertRow.state == AlertState.FIRING.value, AlertRow.suppressed_by.is_not(None))
            ).all()
            if not held:
                return 0
            ctx = self._holds.context(session, at=now)
            for alert in held:
                if not self._holds.releasable(alert.suppressed_by):
                    continue
                try:
                    reason = self._holds.reason(ctx, Fired(alert.asset_id, alert.rule_id))
                except KeyError:
                    continue  # an asset no longer configured: nothing to page about
                if reason == alert.suppressed_by:
                    continue
                old, alert.suppressed_by = alert.suppressed_by, reason
                if reason is not None:
                    # One reason ended but another holds it (the window closed, an
                    # inspection runs): keep it held, and say why.
                    audit(session, at=now, actor=self._actor, entity="alert", entity_id=str(alert.id),
                          action="held", detail={"after": old, "by": reason})
                    continue
                audit(session, at=now, actor=self._actor, entity="alert", entity_id=str(alert.id),
                      action="announced", detail={"after": old})
                self._ticket_for(session, self._as_transition(alert, now))
                announced += 1
            session.commit()
        return announced

    def end_mutes(self, *, now: datetime) -> int:
        """Mutes that ran out on alerts still firing: announce them to the control room again."""
        with self._sessions() as session:
            ended = session.scalars(
                select(AlertRow).where(AlertRow.muted_until.is_not(None), AlertRow.muted_until <= now)
            ).all()
            announced = 0
            for alert in ended:
                until, alert.muted_until = alert.muted_until, None
                if alert.state != AlertState.FIRING.value:
                    continue  # it resolved while muted: nothing to say
                audit(session, at=now, actor=self._actor, entity="alert", entity_id=str(alert.id),
                      action="announced", detail={"after_mute_until": until.isoformat(), "muted_by": alert.muted_by})
                log.warning("alert %d still firing after its mute: %s", alert.id, alert.summary)
                announced += 1
            session.commit()
        return announced

    @staticmethod
    def _as_transition(alert: AlertRow, at: datetime) -> AlertTransition:
        return AlertTransition(
            fingerprint=alert.fingerprint, asset_id=alert.asset_id, rule_id=alert.rule_id, channel=alert.channel,
            state=AlertState.FIRING, at=at, severity=Severity(alert.severity), value=alert.value, unit=alert.unit,
            summary=alert.summary,
        )

    def _new_ticket(self, t: AlertTransition) -> TicketRow:
        asset = self._config.asset(t.asset_id)
        site = self._config.site(asset.site)
        return TicketRow(
            desk=_desk(self._config, t.at, site),
            fingerprint=t.fingerprint, asset_id=t.asset_id, site_id=site.id, rule_id=t.rule_id,
            channel=t.channel, title=t.summary, severity=t.severity.value, priority=PRIORITY[t.severity],
            state=TicketState.REGISTERED.value, service_type=ServiceType.B_CONTRACT.value, source="rules",
            opened_at=t.at, occurrences=1, updated_at=t.at, **_deadlines(self._config, t.at, site),
        )


def open_ticket_for(session: Session, fingerprint: str) -> TicketRow | None:
    return session.scalars(
        select(TicketRow).where(TicketRow.fingerprint == fingerprint, TicketRow.state != TicketState.CLOSED.value)
    ).one_or_none()


def open_work_ticket(
    session: Session, config: Config, *, fingerprint: str, site_id: str, asset_id: str | None, title: str,
    severity: Severity, service_type: ServiceType, source: str, at: datetime, actor: str,
) -> tuple[TicketRow, bool]:
    """A ticket that no rule raised (a field check after the daily review, a calibration, a
    contract reminder), with the same deadlines, desk and audit as the rules' tickets.

    Idempotent by ``fingerprint`` like the rest of the writer: if a ticket is open for it,
    that one is returned with False. Runs inside the caller's transaction (a savepoint
    absorbs a concurrent writer winning the race), so the record that needs the ticket
    and the ticket commit together.
    """
    existing = open_ticket_for(session, fingerprint)
    if existing is not None:
        return existing, False
    site = config.site(site_id)
    ticket = TicketRow(
        fingerprint=fingerprint, asset_id=asset_id or f"site:{site_id}", site_id=site_id, rule_id=None,
        channel=None, title=title, severity=severity.value, priority=PRIORITY[severity],
        state=TicketState.REGISTERED.value, service_type=service_type.value, source=source, opened_at=at,
        occurrences=1, updated_at=at, desk=_desk(config, at, site), **_deadlines(config, at, site),
    )
    try:
        with session.begin_nested():
            session.add(ticket)
    except IntegrityError:
        return open_ticket_for(session, fingerprint), False
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket.id), action="opened",
          detail={"fingerprint": fingerprint, "title": title, "source": source, "service_type": service_type.value})
    log.warning("ticket %d opened (%s) for the %s desk: %s", ticket.id, source, ticket.desk, title)
    return ticket, True


def _desk(config: Config, at: datetime, site: Site) -> str:
    duty = config.duty
    calendar = config.sla.calendars.get(duty.calendar) if duty.calendar else None
    return desk_for(at, time_zone=site.time_zone, duty=duty, calendar=calendar)


def _deadlines(config: Config, at: datetime, site: Site) -> dict[str, datetime]:
    arrive = arrive_by(opened_at=at, zone=config.sla.zones[site.sla_zone], calendars=config.sla.calendars,
                       time_zone=site.time_zone)
    return {"arrive_by": arrive, "resolve_by": same_day_resolve_by(opened_at=at, arrive_by=arrive,
                                                                   time_zone=site.time_zone)}
