"""The one writer of alerts and automatic tickets. Idempotent by fingerprint.

Applying the same transition twice, from two processes, or after a restart changes
nothing the second time: the partial unique indexes (one firing alert, one open ticket
per fingerprint) are the arbiter, and losing that race is treated as "already done".
Whether a firing alert pages or is only recorded is decided in tickets/holds.py; which
ticket a paging alert opens or joins (one ticket per fault) in tickets/correlation.py;
held alerts still firing when their reason ends are announced here.

A transition the writer fails on for any reason other than the database (a bug, a value
no code path expected) never stops the others: it is logged with its traceback and tried
again with the next batch, and after ``ATTEMPTS`` failures set aside (``set_aside``,
shown in /healthz) so one poisoned transition cannot block every later one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config, Site
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.tickets import ServiceType, TicketState
from sitewatch.i18n.messages import Message
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets import titles
from sitewatch.tickets.correlation import Correlation
from sitewatch.tickets.duty import desk_for
from sitewatch.tickets.holds import SITE_DOWN, Fired, HoldContext, Holds
from sitewatch.tickets.sla import arrive_by, same_day_resolve_by

log = logging.getLogger(__name__)

PRIORITY = {Severity.CRITICAL: 1, Severity.MAJOR: 2, Severity.WARNING: 3, Severity.INFO: 4}
ATTEMPTS = 3  # unexpected failures of one transition before it is set aside
TITLE_LENGTH = 400  # tickets.title


@dataclass(frozen=True, slots=True)
class WriteSummary:
    alerts_opened: int = 0
    alerts_resolved: int = 0
    tickets_opened: int = 0
    occurrences_added: int = 0
    symptoms_added: int = 0  # joined the open ticket of its fault (tickets/correlation.py)
    escalated: int = 0  # a firing alert stepped up (e.g. gas warning -> critical)
    suppressed: int = 0  # held (maintenance, inspection, offline, site down): recorded, no ticket yet
    ignored: int = 0  # already applied (restart, duplicate, another process won)
    failed: int = 0  # an unexpected error: retried with the next batch, set aside after ATTEMPTS


@dataclass(frozen=True, slots=True)
class SetAside:
    """A transition the writer gave up on after ATTEMPTS unexpected failures."""

    transition: AlertTransition
    error: str
    attempts: int


class TicketWriter:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config, actor: str = "rules") -> None:
        self._sessions = sessions
        self._config = config
        self._actor = actor
        self._holds = Holds(config)
        self._correlation = Correlation(config)
        self._retry: list[AlertTransition] = []  # failed unexpectedly: first in the next batch
        self._attempts: dict[AlertTransition, int] = {}
        self.set_aside: list[SetAside] = []

    def apply(self, transitions: Sequence[AlertTransition]) -> WriteSummary:
        """Apply in order. A database error propagates (the caller keeps the batch and tries
        again: applying twice is harmless); any other error costs only its own transition."""
        counts = dict.fromkeys(WriteSummary.__slots__, 0)
        transitions, self._retry = [*self._retry, *transitions], []
        if not transitions:
            return WriteSummary()
        fired = [Fired(t.asset_id, t.rule_id, t.began_at) for t in transitions if t.state is AlertState.FIRING]
        ctx = None  # what may hold an alert: only read when something fires
        if fired:
            with self._sessions() as session:
                ctx = self._holds.context(session, at=max(t.at for t in transitions), fresh=fired)
        failed: set[str] = set()  # fingerprints with a failed transition: the later ones wait, in order
        for transition in transitions:
            if transition.fingerprint in failed:
                self._retry.append(transition)
                continue
            try:
                outcome = self._apply_in_own_transaction(transition, ctx)
            except SQLAlchemyError:
                self._retry = []
                raise
            except Exception as exc:  # noqa: BLE001 — the guard that keeps one transition from stopping the rest
                failed.add(transition.fingerprint)
                outcome = ("failed",)
                self._failed(transition, exc)
            for key in outcome:
                counts[key] += 1
        return WriteSummary(**counts)

    def _apply_in_own_transaction(self, t: AlertTransition, ctx: HoldContext | None) -> tuple[str, ...]:
        # One transaction per transition: a conflict on one never rolls back another.
        with self._sessions() as session:
            try:
                outcome = self._apply_one(session, t, ctx)
                session.commit()
            except IntegrityError:
                session.rollback()
                outcome = ("ignored",)
        self._attempts.pop(t, None)
        return outcome

    def _failed(self, t: AlertTransition, exc: Exception) -> None:
        attempts = self._attempts.get(t, 0) + 1
        log.exception("rules: transition %s %s at %s failed (attempt %d of %d)", t.fingerprint, t.state.value,
                      t.at.isoformat(), attempts, ATTEMPTS)
        if attempts >= ATTEMPTS:
            self._attempts.pop(t, None)
            self.set_aside.append(SetAside(t, repr(exc), attempts))
            log.error("rules: transition %s set aside after %d failures: %r", t.fingerprint, attempts, exc)
            return
        self._attempts[t] = attempts
        self._retry.append(t)

    def _apply_one(self, session: Session, t: AlertTransition, ctx: HoldContext | None) -> tuple[str, ...]:
        if t.state is AlertState.FIRING:
            self._correlation.serialise(session, t.asset_id)
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
            ticket = ticket_of(session, firing)
            if ticket is not None:
                # The ticket stays open: a technician still has to find out why it happened.
                audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                      action="alert_resolved", detail={"summary": t.summary, "alert_id": firing.id})
            return ("alerts_resolved",)
        if firing is not None:
            return self._step_up(session, firing, t)
        assert ctx is not None  # built whenever the batch has a firing transition
        held = self._holds.reason(ctx, Fired(t.asset_id, t.rule_id, t.began_at), at=t.at)
        if held is not None and held.startswith(f"{SITE_DOWN}:"):
            self._site_ticket(session, held.partition(":")[2], t.at)  # the site's ticket speaks for it
        alert = AlertRow(
            fingerprint=t.fingerprint, asset_id=t.asset_id, rule_id=t.rule_id, channel=t.channel,
            severity=t.severity.value, state=AlertState.FIRING.value, started_at=t.at,
            value=t.value, unit=t.unit, summary=t.summary, summary_msg=_stored(t.summary_msg), suppressed_by=held,
        )
        session.add(alert)
        session.flush()  # raises IntegrityError here if another writer got there first
        audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id),
              action="fired", detail={"fingerprint": t.fingerprint, "summary": t.summary, "held_by": held})
        if held is not None:
            # Recorded, but nobody is paged; announced by release_held if it outlasts the reason.
            return ("alerts_opened", "suppressed")
        return ("alerts_opened", self._page(session, t, alert))

    def _step_up(self, session: Session, alert: AlertRow, t: AlertTransition) -> tuple[str, ...]:
        """A firing alert reported again: a higher severity (gas warning -> critical) raises
        the alert and its open ticket; flapping is marked on it; anything else was already
        applied."""
        if t.flapping and t.summary != alert.summary:
            # The change that made it flapping may be a resolve turned into "firing": the
            # alert already fires, so say it flaps rather than drop the news.
            alert.summary, alert.summary_msg = t.summary, _stored(t.summary_msg)
            audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id), action="flapping",
                  detail={"summary": t.summary})
            return ("ignored",)
        if PRIORITY[t.severity] >= PRIORITY[Severity(alert.severity)]:
            return ("ignored",)
        old = alert.severity
        alert.severity, alert.value = t.severity.value, t.value
        alert.summary, alert.summary_msg = t.summary, _stored(t.summary_msg)
        audit(session, at=t.at, actor=self._actor, entity="alert", entity_id=str(alert.id), action="escalated",
              detail={"from": old, "to": t.severity.value, "summary": t.summary})
        ticket = ticket_of(session, alert)
        if ticket is not None:
            raise_ticket(session, ticket, t.severity, at=t.at, actor=self._actor, reason=t.summary, title=_named(t))
        return ("escalated",)

    def _page(self, session: Session, t: AlertTransition, alert: AlertRow) -> str:
        """Put a paging alert on its ticket: an occurrence, a symptom of its fault's open
        ticket (a more severe one raises and names it), or a new ticket (marked if a repeat)."""
        joined = self._correlation.ticket_to_join(session, t)
        if joined is not None:
            ticket = joined.ticket
            alert.ticket_id, ticket.updated_at = ticket.id, t.at
            if not joined.as_symptom:
                ticket.occurrences += 1
                audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
                      action="occurrence", detail={"summary": t.summary, "occurrences": ticket.occurrences,
                                                   "alert_id": alert.id})
                return "occurrences_added"
            audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id), action="symptom",
                  detail={"fingerprint": t.fingerprint, "summary": t.summary, "severity": t.severity.value,
                          "alert_id": alert.id})
            raise_ticket(session, ticket, t.severity, at=t.at, actor=self._actor, reason=t.summary, title=_named(t))
            return "symptoms_added"
        asset = self._config.asset(t.asset_id)
        ticket = new_ticket(
            self._config, site=self._config.site(asset.site), at=t.at, fingerprint=t.fingerprint,
            asset_id=t.asset_id, rule_id=t.rule_id, channel=t.channel, fault=self._correlation.fault_of(t.rule_id),
            title=_named(t), severity=t.severity, service_type=ServiceType.B_CONTRACT, source="rules",
        )
        previous = self._correlation.repeated(session, t)
        if previous is not None:
            ticket.repeat_of = previous.id
            ticket.priority = max(1, ticket.priority - 1)
        session.add(ticket)
        session.flush()
        alert.ticket_id = ticket.id
        audit(session, at=t.at, actor=self._actor, entity="ticket", entity_id=str(ticket.id),
              action="opened", detail={"fingerprint": t.fingerprint, "title": ticket.title, "fault": ticket.fault,
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
        ticket = new_ticket(
            self._config, site=site, at=at, fingerprint=fp, asset_id=f"site:{site_id}", rule_id="site-down",
            channel=None, fault=None, title=titles.site_down(site.name),
            severity=Severity.CRITICAL, service_type=ServiceType.B_CONTRACT, source="rules",
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
                    # It fired during the reason: an outage's consequence waits out the grace.
                    reason = self._holds.reason(ctx, Fired(alert.asset_id, alert.rule_id, alert.started_at))
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
                self._page(session, self._as_transition(alert, now), alert)
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
            summary=alert.summary, summary_msg=Message.from_json(alert.summary_msg) if alert.summary_msg else None,
        )


def ticket_of(session: Session, alert: AlertRow) -> TicketRow | None:
    """The open ticket an alert paged on (the one it opened or joined)."""
    if alert.ticket_id is not None:
        ticket = session.get(TicketRow, alert.ticket_id)
        return ticket if ticket is not None and ticket.state != TicketState.CLOSED.value else None
    return open_ticket_for(session, alert.fingerprint)  # alerts recorded before tickets were linked


def raise_ticket(session: Session, ticket: TicketRow, severity: Severity, *, at: datetime, actor: str, reason: str,
                 title: str | Message | None = None) -> bool:
    """Raise an open ticket to ``severity`` if that is more urgent than it is (a step-up, a
    more severe symptom, an unanswered alarm); ``title``: the alert that now names it."""
    if PRIORITY[severity] >= ticket.priority:
        return False
    ticket.severity, ticket.priority, ticket.updated_at = severity.value, PRIORITY[severity], at
    if title is not None:
        ticket.title, ticket.title_msg = _title(title)
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket.id), action="escalated",
          detail={"severity": severity.value, "priority": ticket.priority, "reason": reason})
    log.warning("ticket %d escalated to %s: %s", ticket.id, severity.value, reason)
    return True


def open_ticket_for(session: Session, fingerprint: str) -> TicketRow | None:
    return session.scalars(
        select(TicketRow).where(TicketRow.fingerprint == fingerprint, TicketRow.state != TicketState.CLOSED.value)
    ).one_or_none()


def open_work_ticket(
    session: Session, config: Config, *, fingerprint: str, site_id: str, asset_id: str | None, title: str | Message,
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
    ticket = new_ticket(config, site=config.site(site_id), at=at, fingerprint=fingerprint,
                        asset_id=asset_id or f"site:{site_id}", rule_id=None, channel=None, fault=None, title=title,
                        severity=severity, service_type=service_type, source=source)
    try:
        with session.begin_nested():
            session.add(ticket)
    except IntegrityError:
        return open_ticket_for(session, fingerprint), False
    audit(session, at=at, actor=actor, entity="ticket", entity_id=str(ticket.id), action="opened",
          detail={"fingerprint": fingerprint, "title": ticket.title, "source": source,
                  "service_type": service_type.value})
    log.warning("ticket %d opened (%s) for the %s desk: %s", ticket.id, source, ticket.desk, ticket.title)
    return ticket, True


def new_ticket(
    config: Config, *, site: Site, at: datetime, fingerprint: str, asset_id: str, rule_id: str | None,
    channel: str | None, fault: str | None, title: str | Message, severity: Severity, service_type: ServiceType,
    source: str,
) -> TicketRow:
    """A registered ticket with the desk on duty and the SLA deadlines of its site. ``title``:
    a message (composed by Sitewatch, shown in each reader's language) or a person's text."""
    text, message = _title(title)
    return TicketRow(
        fingerprint=fingerprint, asset_id=asset_id, site_id=site.id, rule_id=rule_id, channel=channel, fault=fault,
        title=text, title_msg=message, severity=severity.value, priority=PRIORITY[severity], state=TicketState.REGISTERED.value,
        service_type=service_type.value, source=source, opened_at=at, occurrences=1, updated_at=at,
        desk=_desk(config, at, site), **_deadlines(config, at, site),
    )


def _named(t: AlertTransition) -> str | Message:
    """What names a ticket after this alert: its summary, as a message when it has one."""
    return t.summary_msg or t.summary


def _title(title: str | Message) -> tuple[str, dict | None]:
    """(the English for tickets.title, the message for tickets.title_msg)."""
    if isinstance(title, Message):
        return title.text()[:TITLE_LENGTH], title.to_json()
    return title, None


def _stored(message: Message | None) -> dict | None:
    return None if message is None else message.to_json()


def _desk(config: Config, at: datetime, site: Site) -> str:
    duty = config.duty
    calendar = config.sla.calendars.get(duty.calendar) if duty.calendar else None
    return desk_for(at, time_zone=site.time_zone, duty=duty, calendar=calendar)


def _deadlines(config: Config, at: datetime, site: Site) -> dict[str, datetime]:
    arrive = arrive_by(opened_at=at, zone=config.sla.zones[site.sla_zone], calendars=config.sla.calendars,
                       time_zone=site.time_zone)
    return {"arrive_by": arrive, "resolve_by": same_day_resolve_by(opened_at=at, arrive_by=arrive,
                                                                   time_zone=site.time_zone)}
