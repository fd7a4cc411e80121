"""Turns what happened to tickets (the outbox) and the passage of time into messages.

Every message is a row in ``deliveries`` with a unique key naming what it says to whom
(``t42/escalation/2/person:liu/sms``), so planning the same thing twice — after a crash, in
a second process — adds nothing. An outbox entry is marked processed in the transaction
that planned its messages: each change is planned exactly once.

What is told, to whom (paging/config.py says how the routes and desks are set):
- a ticket opens and a route matches: level 1 (the desk's on-call person and group chat);
  nobody acknowledges it: the next levels at their time (the duty lead, the manager), and
  a repeat every ``repeat_every_min`` to everyone told so far; its severity goes up: those
  told so far. Symptoms and occurrences only update what the next message says.
- acknowledged (an alert of it, or the ticket on its page) or dispatched: escalation stops;
  every alert resolved: a "cleared" message to everyone told (``send_resolved``).
- dispatched: the technician. Arrive-by ``arrive_soon_min`` away and nobody on site: the
  technician and the desk. Arrive-by or resolve-by missed: the desk's manager.
- the end of the site's working day with the ticket unresolved and no committed time: the
  technician and the desk (DOMAIN.md: resolve the same day or commit a time).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.tickets import TicketState
from sitewatch.paging.config import PagingSettings, Route
from sitewatch.paging.facts import site_link, ticket_facts
from sitewatch.paging.messages import render
from sitewatch.paging.models import Notice, NoticeKind, TicketFacts
from sitewatch.paging.reminders import Reminders
from sitewatch.paging.routes import (
    Recipient,
    assignee_recipients,
    level_due,
    level_targets,
    recipients,
    route_for,
)
from sitewatch.paging.storm import Storm
from sitewatch.storage.paging import DeliveryRow, OutboxRow, PageRow
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow

log = logging.getLogger(__name__)

BATCH = 200  # outbox entries per transaction
REMIND_EVERY = timedelta(seconds=30)  # arrive-soon (30 min ahead) and end of day need no finer step
PRUNE_EVERY = timedelta(hours=1)
KEEP_PROCESSED = timedelta(days=1)  # processed outbox entries: the audit log keeps the change itself
_TOLD_KINDS = (NoticeKind.OPENED.value, NoticeKind.RAISED.value, NoticeKind.ESCALATION.value,
               NoticeKind.REPEAT.value)
_ENDED = (TicketState.RESOLVED.value, TicketState.SIGNED_OFF.value, TicketState.FOLLOWED_UP.value,
          TicketState.CLOSED.value)


@dataclass
class PlanCounts:
    events: int = 0
    pages: int = 0
    messages: int = 0  # deliveries planned (each to one recipient)
    escalations: int = 0
    repeats: int = 0
    summaries: int = 0


class Planner:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config) -> None:
        self._sessions = sessions
        self._config = config
        if config.paging is None:
            raise ValueError("the paging planner needs a [paging] section (without one: settle_past)")
        self._settings: PagingSettings = config.paging
        self._routes = {r.name: r for r in self._settings.routes}
        self._storm = Storm(self._settings.storm)
        self._reminders = Reminders(config, self)
        self._clear_hold = timedelta(minutes=self._settings.clear_hold_min)
        self.counts = PlanCounts()
        self._reminded_at: datetime | None = None
        self._pruned_at: datetime | None = None

    def run(self, *, now: datetime) -> PlanCounts:
        """Plan what the outbox and the time call for; returns what this call did."""
        before = PlanCounts(**vars(self.counts))
        while self._events(now) == BATCH:
            pass
        with self._sessions() as session:
            self._escalate(session, now)
            if self._reminded_at is None or now - self._reminded_at >= REMIND_EVERY:
                self._reminders.run(session, now)
                self._reminded_at = now
            self._close_storms(session, now)
            session.commit()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            prune_outbox(self._sessions, now=now)
            self._pruned_at = now
        return PlanCounts(**{k: v - getattr(before, k) for k, v in vars(self.counts).items()})

    # --- the outbox ---------------------------------------------------------------------

    def _events(self, now: datetime) -> int:
        with self._sessions() as session:
            rows = session.scalars(
                select(OutboxRow).where(OutboxRow.processed_at.is_(None)).order_by(OutboxRow.id).limit(BATCH)
                .with_for_update(of=OutboxRow, skip_locked=True)
            ).all()
            for row in rows:
                self._event(session, row.audit, now)
                row.processed_at = now
            session.commit()
        self.counts.events += len(rows)
        return len(rows)

    def _event(self, session: Session, event: AuditRow, now: datetime) -> None:
        if event.entity == "alert":
            alert = session.get(AlertRow, int(event.entity_id))
            if alert is None or alert.ticket_id is None:
                return
            page = _page_of(session, alert.ticket_id)
            if page is None:
                return
            if event.action == "acknowledged":
                _acknowledge(page, event)
            elif event.action == "resolved":
                self._maybe_cleared(session, page, event.at)
            return
        if event.entity != "ticket":
            return
        ticket = session.get(TicketRow, int(event.entity_id))
        if ticket is None:
            return
        page = _page_of(session, ticket.id)
        action = event.action
        if action == "opened":
            if page is None:
                self._open(session, ticket, event.at, now)
        elif action == "escalated":
            if page is None:
                self._open(session, ticket, event.at, now)  # it now matches a route it did not before
            else:
                self._tell(session, ticket, page, NoticeKind.RAISED, self._told(session, ticket.id), now,
                           key=f"raised/{ticket.severity}", at=event.at)
        elif action in ("occurrence", "symptom"):
            if page is not None and page.cleared_at is not None:
                self._back(session, ticket, page, event, now)
        elif action == "acknowledged":
            if page is not None:
                _acknowledge(page, event)
        elif action == "to_dispatched":
            if page is not None:
                _acknowledge(page, event)  # someone has taken it: no more escalation
            technician = assignee_recipients(self._settings, ticket.assignee)
            self._tell(session, ticket, page, NoticeKind.DISPATCHED, technician, now,
                       key=f"dispatched/{event.id}", at=event.at)
        elif action in ("sla_breached", "resolve_overdue"):
            kind = NoticeKind.BREACHED if action == "sla_breached" else NoticeKind.RESOLVE_OVERDUE
            manager = recipients(self._settings, None, desk=self.desk_of(ticket, page), targets=("manager",), at=now)
            self._tell(session, ticket, page, kind, manager, now, key=f"{kind.value}/{event.id}", at=event.at)
        elif action.removeprefix("to_") in _ENDED and page is not None and page.ended_at is None:
            page.ended_at = event.at  # resolved or beyond: nothing more to page about

    def _open(self, session: Session, ticket: TicketRow, at: datetime, now: datetime) -> None:
        route = self.route_of(ticket)
        if route is None:
            return
        desk = route.desk or ticket.desk
        page = PageRow(ticket_id=ticket.id, route=route.name, desk=desk, paged_at=at, level=1, repeats=0,
                       last_told_at=now)
        session.add(page)
        session.flush()
        self.counts.pages += 1
        told = recipients(self._settings, route, desk=desk, targets=level_targets(route, 1), at=now)
        self._tell(session, ticket, page, NoticeKind.OPENED, told, now, key="opened", at=at)

    def _maybe_cleared(self, session: Session, page: PageRow, at: datetime) -> None:
        """Every alert of the fault resolved: "cleared" goes out once it has stayed so for
        ``clear_hold_min`` (see _escalate); until then nothing repeats or escalates."""
        firing = session.scalar(
            select(AlertRow.id).where(AlertRow.ticket_id == page.ticket_id, AlertRow.state == AlertState.FIRING.value)
            .limit(1)
        )
        if firing is None and page.cleared_at is None:
            page.cleared_at = at

    def _back(self, session: Session, ticket: TicketRow, page: PageRow, event: AuditRow, now: datetime) -> None:
        """The fault fired again after clearing: silently on if nobody was told it cleared;
        told again (as new) if they were, or they would believe it over."""
        told_cleared = page.clear_told_at is not None
        page.cleared_at = page.clear_told_at = None
        if told_cleared:
            page.last_told_at = now
            self._tell(session, ticket, page, NoticeKind.OPENED, self._told(session, ticket.id), now,
                       key=f"again/{event.id}", at=event.at)

    # --- time ---------------------------------------------------------------------------

    def _escalate(self, session: Session, now: datetime) -> None:
        clearing = session.scalars(
            select(PageRow).where(PageRow.cleared_at <= now - self._clear_hold, PageRow.clear_told_at.is_(None),
                                  PageRow.ended_at.is_(None))
        ).all()
        for page in clearing:  # acknowledged or not: whoever was told wants to know it is over
            page.clear_told_at = now
            route, ticket = self._routes.get(page.route), session.get(TicketRow, page.ticket_id)
            if route is not None and route.send_resolved and ticket is not None:
                self._tell(session, ticket, page, NoticeKind.CLEARED, self._told(session, ticket.id), now,
                           key=f"cleared/{page.cleared_at.isoformat()}", at=page.cleared_at)
        live = session.scalars(
            select(PageRow).where(PageRow.acknowledged_at.is_(None), PageRow.ended_at.is_(None),
                                  PageRow.cleared_at.is_(None))
        ).all()
        for page in live:
            route = self._routes.get(page.route)
            if route is None:
                continue
            due = level_due(route, page.level, page.paged_at, now)
            repeat_due = route.repeat_every_min is not None and now >= page.last_told_at + timedelta(
                minutes=route.repeat_every_min)
            if due <= page.level and not repeat_due:
                continue  # the common case, decided without reading the ticket
            ticket = session.get(TicketRow, page.ticket_id)
            if ticket is None or self._all_muted(session, page.ticket_id, now):
                continue
            if due > page.level:
                for level in range(page.level + 1, due + 1):
                    told = recipients(self._settings, route, desk=page.desk, targets=level_targets(route, level),
                                      at=now)
                    self._tell(session, ticket, page, NoticeKind.ESCALATION, told, now, key=f"escalation/{level}",
                               level=level)
                    self.counts.escalations += 1
                page.level, page.last_told_at = due, now
            else:
                page.repeats += 1
                page.last_told_at = now
                targets = [t for level in range(1, page.level + 1) for t in level_targets(route, level)]
                told = recipients(self._settings, route, desk=page.desk, targets=targets, at=now)
                self._tell(session, ticket, page, NoticeKind.REPEAT, told, now, key=f"repeat/{page.repeats}",
                           level=page.level)
                self.counts.repeats += 1

    @staticmethod
    def _all_muted(session: Session, ticket_id: int, now: datetime) -> bool:
        """Muted by the control room (every firing alert of it): no escalation until the mute ends."""
        firing = session.execute(
            select(AlertRow.muted_until).where(AlertRow.ticket_id == ticket_id,
                                               AlertRow.state == AlertState.FIRING.value)
        ).scalars().all()
        return bool(firing) and all(until is not None and until > now for until in firing)

    def _close_storms(self, session: Session, now: datetime) -> None:
        for (_channel, _recipient, site_id), rows in self._storm.ended(session, now=now).items():
            summary = self._storm.fold(rows, functools.partial(self._summary, session, site_id=site_id, now=now),
                                       now=now)
            if summary is not None:
                self.counts.summaries += 1

    def _summary(self, session: Session, rows: list[DeliveryRow], *, site_id: str, now: datetime) -> DeliveryRow:
        first = rows[0]
        items: list[TicketFacts] = []
        for ticket_id in dict.fromkeys(r.ticket_id for r in rows if r.ticket_id is not None):
            ticket = session.get(TicketRow, ticket_id)
            facts = ticket_facts(session, self._config, ticket) if ticket is not None else None
            if facts is not None:
                items.append(facts)
        site = self._config.site(site_id)
        notice = Notice(kind=NoticeKind.SUMMARY, at=now, items=tuple(items), site_name=site.name,
                        time_zone=site.time_zone, link=site_link(self._settings.base_url, site_id))
        summary = DeliveryRow(
            key=f"summary/{first.recipient}/{site_id}/{first.id}", ticket_id=None, site_id=site_id,
            kind=NoticeKind.SUMMARY.value, level=max(r.level for r in rows), channel=first.channel,
            recipient=first.recipient, person=first.person, address=first.address, locale=first.locale,
            content=render(notice, first.locale).to_json(), mentions=first.mentions, state="pending",
            created_at=now, next_attempt_at=now, attempts=0,
        )
        session.add(summary)
        session.flush()
        self.counts.messages += 1
        return summary

    # --- shared by the events, the timers and the reminders ------------------------------

    def route_of(self, ticket: TicketRow) -> Route | None:
        try:
            site = self._config.site(ticket.site_id)
        except KeyError:
            return None
        return route_for(self._settings, desk=ticket.desk, severity=ticket.severity, customer=site.customer,
                         site=site.id)

    def desk_of(self, ticket: TicketRow, page: PageRow | None) -> str:
        if page is not None:
            return page.desk
        route = self.route_of(ticket)
        return (route.desk if route is not None else None) or ticket.desk

    def _told(self, session: Session, ticket_id: int) -> list[Recipient]:
        """Everyone told of the ticket's fault so far (opened, raised, escalated, repeated)."""
        rows = session.scalars(
            select(DeliveryRow).where(DeliveryRow.ticket_id == ticket_id, DeliveryRow.kind.in_(_TOLD_KINDS))
            .order_by(DeliveryRow.id)
        ).all()
        seen: dict[str, Recipient] = {}
        for row in rows:
            seen.setdefault(row.recipient, Recipient(channel=row.channel, person=row.person, address=row.address,
                                                     locale=row.locale, mentions=()))
        return list(seen.values())

    def tell(self, session: Session, ticket: TicketRow, kind: NoticeKind, told: Sequence[Recipient], now: datetime,
             *, key: str) -> int:
        """For the reminders: a notice about ``ticket`` (paged or not) to ``told``."""
        return self._tell(session, ticket, _page_of(session, ticket.id), kind, told, now, key=key)

    def _tell(self, session: Session, ticket: TicketRow, page: PageRow | None, kind: NoticeKind,
              told: Iterable[Recipient], now: datetime, *, key: str, level: int | None = None,
              at: datetime | None = None) -> int:
        """Plan ``kind`` about ``ticket`` to each of ``told``; returns how many new messages."""
        told = list(told)
        if not told:
            log.info("paging: ticket %d %s: nobody to tell (check [paging] desks and people)", ticket.id, kind.value)
            return 0
        facts = ticket_facts(session, self._config, ticket)
        if facts is None:
            return 0
        notice = Notice(kind=kind, at=at or now, ticket=facts, level=level or (page.level if page else 1),
                        acknowledged_by=page.acknowledged_by if page else None)
        written: dict[str, dict] = {}
        planned = 0
        for recipient in told:
            full_key = f"t{ticket.id}/{key}/{recipient.key}"
            if session.scalar(select(DeliveryRow.id).where(DeliveryRow.key == full_key)) is not None:
                continue  # planned before (a restart, another planner)
            if recipient.locale not in written:
                written[recipient.locale] = render(notice, recipient.locale).to_json()
            # A site's own ticket (site down) is the message a storm is about: never folded.
            storm_site = None if ticket.asset_id.startswith("site:") else ticket.site_id
            state, window_end = self._storm.place(session, channel=recipient.channel, recipient=recipient.key,
                                                  site_id=storm_site, now=now)
            session.add(DeliveryRow(
                key=full_key, ticket_id=ticket.id, site_id=ticket.site_id, kind=kind.value, level=notice.level,
                channel=recipient.channel, recipient=recipient.key, person=recipient.person,
                address=recipient.address, locale=recipient.locale, content=written[recipient.locale],
                mentions=list(recipient.mentions), state=state, created_at=now, next_attempt_at=now,
                window_end=window_end, attempts=0,
            ))
            session.flush()  # the storm's next count sees it
            planned += 1
        self.counts.messages += planned
        return planned


def prune_outbox(sessions: sessionmaker[Session], *, now: datetime) -> None:
    """Drop the entries processed more than KEEP_PROCESSED ago (their audit rows stay)."""
    with sessions.begin() as session:
        session.execute(delete(OutboxRow).where(OutboxRow.processed_at < now - KEEP_PROCESSED))


def settle_past(sessions: sessionmaker[Session], *, now: datetime) -> int:
    """Mark every outbox entry processed without telling anyone: for a past written after
    the fact (the demo's week of history), whose news nobody is waiting for, and in a
    process without [paging]. Returns how many."""
    with sessions.begin() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.processed_at.is_(None))).all()
        for row in rows:
            row.processed_at = now
    return len(rows)


def _page_of(session: Session, ticket_id: int) -> PageRow | None:
    return session.scalar(select(PageRow).where(PageRow.ticket_id == ticket_id))


def _acknowledge(page: PageRow, event: AuditRow) -> None:
    if page.acknowledged_at is None:
        page.acknowledged_at, page.acknowledged_by = event.at, event.actor
