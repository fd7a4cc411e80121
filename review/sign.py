"""Storing, signing and protecting the daily logs.

The content of a log is its canonical JSON (sorted keys, no spaces, floats in Python's
shortest round-trip repr, times as ISO UTC): the same review always gives the same bytes,
so regenerating a day from the same stored data gives the same SHA-256. Once a manager
has signed, nothing in the row may change: every function here refuses with ReviewSigned,
and an ORM guard refuses a change made any other way before it reaches the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.domain.time import require_utc
from sitewatch.review.models import SiteReview
from sitewatch.storage.immutable import before_flush, freeze
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import DailyReviewRow

ENTITY = "daily_review"


class ReviewNotFound(LookupError):
    pass


class ReviewSigned(PermissionError):
    """A signed log is immutable: regenerating, re-signing or editing it is refused."""


class ReviewChanged(ValueError):
    """The signer saw another version than the stored one (it was regenerated meanwhile)."""


def canonical_json(review: SiteReview) -> str:
    return json.dumps(review.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def sha256_of(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def load_content(row: DailyReviewRow) -> SiteReview:
    return SiteReview.model_validate_json(row.content)


def verify(row: DailyReviewRow) -> bool:
    """The stored content still hashes to the stored hash."""
    return sha256_of(row.content) == row.content_sha256


@dataclass(frozen=True, slots=True)
class Stored:
    row: DailyReviewRow
    created: bool  # first generation of the day
    changed: bool  # content differs from what was stored before


def get_review(session: Session, site_id: str, day: date) -> DailyReviewRow | None:
    return session.scalars(
        select(DailyReviewRow).where(DailyReviewRow.site_id == site_id, DailyReviewRow.day == day.isoformat())
    ).one_or_none()


def list_reviews(session: Session, *, site_id: str | None = None, limit: int = 100,
                 site_ids: Collection[str] | None = None) -> list[DailyReviewRow]:
    """``site_ids``: a customer scope (api/scope.py), None = every site."""
    stmt = select(DailyReviewRow).order_by(DailyReviewRow.day.desc(), DailyReviewRow.site_id).limit(limit)
    if site_id is not None:
        stmt = stmt.where(DailyReviewRow.site_id == site_id)
    if site_ids is not None:
        stmt = stmt.where(DailyReviewRow.site_id.in_(site_ids))
    return list(session.scalars(stmt))


def store_review(session: Session, review: SiteReview, *, actor: str, at: datetime) -> Stored:
    """Insert the day's log, or replace an unsigned one (regeneration). Audited; the caller commits."""
    at = require_utc(at)
    content = canonical_json(review)
    digest = sha256_of(content)
    abnormal = len(review.abnormal)
    row = get_review(session, review.site_id, review.day)
    if row is None:
        row = DailyReviewRow(site_id=review.site_id, day=review.day.isoformat(), content=content,
                             content_sha256=digest, abnormal_stations=abnormal, generated_at=at,
                             generated_by=actor, field_check_tickets={})
        session.add(row)
        session.flush()
        audit(session, at=at, actor=actor, entity=ENTITY, entity_id=_entity_id(row), action="generated",
              detail={"content_sha256": digest, "abnormal_stations": abnormal})
        return Stored(row, created=True, changed=True)
    if row.signed_at is not None:
        raise ReviewSigned(_signed_message(row))
    changed = row.content_sha256 != digest
    old = row.content_sha256
    row.content, row.content_sha256, row.abnormal_stations = content, digest, abnormal
    row.generated_at, row.generated_by = at, actor
    audit(session, at=at, actor=actor, entity=ENTITY, entity_id=_entity_id(row), action="regenerated",
          detail={"old_sha256": old, "new_sha256": digest, "changed": changed})
    return Stored(row, created=False, changed=changed)


def sign_review(session: Session, site_id: str, day: date, *, signer: str, content_sha256: str,
                actor: str, at: datetime) -> DailyReviewRow:
    """The manager signs the version they read (its hash). Audited; the caller commits."""
    row = get_review(session, site_id, day)
    if row is None:
        raise ReviewNotFound(f"no operation log of {day.isoformat()} for site {site_id!r}")
    if row.signed_at is not None:
        raise ReviewSigned(_signed_message(row))
    if content_sha256 != row.content_sha256:
        raise ReviewChanged(f"the log of {day.isoformat()} for site {site_id!r} is now {row.content_sha256}, "
                            f"not {content_sha256}: it was regenerated; read it again before signing")
    if not verify(row):
        raise ReviewChanged(f"the stored log of {day.isoformat()} for site {site_id!r} no longer matches its hash")
    if not signer.strip():
        raise ValueError("the signer's name is required")
    row.signed_by, row.signed_at, row.signed_actor = signer.strip(), require_utc(at), actor
    audit(session, at=at, actor=actor, entity=ENTITY, entity_id=_entity_id(row), action="signed",
          detail={"signed_by": row.signed_by, "content_sha256": row.content_sha256})
    return row


def record_tickets(row: DailyReviewRow, tickets: dict[str, int]) -> None:
    if row.signed_at is not None:
        raise ReviewSigned(_signed_message(row))
    row.field_check_tickets = dict(sorted(tickets.items()))


def _entity_id(row: DailyReviewRow) -> str:
    return f"{row.site_id}/{row.day}"


def _signed_message(row: DailyReviewRow) -> str:
    return (f"the operation log of {row.day} for site {row.site_id!r} was signed by {row.signed_by} at "
            f"{row.signed_at.isoformat()} (sha256 {row.content_sha256}); a signed log cannot be changed")


def _signed_before_this_flush(row: DailyReviewRow) -> str | None:
    """Whatever code path tries it: a row signed before this flush stays as it is."""
    return _signed_message(row) if before_flush(row, "signed_at") is not None else None


freeze(DailyReviewRow, frozen=_signed_before_this_flush, error=ReviewSigned)
