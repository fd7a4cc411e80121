"""The 08:30 log as pages a manager works in: today's log of every site in scope, making a
day's log, signing it as the logged-in manager, and one day's log.

The writes are HTML form posts (with the session's csrf_token) that go through the same
route functions as the JSON API (api/routes/review.py), so the rules and their refusals
are the API's; a refusal is shown on the page with its status.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.bounds import Day
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.pages.common import Viewer, render
from sitewatch.api.routes import review as review_routes
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Permission, Principal
from sitewatch.domain.time import to_local
from sitewatch.review.export import log_body
from sitewatch.review.schedule import latest_due_day
from sitewatch.review.sign import get_review, list_reviews, load_content

router = APIRouter(include_in_schema=False)


def _can_sign(me: Principal) -> bool:
    """Signing is a person's act: a manager logged in, not a token (api/routes/review.signer_name)."""
    return me.can(Permission.REVIEW_SIGN) and me.user_id is not None


def _today(parts: ApiContext, session: Session, scope: Scope) -> dict[str, Any]:
    now = parts.clock.now()
    at = parts.config.review.at
    sites = [s for s in review_routes._reviews(parts).sites() if scope.sees_site(s.id)]
    rows = []
    for site in sites:
        day = latest_due_day(now, at=at, time_zone=site.time_zone)
        rows.append({"site": site, "day": day, "row": get_review(session, site.id, day),
                     "local_now": to_local(now, site.time_zone)})
    zones = {s.id: s.time_zone for s in parts.config.sites}
    names = {s.id: s.name for s in parts.config.sites}
    past = list_reviews(session, limit=200, site_ids=scope.site_ids)
    default_day = max((r["day"] for r in rows), default=now.date())
    return {"sites": rows, "past": past, "zones": zones, "names": names, "at": at, "log_sites": sites,
            "default_day": default_day}


@router.get("/review", response_class=HTMLResponse)
def today_page(request: Request, me: Viewer, parts: ComponentsDep, session: SessionDep, scope: ScopeDep):
    """Today's log of every site in scope (made or not, signed or not) and the past days."""
    return render(request, "review.html", {**_today(parts, session, scope), "can_sign": _can_sign(me)})


@router.post("/review/generate", response_class=HTMLResponse)
def generate(request: Request, actor: may(Permission.REVIEW_GENERATE), parts: ComponentsDep, session: SessionDep,
             scope: ScopeDep, site_id: Annotated[str, Form()], day: Annotated[Day, Form()]) -> Response:
    """Make (or make again, while unsigned) one site's log of one day, then show it."""
    scope.require_site(site_id)  # a body's ids are the route's to check (api/scope.py)
    try:
        review_routes.generate(site_id, day, actor, parts)
    except HTTPException as exc:
        error = i18n.gettext("The log could not be made: %(reason)s", reason=exc.detail)
        return render(request, "review.html", {**_today(parts, session, scope), "can_sign": _can_sign(actor),
                                               "error": error}, status_code=exc.status_code)
    return RedirectResponse(f"/review/{site_id}/{day.isoformat()}", status_code=303)


@router.get("/review/{site_id}/{day}", response_class=HTMLResponse)
def day_page(request: Request, site_id: str, day: Day, me: Viewer, parts: ComponentsDep, session: SessionDep):
    return _day(request, site_id, day, me, parts, session)


@router.post("/review/{site_id}/{day}/sign", response_class=HTMLResponse)
def sign(request: Request, site_id: str, day: Day, actor: may(Permission.REVIEW_SIGN), parts: ComponentsDep,
         session: SessionDep, content_sha256: Annotated[str, Form()]) -> Response:
    """The logged-in manager signs the version the page showed them (its content hash)."""
    try:
        body = review_routes.SignIn(content_sha256=content_sha256)
    except ValueError:
        return _day(request, site_id, day, actor, parts, session,
                    error=i18n.gettext("The page sent no valid content hash; reload it."), status_code=422)
    try:
        review_routes.sign(site_id, day, body, actor, parts, session)
    except HTTPException as exc:
        error = i18n.gettext("The log was not signed: %(reason)s", reason=exc.detail)
        return _day(request, site_id, day, actor, parts, session, error=error, status_code=exc.status_code)
    return RedirectResponse(f"/review/{site_id}/{day.isoformat()}", status_code=303)


def _day(request: Request, site_id: str, day: date, me: Principal, parts: ApiContext, session: Session,
         *, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    sites = {s.id: s for s in review_routes._reviews(parts).sites()}
    if site_id not in sites:
        raise HTTPException(404, detail=i18n.gettext("Site %(site)s has no regulator stations, so no operation log.",
                                                     site=site_id))
    row = get_review(session, site_id, day)
    one = timedelta(days=1)
    context = {
        "site": sites[site_id], "day": day, "row": row, "error": error, "can_sign": _can_sign(me),
        "signer": review_routes.signer_name(me) if _can_sign(me) else None,
        "exports": f"/api/reviews/{site_id}/{day.isoformat()}/log",
        "previous": f"/review/{site_id}/{(day - one).isoformat()}" if get_review(session, site_id, day - one) else None,
        "next": f"/review/{site_id}/{(day + one).isoformat()}" if get_review(session, site_id, day + one) else None,
        "body": log_body(load_content(row), review_routes._signature(row)) if row is not None else None,
    }
    return render(request, "review_day.html", context, status_code=status_code if row is not None or error else 404)
