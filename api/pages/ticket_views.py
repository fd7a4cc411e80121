"""What the ticket pages show: the tickets a principal may see (filtered, a page at a time),
the words for states, service types, ratings and audit entries, and times on the site's
clock with its UTC offset.

What a principal sees is its scope (api/scope.py): a principal scoped to customers sees the
tickets of their configured sites only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.scope import Scope
from sitewatch.config.models import Config
from sitewatch.domain.tickets import OPEN_STATES, ServiceType, TicketState
from sitewatch.i18n.messages import render as said
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.words import (
    SEVERITIES,
    STATES,
    countdown,
    label,
    when,
)

PER_PAGE = 100

# DOMAIN.md "Tickets": the service types of rule book §13 art. 6.
SERVICE_TYPES = {
    ServiceType.A_PAID.value: i18n.lazy("A · paid service"),
    ServiceType.B_CONTRACT.value: i18n.lazy("B · under the maintenance contract"),
    ServiceType.C_WARRANTY.value: i18n.lazy("C · free under warranty"),
    ServiceType.D_INTERNAL.value: i18n.lazy("D · internal"),
}
# The customer's survey: four axes, four levels each (§13 arts. 24–25).
RATING_AXES = (
    ("attitude", i18n.lazy("Attitude")),
    ("skill", i18n.lazy("Skill")),
    ("arrival_time", i18n.lazy("Arrival time")),
    ("follow_through", i18n.lazy("Follow-through")),
)
RATING_LEVELS = {
    1: i18n.lazy("Dissatisfied"),
    2: i18n.lazy("Fairly satisfied"),
    3: i18n.lazy("Satisfied"),
    4: i18n.lazy("Very satisfied"),
}
# Audit entries of a ticket (tickets/writer.py, deadlines.py, workflow.py); a move is
# named after the state it reached.
ACTIONS = {
    "opened": i18n.lazy("Opened"),
    "symptom": i18n.lazy("Another symptom joined"),
    "occurrence": i18n.lazy("Fired again"),
    "alert_resolved": i18n.lazy("An alert cleared"),
    "escalated": i18n.lazy("Escalated"),
    "sla_breached": i18n.lazy("Arrival deadline missed"),
    "resolve_overdue": i18n.lazy("Resolution deadline missed"),
    "resolution_committed": i18n.lazy("Resolution time committed"),
    "acknowledged": i18n.lazy("Acknowledged"),
} | {f"to_{state}": name for state, name in STATES.items()}
# Who wrote an audit entry: a username, a token's name, or the service itself (the ticket
# writer and the deadline keeper write as "rules").
ACTORS = {"rules": i18n.lazy("Sitewatch (automatic)")}
STATE_FILTERS = {"open": i18n.lazy("Not closed"), "closed": i18n.lazy("Closed"), "all": i18n.lazy("All")}


# --- scope and the list -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketFilter:
    state: str = "open"  # a key of STATE_FILTERS
    site_id: str = ""
    customer_id: str = ""
    assignee: str = ""
    severity: str = ""
    breached: bool = False
    page: int = 1

    def query(self, **changes: Any) -> dict[str, Any]:
        """The filter as the list's query string (empty fields left out), with ``changes``."""
        fields = {"state": self.state, "site": self.site_id, "customer": self.customer_id, "assignee": self.assignee,
                  "severity": self.severity, "breached": "1" if self.breached else "", "page": self.page} | changes
        return {k: v for k, v in fields.items() if v not in ("", None) and not (k == "page" and v == 1)}


def find_tickets(session: Session, config: Config, scope: Scope, wanted: TicketFilter,
                 *, per_page: int = PER_PAGE) -> tuple[list[TicketRow], int]:
    """One page of the tickets in ``scope`` that match ``wanted``, newest first; and how
    many match in all."""
    stmt = select(TicketRow)
    if scope.site_ids is not None:
        stmt = stmt.where(TicketRow.site_id.in_(scope.site_ids))
    if wanted.state == "open":
        stmt = stmt.where(TicketRow.state.in_([s.value for s in OPEN_STATES]))
    elif wanted.state == "closed":
        stmt = stmt.where(TicketRow.state == TicketState.CLOSED.value)
    if wanted.customer_id:
        stmt = stmt.where(TicketRow.site_id.in_([s.id for s in config.sites if s.customer == wanted.customer_id]))
    if wanted.site_id:
        stmt = stmt.where(TicketRow.site_id == wanted.site_id)
    if wanted.assignee:
        stmt = stmt.where(TicketRow.assignee == wanted.assignee)
    if wanted.severity:
        stmt = stmt.where(TicketRow.severity == wanted.severity)
    if wanted.breached:
        stmt = stmt.where(or_(TicketRow.sla_breached.is_(True), TicketRow.resolve_breached.is_(True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(TicketRow.opened_at.desc(), TicketRow.id.desc())
                           .offset((wanted.page - 1) * per_page).limit(per_page))
    return list(rows), total


# --- one ticket, as shown ---------------------------------------------------------------


def zone_of(config: Config, site_id: str) -> str:
    try:
        return config.site(site_id).time_zone
    except KeyError:
        return "UTC"


def place(config: Config, ticket: TicketRow) -> dict[str, Any]:
    """Where the ticket is: site and asset names, the asset page (None for a site-wide
    ticket), the customer, and the site's zone."""
    try:
        site = config.site(ticket.site_id)
        site_name, customer, zone = site.name, site.customer, site.time_zone
    except KeyError:
        site_name, customer, zone = ticket.site_id, None, "UTC"
    try:
        asset_name, asset_href = config.asset(ticket.asset_id).name, f"/asset/{ticket.asset_id}"
    except KeyError:
        asset_name, asset_href = ticket.asset_id, None
    names = {c.id: c.name for c in config.customers}
    return {"site_name": site_name, "asset_name": asset_name, "asset_href": asset_href, "zone": zone,
            "customer_id": customer, "customer": names.get(customer or "", customer or "—")}


def row_view(config: Config, ticket: TicketRow, now: datetime) -> dict[str, Any]:
    """A ticket in the list, and the header of its page."""
    where = place(config, ticket)
    zone = where["zone"]
    arrival, late = ((i18n.gettext("arrived %(at)s", at=when(ticket.arrived_at, zone)), False)
                     if ticket.arrived_at is not None else countdown(ticket.arrive_by, now))
    resolve_late = ticket.resolved_at is None and ticket.resolve_by is not None and ticket.resolve_by < now
    return where | {
        "t": ticket,
        "title": said(ticket.title_msg, ticket.title),
        "state": label(STATES, ticket.state),
        "severity": label(SEVERITIES, ticket.severity),
        "opened": when(ticket.opened_at, zone),
        "arrival": arrival,
        "arrival_late": late,
        "resolve_by": when(ticket.resolve_by, zone),
        "resolve_late": resolve_late,
    }


def alert_view(alert: AlertRow, zone: str) -> dict[str, Any]:
    return {"a": alert, "summary": said(alert.summary_msg, alert.summary),
            "since": when(alert.started_at, zone), "cleared": when(alert.resolved_at, zone),
            "state": i18n.gettext("Firing") if alert.state == "firing" else i18n.gettext("Cleared"),
            "severity": label(SEVERITIES, alert.severity)}


def history_view(entry: AuditRow, zone: str, summaries: Mapping[int, str]) -> dict[str, Any]:
    """An audit entry of the ticket: when, who, what, the facts it added and its note.
    ``summaries``: the ticket's alerts by id, as shown (an entry keeps only the English)."""
    detail = entry.detail or {}
    facts, note = [], detail.get("note") or ""
    if detail.get("assignee"):
        facts.append(i18n.gettext("Assignee: %(name)s", name=detail["assignee"]))
    if report := detail.get("report"):
        facts.append(i18n.gettext("Cause: %(cause)s", cause=report.get("cause", "")))
        facts.append(i18n.gettext("Work done: %(work)s", work=report.get("work_done", "")))
    if detail.get("customer_name"):
        facts.append(i18n.gettext("Signed by %(name)s", name=detail["customer_name"]))
    if rating := detail.get("rating"):
        facts.append(" · ".join(f"{i18n.gettext(name)} {rating.get(axis, '—')}" for axis, name in RATING_AXES))
    if entry.action == "resolution_committed":
        facts.append(i18n.gettext("Resolve by %(at)s", at=when(datetime.fromisoformat(detail["resolve_by"]["new"]), zone)))
        note = detail.get("reason", "")  # a person's words, unlike the rules' English reasons
    if entry.action == "acknowledged":
        note = detail.get("comment") or ""  # the person's words, from the page or the API
    if entry.action == "escalated" and detail.get("severity"):
        facts.append(i18n.gettext("Now %(severity)s", severity=label(SEVERITIES, detail["severity"])))
    if "alert_id" in detail:
        facts.append(summaries.get(detail["alert_id"], detail.get("summary", "")))
    return {"at": when(entry.at, zone), "actor": label(ACTORS, entry.actor), "what": label(ACTIONS, entry.action),
            "note": note, "facts": facts}
