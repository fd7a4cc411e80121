"""What paging sent, as JSON: the messages about a ticket (to whom, through what, whether they
arrived), acknowledging a ticket as a message asks, and for admins the messages paging gave
up on (the dead-letter list) and sending one again.

Addresses are never shown whole — a phone as 138****0001, an e-mail as z***@example.com —
here or on the pages: the list is read by people who need to know a message reached the
duty engineer, not their number. A ticket or a delivery outside the principal's customers
is a 404 before a route runs (api/scope.guard knows ``ticket_id`` and ``delivery_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from sitewatch.api.bounds import IdPath
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.schemas import AcknowledgeIn, TicketPublic
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Permission
from sitewatch.config.models import Config
from sitewatch.paging.dead_letters import DeliveryNotFound, NotDead, retry
from sitewatch.storage import repository
from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets.workflow import acknowledge_ticket

router = APIRouter(prefix="/api", tags=["paging"])

STATES = ("pending", "waiting", "folded", "delivered", "dead")  # storage/paging.py DeliveryRow


class DeliveryPublic(BaseModel):
    id: int
    ticket_id: int | None  # None for a storm's summary, which is about a site
    site_id: str | None
    kind: str  # paging.models.NoticeKind
    level: int
    channel: str
    channel_kind: str | None  # email, sms, wecom, dingtalk, webhook; None: the channel is no longer configured
    recipient: str  # person:<id>/<channel> or group:<channel>
    person: str | None
    person_name: str | None
    address: str | None  # masked
    state: str  # pending | waiting | folded | delivered | dead
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str  # with the address masked in it too
    summary_id: int | None  # folded: the summary that carried it
    subject: str


def mask(address: str | None) -> str | None:
    """'13800000001' → '138****0001', 'zhang@example.com' → 'z***@example.com'."""
    if not address:
        return address
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(address) >= 8:
        return f"{address[:3]}****{address[-4:]}"
    return "*" * max(0, len(address) - 2) + address[-2:]


def masked_error(row: DeliveryRow) -> str:
    """The last error, with the address masked: a receiver's answer may quote it
    ("550 <zhang@example.com> mailbox unavailable")."""
    masked = mask(row.address)
    return row.last_error.replace(row.address, masked) if row.address and masked else row.last_error


def public(row: DeliveryRow, config: Config) -> DeliveryPublic:
    paging = config.paging
    channel = paging.channels.get(row.channel) if paging else None
    person = paging.people.get(row.person) if paging and row.person else None
    return DeliveryPublic(
        id=row.id, ticket_id=row.ticket_id, site_id=row.site_id, kind=row.kind, level=row.level, channel=row.channel,
        channel_kind=channel.kind if channel else None, recipient=row.recipient, person=row.person,
        person_name=person.name if person else None, address=mask(row.address), state=row.state, attempts=row.attempts,
        created_at=row.created_at, next_attempt_at=row.next_attempt_at, delivered_at=row.delivered_at,
        dead_at=row.dead_at, last_error=masked_error(row), summary_id=row.summary_id,
        subject=str((row.content or {}).get("subject", "")),
    )


# --- reads and the one write, shared with the pages (api/pages/paging.py) ----------------


def of_ticket(session: Session, ticket_id: int) -> list[DeliveryRow]:
    """Every message about the ticket and the summaries that carried any of them, oldest first."""
    own = select(DeliveryRow.summary_id).where(DeliveryRow.ticket_id == ticket_id,
                                               DeliveryRow.summary_id.is_not(None))
    return list(session.scalars(
        select(DeliveryRow).where(or_(DeliveryRow.ticket_id == ticket_id, DeliveryRow.id.in_(own)))
        .order_by(DeliveryRow.created_at, DeliveryRow.id)
    ))


def _visible(scope: Scope) -> ColumnElement[bool] | None:
    """Deliveries of the tickets in scope, and summaries of the sites in scope (None: all)."""
    if scope.site_ids is None:
        return None
    sites = list(scope.site_ids)
    return or_(DeliveryRow.ticket_id.in_(select(TicketRow.id).where(TicketRow.site_id.in_(sites))),
               and_(DeliveryRow.ticket_id.is_(None), DeliveryRow.site_id.in_(sites)))


def find(session: Session, scope: Scope, *, state: str | None = None, limit: int = 200) -> list[DeliveryRow]:
    """The deliveries in scope, newest first."""
    stmt = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc()).limit(limit)
    if (visible := _visible(scope)) is not None:
        stmt = stmt.where(visible)
    if state is not None:
        stmt = stmt.where(DeliveryRow.state == state)
    return list(session.scalars(stmt))


def counts(session: Session, scope: Scope) -> dict[str, int]:
    """How many deliveries in scope are in each state (every state named, 0 if none)."""
    stmt = select(DeliveryRow.state, func.count()).group_by(DeliveryRow.state)
    if (visible := _visible(scope)) is not None:
        stmt = stmt.where(visible)
    found: dict[str, int] = dict(session.execute(stmt).all())
    return {state: found.get(state, 0) for state in STATES} | found


# --- the routes -------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}/notifications", response_model=list[DeliveryPublic])
def notifications(ticket_id: IdPath, parts: ComponentsDep, session: SessionDep):
    """What was sent about the ticket, to whom and through what, and whether it arrived;
    oldest first, with the storm summaries that carried any of its messages."""
    if repository.get_ticket(session, ticket_id) is None:
        raise HTTPException(404, detail=f"no ticket {ticket_id}")
    return [public(row, parts.config) for row in of_ticket(session, ticket_id)]


@router.post("/tickets/{ticket_id}/acknowledge", response_model=TicketPublic)
def acknowledge(ticket_id: IdPath, body: AcknowledgeIn, actor: may(Permission.ALERTS_ACKNOWLEDGE),
                parts: ComponentsDep, session: SessionDep):
    """Someone has the ticket in hand: its firing alerts are acknowledged and paging stops
    escalating it. 409 for a closed ticket."""
    row = acknowledge_ticket(session, ticket_id, actor=actor.name, at=parts.clock.now(), comment=body.comment)
    session.commit()
    return row


@router.get("/paging/deliveries", response_model=list[DeliveryPublic])
def deliveries(_admin: may(Permission.PAGING_ADMIN), parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
               state: Annotated[str | None, Query(pattern=f"^({'|'.join(STATES)})$")] = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 500):
    """Messages in scope, newest first; ``state=dead``: the ones paging gave up on."""
    return [public(row, parts.config) for row in find(session, scope, state=state, limit=limit)]


@router.post("/paging/deliveries/{delivery_id}/retry", response_model=DeliveryPublic)
def retry_delivery(delivery_id: IdPath, actor: may(Permission.PAGING_ADMIN), parts: ComponentsDep,
                   session: SessionDep):
    """Send a dead letter again, now (409 if it is not dead); audited with its last error."""
    try:
        row = retry(session, delivery_id, actor=actor.name, at=parts.clock.now())
    except DeliveryNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except NotDead as exc:
        raise HTTPException(409, detail=str(exc)) from None
    session.commit()
    return public(row, parts.config)
