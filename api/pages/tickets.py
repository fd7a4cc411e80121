"""The ticket pages: the list (filters, customer scope, 100 a page) and one ticket with its
SLA, the symptoms of its fault, the messages paging sent about it, its audit trail, an
"Acknowledge" button while something of it waits for someone (where a message's link
lands), and a form for each move the viewer's role may make next.

The forms are plain HTML posts (with the session's CSRF token) to this module's routes,
which call the same workflow functions as the API and answer with a redirect to the
ticket (303); a refusal is the ticket's page again with the reason in the viewer's
language (409 or 422) and what they typed kept. A ticket outside the viewer's customers
is not found (404), for its page and its posts alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.bounds import IdPath
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, PrincipalDep, ScopeDep, SessionDep
from sitewatch.api.pages.common import render, request_locale
from sitewatch.api.pages.paging import AcknowledgeForm, ticket_paging
from sitewatch.api.pages.ticket_forms import (
    MOVES,
    CommitForm,
    FormRefused,
    MoveForm,
    commit_arguments,
    commit_refusal,
    move_arguments,
    move_refusal,
)
from sitewatch.api.pages.ticket_views import (
    PER_PAGE,
    RATING_AXES,
    RATING_LEVELS,
    SERVICE_TYPES,
    STATE_FILTERS,
    TicketFilter,
    alert_view,
    find_tickets,
    history_view,
    row_view,
    zone_of,
)
from sitewatch.api.routes.tickets import DESK_MOVES
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Permission, Principal, Role
from sitewatch.auth.users import list_users
from sitewatch.domain.tickets import ALLOWED_TRANSITIONS, TicketState
from sitewatch.domain.time import to_local
from sitewatch.storage import repository
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets.words import SEVERITIES, label, offset_name, when
from sitewatch.tickets.workflow import (
    InvalidTransition,
    MissingDetails,
    acknowledge_ticket,
    commit_resolution,
    transition_ticket,
)

router = APIRouter(include_in_schema=False)

NOT_YOURS = i18n.lazy("Your role may not do this.")
CLOSED = i18n.lazy("The ticket is closed: there is nothing left to acknowledge.")


@contextmanager
def _language(request: Request, principal: Principal) -> Iterator[None]:
    """Text built for the page (labels, countdowns, refusals) in the viewer's language."""
    with i18n.using(request_locale(request, principal)):
        yield


@router.get("/tickets", response_class=HTMLResponse)
def ticket_list(request: Request, principal: PrincipalDep, scope: ScopeDep, parts: ComponentsDep,
                session: SessionDep, state: str = "open", site: str = "", customer: str = "", assignee: str = "",
                severity: str = "", breached: str = "", page: int = 1) -> Response:
    config = parts.config
    wanted = TicketFilter(state=state if state in STATE_FILTERS else "open", site_id=site, customer_id=customer,
                          assignee=assignee.strip(), severity=severity, breached=bool(breached), page=max(page, 1))
    rows, total = find_tickets(session, config, scope, wanted)
    now = parts.clock.now()
    pages = max(1, -(-total // PER_PAGE))
    with _language(request, principal):
        context = {
            "rows": [row_view(config, t, now) for t in rows],
            "total": total,
            "wanted": wanted,
            "pages": pages,
            "page_query": {n: wanted.query(page=n) for n in (wanted.page - 1, wanted.page + 1) if 1 <= n <= pages},
            "state_filters": [(key, i18n.gettext(name)) for key, name in STATE_FILTERS.items()],
            "customers": [c for c in config.customers if scope.sees_customer(c.id)],
            "sites": [s for s in config.sites if scope.sees_site(s.id)],
            "severities": [(key, i18n.gettext(name)) for key, name in SEVERITIES.items()],
        }
    return render(request, "tickets.html", context, principal=principal)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(ticket_id: IdPath, request: Request, principal: PrincipalDep, scope: ScopeDep, parts: ComponentsDep,
                session: SessionDep) -> Response:
    ticket = _visible(session, scope, ticket_id)
    if ticket is None:
        return _not_found(request, principal, ticket_id)
    return _detail(request, principal, parts, session, ticket)


@router.post("/tickets/{ticket_id}/move")
def move_ticket(ticket_id: IdPath, request: Request, principal: PrincipalDep, scope: ScopeDep, parts: ComponentsDep,
                session: SessionDep, form: Annotated[MoveForm, Form()]) -> Response:
    """One step on the ticket's life; the desk dispatches, follows up and closes, the
    technician arrives, resolves and takes the customer's sign-off (as the API's rule)."""
    ticket = _visible(session, scope, ticket_id)
    if ticket is None:
        return _not_found(request, principal, ticket_id)
    with _language(request, principal):
        try:
            _may(principal, Permission.TICKETS_DISPATCH, Permission.TICKETS_WORK)  # before the form is judged
            to = form.target()
            _may(principal, DESK_MOVES.get(to, Permission.TICKETS_WORK))
            transition_ticket(session, ticket_id, actor=principal.name, at=parts.clock.now(),
                              **move_arguments(form, ticket))
        except FormRefused as refused:
            return _refused(request, principal, parts, session, ticket, refused, form)
        except (InvalidTransition, MissingDetails) as exc:
            session.rollback()  # a refused move changes nothing
            return _refused(request, principal, parts, session, ticket, move_refusal(exc, to, ticket), form)
    session.commit()
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/commit")
def commit_ticket(ticket_id: IdPath, request: Request, principal: PrincipalDep, scope: ScopeDep, parts: ComponentsDep,
                  session: SessionDep, form: Annotated[CommitForm, Form()]) -> Response:
    """Not fixable today: the committed resolution time (site's clock) and the reason."""
    ticket = _visible(session, scope, ticket_id)
    if ticket is None:
        return _not_found(request, principal, ticket_id)
    with _language(request, principal):
        try:
            _may(principal, Permission.TICKETS_WORK)
            commit_resolution(session, ticket_id, actor=principal.name, at=parts.clock.now(),
                              **commit_arguments(form, zone_of(parts.config, ticket.site_id)))
        except FormRefused as refused:
            return _refused(request, principal, parts, session, ticket, refused, form, failed="commit")
        except (InvalidTransition, MissingDetails) as exc:
            session.rollback()
            return _refused(request, principal, parts, session, ticket, commit_refusal(exc, form), form,
                            failed="commit")
    session.commit()
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/acknowledge")
def acknowledge(ticket_id: IdPath, request: Request, principal: PrincipalDep, scope: ScopeDep, parts: ComponentsDep,
                session: SessionDep, form: Annotated[AcknowledgeForm, Form()]) -> Response:
    """Someone has it in hand (often straight from a message's link): its firing alerts are
    acknowledged, the alarm stops and paging stops escalating it."""
    ticket = _visible(session, scope, ticket_id)
    if ticket is None:
        return _not_found(request, principal, ticket_id)
    with _language(request, principal):
        try:
            _may(principal, Permission.ALERTS_ACKNOWLEDGE)
            acknowledge_ticket(session, ticket_id, actor=principal.name, at=parts.clock.now(),
                               comment=form.comment.strip())
        except FormRefused as refused:
            return _refused(request, principal, parts, session, ticket, refused, form, failed="acknowledge")
        except InvalidTransition:
            session.rollback()
            return _refused(request, principal, parts, session, ticket, FormRefused(i18n.gettext(CLOSED), 409), form,
                            failed="acknowledge")
    session.commit()
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


# --- what the routes share --------------------------------------------------------------


def _may(principal: Principal, *permissions: Permission) -> None:
    """403 unless the role may one of ``permissions``: a viewer learns nothing from a 422."""
    if not any(principal.can(p) for p in permissions):
        raise FormRefused(i18n.gettext(NOT_YOURS), 403)


def _visible(session: Session, scope: Scope, ticket_id: int) -> TicketRow | None:
    # The scope guard (api/scope.py) already answers 404 for a ticket of another customer;
    # this is the page's own answer for one that does not exist.
    ticket = repository.get_ticket(session, ticket_id)
    return ticket if ticket is not None and scope.sees_site(ticket.site_id) else None


def _not_found(request: Request, principal: Principal, ticket_id: int) -> Response:
    # The same answer for a ticket that does not exist and one of another customer.
    return render(request, "ticket.html", {"ticket": None, "ticket_id": ticket_id}, status_code=404,
                  principal=principal)


def _refused(request: Request, principal: Principal, parts: ApiContext, session: Session, ticket: TicketRow,
             refused: FormRefused, form: MoveForm | CommitForm | AcknowledgeForm, *,
             failed: str | None = None) -> Response:
    """The ticket's page again, with the reason and the form as it was filled in."""
    return _detail(request, principal, parts, session, ticket, status=refused.status, error=refused.message,
                   values=form.model_dump(), failed=failed or getattr(form, "to", None))


def _moves(principal: Principal, ticket: TicketRow) -> list[dict[str, str]]:
    """The next moves of the ticket that the viewer's role may make, with their headings."""
    return [{"to": to.value, "heading": i18n.gettext(MOVES[to])}
            for to in sorted(ALLOWED_TRANSITIONS[TicketState(ticket.state)], key=list(TicketState).index)
            if principal.can(DESK_MOVES.get(to, Permission.TICKETS_WORK))]


def _technicians(session: Session, customer_id: str | None) -> list[tuple[str, str]]:
    """Who may be sent: enabled technicians whose scope covers the ticket's customer."""
    return [(u.username, u.display_name or u.username) for u in list_users(session)
            if u.role == Role.TECHNICIAN.value and not u.disabled
            and (not u.customers or customer_id in u.customers)]


def _detail(request: Request, principal: Principal, parts: ApiContext, session: Session, ticket: TicketRow, *,
            status: int = 200, error: str | None = None, values: dict | None = None,
            failed: str | None = None) -> Response:
    config, now = parts.config, parts.clock.now()
    with _language(request, principal):
        row = row_view(config, ticket, now)
        zone = row["zone"]
        moves = _moves(principal, ticket)
        may_commit = (principal.can(Permission.TICKETS_WORK) and ticket.resolved_at is None
                      and ticket.state != TicketState.CLOSED.value)
        symptoms = [alert_view(a, zone) for a in repository.alerts_of_ticket(session, ticket)]
        summaries = {s["a"].id: s["summary"] for s in symptoms}
        ratings = [(i18n.gettext(name), getattr(ticket, f"rating_{axis}")) for axis, name in RATING_AXES]
        paging = ticket_paging(session, config, ticket, zone)
        context = {
            "ticket": ticket,
            "row": row,
            "zone_name": f"{zone} ({offset_name(to_local(now, zone))})",
            "when": lambda at: when(at, zone),
            "arrived_at": when(ticket.arrived_at, zone),
            "resolved_at": when(ticket.resolved_at, zone),
            "closed_at": when(ticket.closed_at, zone),
            "service_type": label(SERVICE_TYPES, ticket.service_type),
            "ratings": [(name, level, label(RATING_LEVELS, level)) for name, level in ratings if level is not None],
            "symptoms": symptoms,
            "history": [history_view(e, zone, summaries) for e in repository.ticket_history(session, ticket.id)],
            "moves": moves,
            "may_acknowledge": paging["to_acknowledge"] and principal.can(Permission.ALERTS_ACKNOWLEDGE),
            "acknowledged": paging["acknowledged"],
            "notifications": paging["notifications"],
            "may_commit": may_commit,
            "technicians": (_technicians(session, row["customer_id"])
                            if any(m["to"] == TicketState.DISPATCHED.value for m in moves) else []),
            "service_types": [(key, i18n.gettext(name)) for key, name in SERVICE_TYPES.items()],
            "rating_axes": [(axis, i18n.gettext(name)) for axis, name in RATING_AXES],
            "rating_levels": [(level, i18n.gettext(name)) for level, name in RATING_LEVELS.items()],
            "resolve_by_local": to_local(ticket.resolve_by or now, zone).strftime("%Y-%m-%dT%H:%M"),
            "error": error,
            "values": values or {},
            "failed": failed,
        }
    return render(request, "ticket.html", context, status_code=status, principal=principal)
