"""Dead letters: messages paging gave up on, sent again by an admin (/admin/paging)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from sitewatch.storage import repository
from sitewatch.storage.paging import DeliveryRow


class DeliveryNotFound(LookupError):
    pass


class NotDead(ValueError):
    """Only a message paging gave up on is sent again by hand; the others are on their way."""


def retry(session: Session, delivery_id: int, *, actor: str, at: datetime) -> DeliveryRow:
    """A dead letter goes back to the sender now. Its attempts and last error stay on the row
    (they are what happened) and go into the audit entry, with who sent it again."""
    row = session.get(DeliveryRow, delivery_id, with_for_update=True)
    if row is None:
        raise DeliveryNotFound(f"no delivery {delivery_id}")
    if row.state != "dead":
        raise NotDead(f"delivery {delivery_id} is {row.state}, not dead: only a dead letter is retried")
    repository.audit(session, at=at, actor=actor, entity="delivery", entity_id=str(row.id), action="retried",
                     detail={"previous_error": row.last_error, "attempts": row.attempts,
                             "dead_at": row.dead_at.isoformat() if row.dead_at else None})
    row.state, row.next_attempt_at, row.dead_at, row.lease_until, row.retried_at = "pending", at, None, None, at
    return row
