"""Alerts and tickets in the principal's customer scope; every write needs a role that may
make it, and is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from sitewatch.api.bounds import IdPath
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.schemas import (
    AcknowledgeIn,
    AlertPublic,
    AuditPublic,
    CommitmentIn,
    MuteIn,
    TicketDetail,
    TicketPublic,
    TicketTransitionIn,
)
from sitewatch.auth.roles import Permission
from sitewatch.domain.tickets import TicketState
from sitewatch.storage import repository
from sitewatch.tickets.workflow import (
    Rating,
    Report,
    acknowledge_alert,
    commit_resolution,
    mute_alert,
    transition_ticket,
)

router = APIRouter(prefix="/api", tags=["alerts and tickets"])
DESK_MOVES = {TicketState.DISPATCHED: Permission.TICKETS_DISPATCH, TicketState.FOLLOWED_UP: Permission.TICKETS_DISPATCH,
              TicketState.CLOSED: Permission.TICKETS_DISPATCH}
# Workflow refusals (unknown ticket or alert: 404, a move the lifecycle forbids: 409) are
# turned into responses once, by the handlers in api/app.py; a ticket or alert outside the
# principal's customer scope is a 404 before the route runs (api/scope.guard).


@router.get("/alerts", response_model=list[AlertPublic])
def alerts(
    session: SessionDep,
    scope: ScopeDep,
    state: Annotated[str | None, Query(pattern="^(firing|resolved)$")] = None,
    asset_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
):
    return repository.list_alerts(session, state=state, asset_id=asset_id, site_ids=scope.site_ids, limit=limit)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
def acknowledge(alert_id: IdPath, body: AcknowledgeIn, actor: may(Permission.ALERTS_ACKNOWLEDGE), parts: ComponentsDep, session: SessionDep):
    """The control room has seen the alert: silences its sound and stops its escalation."""
    row = acknowledge_alert(session, alert_id, actor=actor.name, at=parts.clock.now(), comment=body.comment)
    session.commit()
    return row


@router.post("/alerts/{alert_id}/mute", response_model=AlertPublic)
def mute(alert_id: IdPath, body: MuteIn, actor: may(Permission.ALERTS_ACKNOWLEDGE), parts: ComponentsDep, session: SessionDep):
    """No sound and no escalation for a while; announced again if it still fires then."""
    row = mute_alert(session, alert_id, actor=actor.name, at=parts.clock.now(),
                     duration=timedelta(minutes=body.minutes), reason=body.reason)
    session.commit()
    return row


@router.get("/tickets", response_model=list[TicketPublic])
def tickets(
    session: SessionDep,
    scope: ScopeDep,
    open_only: bool = False,
    asset_id: str | None = None,
    site_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
):
    return repository.list_tickets(session, open_only=open_only, asset_id=asset_id, site_id=site_id,
                                   site_ids=scope.site_ids, limit=limit)


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
def ticket(ticket_id: IdPath, session: SessionDep):
    row = repository.get_ticket(session, ticket_id)
    if row is None:
        raise HTTPException(404, detail=f"no ticket {ticket_id}")
    history = [AuditPublic.model_validate(a) for a in repository.ticket_history(session, ticket_id)]
    alerts = [AlertPublic.model_validate(a)
              for a in repository.alerts_of_ticket(session, row)]
    return TicketDetail(**TicketPublic.model_validate(row).model_dump(), history=history, alerts=alerts)


@router.post("/tickets/{ticket_id}/transitions", response_model=TicketPublic)
def move_ticket(ticket_id: IdPath, body: TicketTransitionIn, actor: may(Permission.TICKETS_DISPATCH, Permission.TICKETS_WORK),
               parts: ComponentsDep, session: SessionDep):
    """Move a ticket one step on; each target needs its part of the form (422 if missing):
    dispatched → assignee; resolved → cause and work_done; signed_off → customer_name and
    rating; followed_up → note. The desk dispatches, follows up and closes; technicians
    arrive, resolve and take the customer's sign-off."""
    needed = DESK_MOVES.get(body.to, Permission.TICKETS_WORK)
    if not actor.can(needed):
        raise HTTPException(403, detail=f"role {actor.role.value!r} may not move a ticket to {body.to.value!r}")
    report = Report(body.cause, body.work_done, body.work_hours, body.parts_used) if body.cause or body.work_done else None
    rating = Rating(**body.rating.model_dump()) if body.rating is not None else None
    row = transition_ticket(
        session, ticket_id, to=body.to, actor=actor.name, at=parts.clock.now(), note=body.note, assignee=body.assignee,
        service_type=body.service_type, report=report, customer_name=body.customer_name, rating=rating,
    )
    session.commit()
    return row


@router.post("/tickets/{ticket_id}/commitment", response_model=TicketPublic)
def commit(ticket_id: IdPath, body: CommitmentIn, actor: may(Permission.TICKETS_WORK), parts: ComponentsDep, session: SessionDep):
    """Not fixable today: the committed resolution time and why (replaces the same-day deadline)."""
    row = commit_resolution(session, ticket_id, resolve_by=body.resolve_by, reason=body.reason, actor=actor.name,
                            at=parts.clock.now())
    session.commit()
    return row
