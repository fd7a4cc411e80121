"""The daily 08:30 review: the regulator station operation logs, their exports, signing.

Generating and signing need a role that may (auth/roles.py). A signed log is immutable:
regenerating or signing it again answers 409 with the signer, time and hash. There is no
route that edits or deletes a log. A site outside the principal's customer scope is a 404
(api/scope.guard); the list shows only the sites in scope.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from sitewatch import i18n
from sitewatch.api.bounds import Day
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.auth.roles import Permission, Principal
from sitewatch.review.export import Signature, to_csv, to_html, to_pdf
from sitewatch.review.models import SiteReview
from sitewatch.review.service import DailyReviews
from sitewatch.review.sign import (
    ReviewChanged,
    ReviewNotFound,
    ReviewSigned,
    canonical_json,
    get_review,
    list_reviews,
    load_content,
    sha256_of,
    sign_review,
    verify,
)
from sitewatch.storage.tables import DailyReviewRow

router = APIRouter(tags=["daily review"])


class ReviewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site_id: str
    day: date
    content_sha256: str
    hash_verified: bool  # the stored content still hashes to content_sha256
    abnormal_stations: int
    generated_at: datetime
    generated_by: str
    signed_by: str | None
    signed_at: datetime | None
    signed_actor: str | None
    field_check_tickets: dict[str, int]


class ReviewDetail(ReviewPublic):
    content: SiteReview


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="the hash of the version read")
    # The signer is the logged-in manager; a name other than theirs is refused (422).
    signer: str | None = Field(default=None, max_length=200, description="optional: the logged-in manager's name")


class VerifyPublic(BaseModel):
    site_id: str
    day: date
    stored_sha256: str
    recomputed_sha256: str
    identical: bool


def _reviews(parts: ApiContext) -> DailyReviews:
    return DailyReviews(config=parts.config, store=parts.store, sessions=parts.sessions, clock=parts.clock)


def _public(row: DailyReviewRow) -> dict[str, Any]:
    return {
        "site_id": row.site_id, "day": date.fromisoformat(row.day), "content_sha256": row.content_sha256,
        "hash_verified": verify(row), "abnormal_stations": row.abnormal_stations, "generated_at": row.generated_at,
        "generated_by": row.generated_by, "signed_by": row.signed_by, "signed_at": row.signed_at,
        "signed_actor": row.signed_actor, "field_check_tickets": dict(row.field_check_tickets or {}),
    }


def _site_with_log(parts: ApiContext, site_id: str) -> None:
    if site_id not in {s.id for s in _reviews(parts).sites()}:
        raise HTTPException(404, detail=f"site {site_id!r} has no regulator stations, so no operation log")


def _row(session, site_id: str, day: date) -> DailyReviewRow:  # noqa: ANN001
    row = get_review(session, site_id, day)
    if row is None:
        raise HTTPException(404, detail=f"no operation log of {day.isoformat()} for site {site_id!r} yet "
                                        f"(POST /api/reviews/{site_id}/{day.isoformat()}/generate makes it)")
    return row


def _signature(row: DailyReviewRow) -> Signature:
    return Signature(content_sha256=row.content_sha256, generated_at=row.generated_at, signed_by=row.signed_by,
                     signed_at=row.signed_at, field_check_tickets=dict(row.field_check_tickets or {}))


@router.get("/api/reviews", response_model=list[ReviewPublic])
def reviews(session: SessionDep, scope: ScopeDep, site_id: str | None = None,
            limit: Annotated[int, Query(ge=1, le=10_000)] = 100):
    """Stored logs, newest day first."""
    return [_public(r) for r in list_reviews(session, site_id=site_id, limit=limit, site_ids=scope.site_ids)]


@router.get("/api/reviews/{site_id}/{day}", response_model=ReviewDetail)
def review(site_id: str, day: Day, session: SessionDep):
    row = _row(session, site_id, day)
    return {**_public(row), "content": load_content(row)}


@router.post("/api/reviews/{site_id}/{day}/generate", response_model=ReviewPublic)
def generate(site_id: str, day: Day, actor: may(Permission.REVIEW_GENERATE), parts: ComponentsDep):
    """Make the day's log from the stored data, or make it again while unsigned (409 once
    signed). Each abnormal station gets one field-check ticket."""
    _site_with_log(parts, site_id)
    try:
        stored = _reviews(parts).generate(site_id, day, actor=actor.name)
    except ReviewSigned as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    except IntegrityError as exc:  # the runtime made the same day's log at the same moment
        raise HTTPException(409, detail=f"the log of {day.isoformat()} for site {site_id!r} was being made "
                                        "at the same time; read it, or try again") from exc
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    return _public(stored.row)


def signer_name(principal: Principal) -> str:
    """Who signs: the logged-in person, by the name their user shows; a token signs nothing."""
    if principal.user_id is None:
        raise HTTPException(403, detail=i18n.gettext(
            "A daily log is signed by a person: log in as a manager to sign it (a bearer token cannot)."))
    return principal.display_name or principal.name


@router.post("/api/reviews/{site_id}/{day}/sign", response_model=ReviewPublic)
def sign(site_id: str, day: Day, body: SignIn, actor: may(Permission.REVIEW_SIGN), parts: ComponentsDep, session: SessionDep):
    """The logged-in manager signs the version they read (its content_sha256), under their
    own name; afterwards it is immutable."""
    signer = signer_name(actor)
    if body.signer is not None and body.signer.strip() != signer:
        raise HTTPException(422, detail=i18n.gettext(
            "The log is signed by the logged-in manager, %(name)s; it cannot be signed in another name.",
            name=signer))
    try:
        row = sign_review(session, site_id, day, signer=signer, content_sha256=body.content_sha256,
                          actor=actor.name, at=parts.clock.now())
        session.commit()
    except ReviewNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    except (ReviewSigned, ReviewChanged) as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    return _public(row)


@router.get("/api/reviews/{site_id}/{day}/verify", response_model=VerifyPublic)
def verify_day(site_id: str, day: Day, parts: ComponentsDep, session: SessionDep):
    """Recompute the day from the stored data (nothing is written) and compare hashes."""
    row = _row(session, site_id, day)
    recomputed = sha256_of(canonical_json(_reviews(parts).compute(session, site_id, day)))
    return VerifyPublic(site_id=site_id, day=day, stored_sha256=row.content_sha256, recomputed_sha256=recomputed,
                        identical=recomputed == row.content_sha256)


def _filename(row: DailyReviewRow, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="operation-log-{row.site_id}-{row.day}.{ext}"'}


@router.get("/api/reviews/{site_id}/{day}/log.csv")
def export_csv(site_id: str, day: Day, session: SessionDep):
    row = _row(session, site_id, day)
    return Response(to_csv(load_content(row)), media_type="text/csv; charset=utf-8", headers=_filename(row, "csv"))


@router.get("/api/reviews/{site_id}/{day}/log.html", response_class=HTMLResponse)
def export_html(site_id: str, day: Day, session: SessionDep):
    row = _row(session, site_id, day)
    return HTMLResponse(to_html(load_content(row), _signature(row)), headers=_filename(row, "html"))


@router.get("/api/reviews/{site_id}/{day}/log.pdf")
def export_pdf(site_id: str, day: Day, parts: ComponentsDep, session: SessionDep):
    row = _row(session, site_id, day)
    pdf = to_pdf(load_content(row), _signature(row), font_file=parts.config.review.pdf_font_file)
    return Response(pdf, media_type="application/pdf", headers=_filename(row, "pdf"))
