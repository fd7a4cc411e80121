"""What people see of paging: on a ticket's page, the messages sent about it and whether
someone has acknowledged it; for admins, /admin/paging — how many messages are in each
state, the dead letters with a button to send each again, and who is on call per desk now
and over the next 7 days.

Words for what a message said and where it is (its kind and state) are this module's, in
the viewer's language; names come from the configuration (a person's name, a group
channel's id); addresses are masked (api/routes/paging.mask). Ticket times are on the
site's clock, rota times on the rota's, each with its UTC offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.bounds import IdPath
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.pages.common import render, request_locale
from sitewatch.api.pages.ticket_views import zone_of
from sitewatch.api.routes.paging import (
    STATES,
    DeliveryNotFound,
    NotDead,
    counts,
    find,
    of_ticket,
    public,
    retry,
)
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Permission, Principal
from sitewatch.config.models import Config
from sitewatch.domain.tickets import TicketState
from sitewatch.paging.config import PagingSettings
from sitewatch.paging.rota import on_call, shifts
from sitewatch.storage.paging import DeliveryRow, PageRow
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.words import STATES as TICKET_STATES
from sitewatch.tickets.words import label, when

router = APIRouter(include_in_schema=False)
Admin = may(Permission.PAGING_ADMIN)
ROTA_DAYS = 7
DEAD_SHOWN = 200

# What a message told (paging.models.NoticeKind values).
KINDS = {
    "opened": i18n.lazy("New fault"),
    "raised": i18n.lazy("Severity raised"),
    "escalation": i18n.lazy("Not acknowledged: escalated"),
    "repeat": i18n.lazy("Still not acknowledged"),
    "cleared": i18n.lazy("Cleared"),
    "dispatched": TICKET_STATES[TicketState.DISPATCHED.value],
    "arrive_soon": i18n.lazy("Arrival due soon"),
    "breached": i18n.lazy("Arrival deadline missed"),
    "resolve_overdue": i18n.lazy("Resolution deadline missed"),
    "end_of_day": i18n.lazy("Unresolved at the end of the day"),
    "summary": i18n.lazy("Summary of a site's alerts"),
}
# Where a message is (storage/paging.py DeliveryRow states).
DELIVERY_STATES = {
    "pending": i18n.lazy("To be sent"),
    "waiting": i18n.lazy("Held back for a summary"),
    "folded": i18n.lazy("Sent in a summary"),
    "delivered": i18n.lazy("Delivered"),
    "dead": i18n.lazy("Given up"),
}
# The channels' kinds (paging/config.py).
CHANNEL_KINDS = {
    "email": i18n.lazy("E-mail"),
    "sms": i18n.lazy("SMS"),
    "wecom": i18n.lazy("WeCom group"),
    "dingtalk": i18n.lazy("DingTalk group"),
    "webhook": i18n.lazy("Webhook"),
}


class AcknowledgeForm(BaseModel):
    comment: str = ""


# --- the ticket page's part -------------------------------------------------------------


def delivery_view(row: DeliveryRow, config: Config, zone: str) -> dict[str, Any]:
    """One message as a row of a table: when, to whom, through what, what it said, where it is."""
    shown = public(row, config)  # names from the configuration, the address masked
    what = label(KINDS, row.kind)
    if row.level > 1 or row.kind in ("escalation", "repeat"):
        what = i18n.gettext("%(what)s, level %(level)s", what=what, level=row.level)
    return {
        "d": row,
        "at": when(row.created_at, zone),
        "to": shown.person_name or row.person or row.channel,  # a group channel is named by its id
        "address": shown.address or "",
        "via": label(CHANNEL_KINDS, shown.channel_kind) if shown.channel_kind else row.channel,
        "what": what,
        "state": label(DELIVERY_STATES, row.state),
        "error": shown.last_error,
        "details": _details(row, zone, shown.last_error),
    }


def _details(row: DeliveryRow, zone: str, error: str) -> list[str]:
    facts = []
    if row.state == "delivered":
        facts.append(when(row.delivered_at, zone))
    elif row.state == "pending":
        facts.append(i18n.gettext("next attempt %(at)s", at=when(row.next_attempt_at, zone)))
    elif row.state == "waiting":
        facts.append(i18n.gettext("until %(at)s", at=when(row.window_end, zone)))
    elif row.state == "folded" and row.summary_id is not None:
        facts.append(i18n.gettext("in summary #%(id)s", id=row.summary_id))
    elif row.state == "dead":
        facts.append(when(row.dead_at, zone))
    if row.attempts and row.state in ("pending", "dead"):
        facts.append(i18n.gettext("attempts: %(n)s", n=row.attempts))
    if error and row.state in ("pending", "dead"):
        facts.append(i18n.gettext("last error: %(error)s", error=error))
    return facts


def ticket_paging(session: Session, config: Config, ticket: TicketRow, zone: str) -> dict[str, Any]:
    """For the ticket page: its messages, who acknowledged it and when (text, or None), and
    whether there is anything left to acknowledge."""
    page = session.scalar(select(PageRow).where(PageRow.ticket_id == ticket.id))
    acknowledged = _acknowledged(session, ticket.id, page)
    unacknowledged = session.scalar(select(AlertRow.id).where(
        AlertRow.ticket_id == ticket.id, AlertRow.state == "firing", AlertRow.acknowledged_at.is_(None)).limit(1))
    paging_on = page is not None and page.ended_at is None and acknowledged is None
    return {
        "notifications": [delivery_view(row, config, zone) for row in of_ticket(session, ticket.id)],
        "acknowledged": (i18n.gettext("Acknowledged by %(name)s at %(at)s", name=acknowledged[0],
                                      at=when(acknowledged[1], zone)) if acknowledged else None),
        "to_acknowledge": ticket.state != TicketState.CLOSED.value and (unacknowledged is not None or paging_on),
    }


def _acknowledged(session: Session, ticket_id: int, page: PageRow | None) -> tuple[str, datetime] | None:
    """Who acknowledged the ticket, and when: as paging recorded it, or — before the planner
    has read it — the workflow's own audit entry (since the page began, if there is one)."""
    if page is not None and page.acknowledged_at is not None:
        return page.acknowledged_by or "", page.acknowledged_at
    entry = session.scalar(
        select(AuditRow).where(AuditRow.entity == "ticket", AuditRow.entity_id == str(ticket_id),
                               AuditRow.action == "acknowledged")
        .order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(1))
    if entry is None or (page is not None and entry.at < page.paged_at):
        return None
    return entry.actor, entry.at


# --- /admin/paging ----------------------------------------------------------------------


@router.get("/admin/paging", response_class=HTMLResponse)
def paging_page(request: Request, actor: Admin, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
                retried: int | None = None) -> Response:
    return _page(request, actor, parts, session, scope, retried=retried)


@router.post("/admin/paging/deliveries/{delivery_id}/retry")
def retry_page(delivery_id: IdPath, request: Request, actor: Admin, parts: ComponentsDep, session: SessionDep,
               scope: ScopeDep) -> Response:
    try:
        retry(session, delivery_id, actor=actor.name, at=parts.clock.now())
    except DeliveryNotFound:
        raise HTTPException(404, detail=f"no delivery {delivery_id}") from None
    except NotDead:
        session.rollback()
        with i18n.using(request_locale(request, actor)):
            error = i18n.gettext("Message #%(id)s is no longer a dead letter: someone sent it again already.",
                                 id=delivery_id)
        return _page(request, actor, parts, session, scope, error=error, status_code=409)
    session.commit()
    return RedirectResponse(f"/admin/paging?retried={delivery_id}", status_code=303)


def _page(request: Request, actor: Principal, parts: ApiContext, session: Session, scope: Scope, *,
          retried: int | None = None, error: str | None = None, status_code: int = 200) -> Response:
    config, now = parts.config, parts.clock.now()
    with i18n.using(request_locale(request, actor)):
        by_state = counts(session, scope)
        context = {
            "configured": config.paging is not None,
            "counts": [(state, label(DELIVERY_STATES, state), by_state[state])
                       for state in (*STATES, *sorted(set(by_state) - set(STATES)))],
            "dead": [_dead_view(row, config) for row in find(session, scope, state="dead", limit=DEAD_SHOWN)],
            "dead_shown": DEAD_SHOWN,
            "desks": _desks(config.paging, now) if config.paging is not None else [],
            "days": ROTA_DAYS,
            "retried": retried,
            "error": error,
        }
    return render(request, "admin_paging.html", context, status_code=status_code, principal=actor)


def _dead_view(row: DeliveryRow, config: Config) -> dict[str, Any]:
    zone = zone_of(config, row.site_id) if row.site_id else "UTC"
    view = delivery_view(row, config, zone)
    if row.ticket_id is None and row.site_id:
        try:
            view["about"] = config.site(row.site_id).name
        except KeyError:
            view["about"] = row.site_id
    return view | {"created": when(row.created_at, zone), "dead_at": when(row.dead_at, zone)}


def _desks(settings: PagingSettings, now: datetime) -> list[dict[str, Any]]:
    """Per desk: who is on call now, the lead and manager, and the shifts of the next days
    on the rota's own clock."""
    def name(person: str | None) -> str:
        if person is None:
            return i18n.gettext("nobody")
        return settings.people[person].name if person in settings.people else person

    desks = []
    for desk_id, desk in settings.desks.items():
        zone = desk.rota.time_zone
        person_now = on_call(desk.rota, now)
        desks.append({
            "id": desk_id,
            "now": name(person_now),
            "now_nobody": person_now is None,
            "lead": name(desk.lead) if desk.lead else "—",
            "manager": name(desk.manager) if desk.manager else "—",
            "groups": ", ".join(desk.groups) or "—",
            "zone": zone,
            "shifts": [{"from": when(start, zone), "to": when(end, zone), "who": name(person),
                        "nobody": person is None}
                       for start, end, person in shifts(desk.rota, now, now + timedelta(days=ROTA_DAYS))],
        })
    return desks
