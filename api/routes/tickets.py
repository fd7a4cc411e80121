"""Alerts and tickets; the only writes are ticket transitions, and they need a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import ComponentsDep, SessionDep, WriterDep
from api.schemas import AcknowledgeIn, AlertPublic, AuditPublic, TicketDetail, TicketPublic, TicketTransitionIn
from storage import repository
from tickets.workflow import acknowledge_alert, transition_ticket

router = APIRouter(prefix="/api", tags=["alerts and tickets"])
# Workflow refusals (unknown ticket or alert: 404, a move the lifecycle forbids: 409) are
# turned into responses once, by the handlers in api/app.py.


@router.get("/alerts", response_model=list[AlertPublic])
def alerts(
    session: SessionDep,
    state: Annotated[str | None, Query(pattern="^(firing|resolved)$")] = None,
    asset_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
):
    return repository.list_alerts(session, state=state, asset_id=asset_id, limit=limit)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
def acknowledge(alert_id: int, body: AcknowledgeIn, actor: WriterDep, parts: ComponentsDep, session: SessionDep):
    """The control room has seen the alert: silences its sound and stops its escalation."""
    row = acknowledge_alert(session, alert_id, actor=actor, at=parts.clock.now(), comment=body.comment)
    session.commit()
    return row


@router.get("/tickets", response_model=list[TicketPublic])
def tickets(
    session: SessionDep,
    open_only: bool = False,
    asset_id: str | None = None,
    site_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
):
    return repository.list_tickets(session, open_only=open_only, asset_id=asset_id, site_id=site_id, limit=limit)


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
def ticket(ticket_id: int, session: SessionDep):
    row = repository.get_ticket(session, ticket_id)
    if row is None:
        raise HTTPException(404, detail=f"no ticket {ticket_id}")
    history = [AuditPublic.model_validate(a) for a in repository.ticket_history(session, ticket_id)]
    return TicketDetail(**TicketPublic.model_validate(row).model_dump(), history=history)


@router.post("/tickets/{ticket_id}/transitions", response_model=TicketPublic)
def move_ticket(ticket_id: int, body: TicketTransitionIn, actor: WriterDep, parts: ComponentsDep, session: SessionDep):
    row = transition_ticket(
        session, ticket_id, to=body.to, actor=actor, at=parts.clock.now(), note=body.note, assignee=body.assignee
    )
    session.commit()
    return row
