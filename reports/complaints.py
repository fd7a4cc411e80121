"""The complaint register (DOMAIN.md "Tickets", rule book 11).

A complaint names its customer, optionally the site and the ticket it is about, when it
was received and its class: quality, non_quality (human: attitude, conduct) or other. It
is recorded once and audited; like the other records that pay and penalties are based on,
it never changes afterwards: an ORM guard refuses any update or delete, whichever code
path tries it, before it reaches the database.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.time import require_utc
from sitewatch.storage.immutable import freeze
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import ComplaintRow, TicketRow

ENTITY = "complaint"


class ComplaintClass(str, enum.Enum):
    QUALITY = "quality"
    NON_QUALITY = "non_quality"  # human: attitude, conduct
    OTHER = "other"


class ComplaintRefused(ValueError):
    """The complaint names something that does not exist or does not belong together (422)."""


class ComplaintImmutable(PermissionError):
    """A recorded complaint cannot be changed or deleted."""


def record_complaint(
    session: Session, config: Config, *, customer_id: str, site_id: str | None, ticket_id: int | None,
    received_at: datetime, complaint_class: ComplaintClass, description: str, actor: str, at: datetime,
) -> ComplaintRow:
    """Register one complaint and its audit row; the caller commits."""
    received_at, at = require_utc(received_at), require_utc(at)
    if customer_id not in {c.id for c in config.customers}:
        raise ComplaintRefused(f"no customer {customer_id!r}")
    if site_id is not None:
        try:
            site = config.site(site_id)
        except KeyError:
            raise ComplaintRefused(f"no site {site_id!r}") from None
        if site.customer != customer_id:
            raise ComplaintRefused(f"site {site_id!r} belongs to customer {site.customer!r}, not {customer_id!r}")
    if ticket_id is not None:
        ticket = session.get(TicketRow, ticket_id)
        if ticket is None:
            raise ComplaintRefused(f"no ticket {ticket_id}")
        ticket_customer = next((s.customer for s in config.sites if s.id == ticket.site_id), None)
        if ticket_customer != customer_id or (site_id is not None and ticket.site_id != site_id):
            raise ComplaintRefused(f"ticket {ticket_id} is of site {ticket.site_id!r}, not of this customer/site")
    if received_at > at:
        raise ComplaintRefused(f"received_at {received_at.isoformat()} is in the future")
    if not description.strip():
        raise ComplaintRefused("a complaint needs a description of what the customer said")
    row = ComplaintRow(customer_id=customer_id, site_id=site_id, ticket_id=ticket_id, received_at=received_at,
                       complaint_class=ComplaintClass(complaint_class).value, description=description,
                       recorded_at=at, recorded_by=actor)
    session.add(row)
    session.flush()
    audit(session, at=at, actor=actor, entity=ENTITY, entity_id=str(row.id), action="created",
          detail={"customer_id": customer_id, "site_id": site_id, "ticket_id": ticket_id,
                  "received_at": received_at.isoformat(), "complaint_class": row.complaint_class,
                  "description": description})
    return row


def list_complaints(
    session: Session, *, customer_id: str | None = None, received_from: datetime | None = None,
    received_before: datetime | None = None, limit: int = 500, customer_ids: Collection[str] | None = None,
) -> list[ComplaintRow]:
    """Newest first. ``customer_ids``: a customer scope (api/scope.py), None = every customer."""
    stmt = select(ComplaintRow).order_by(ComplaintRow.received_at.desc(), ComplaintRow.id.desc()).limit(limit)
    if customer_id is not None:
        stmt = stmt.where(ComplaintRow.customer_id == customer_id)
    if customer_ids is not None:
        stmt = stmt.where(ComplaintRow.customer_id.in_(customer_ids))
    if received_from is not None:
        stmt = stmt.where(ComplaintRow.received_at >= received_from)
    if received_before is not None:
        stmt = stmt.where(ComplaintRow.received_at < received_before)
    return list(session.scalars(stmt))


freeze(ComplaintRow, error=ComplaintImmutable,
       frozen=lambda c: f"complaint {c.id} was recorded by {c.recorded_by} at {c.recorded_at.isoformat()}")
