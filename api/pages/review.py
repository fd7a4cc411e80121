"""The 08:30 log as pages: today's logs of every site, and one day's log."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ComponentsDep, SessionDep
from api.routes.review import _reviews, _row, _signature
from domain.time import to_local
from review.export import environment, to_html
from review.schedule import latest_due_day
from review.sign import get_review, list_reviews, load_content

router = APIRouter(include_in_schema=False)


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def today_page(request: Request, parts: ComponentsDep, session: SessionDep):
    """Today's log of every site (generated or not yet, signed or not) and the past days."""
    now = parts.clock.now()
    at = parts.config.review.at
    sites = []
    for site in _reviews(parts).sites():
        day = latest_due_day(now, at=at, time_zone=site.time_zone)
        row = get_review(session, site.id, day)
        sites.append({"site": site, "day": day, "row": row, "local_now": to_local(now, site.time_zone),
                      "signed_at": to_local(row.signed_at, site.time_zone) if row and row.signed_at else None})
    past = list_reviews(session, limit=200)
    zones = {s.id: s.time_zone for s in parts.config.sites}
    html = environment().get_template("today.html").render(
        sites=sites, past=past, zones=zones, to_local=to_local, at=at, now=now)
    return HTMLResponse(html)


@router.get("/review/{site_id}/{day}", response_class=HTMLResponse, include_in_schema=False)
def day_page(site_id: str, day: date, session: SessionDep):
    row = _row(session, site_id, day)
    one = timedelta(days=1)
    page = {
        "api": f"/api/reviews/{site_id}/{day.isoformat()}",
        "base": f"/api/reviews/{site_id}/{day.isoformat()}/log",
        "previous": f"/review/{site_id}/{(day - one).isoformat()}" if get_review(session, site_id, day - one) else None,
        "next": f"/review/{site_id}/{(day + one).isoformat()}" if get_review(session, site_id, day + one) else None,
    }
    return HTMLResponse(to_html(load_content(row), _signature(row), page=page))

