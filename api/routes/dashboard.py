"""The control room's state as JSON, scoped to the principal's customers and filtered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from sitewatch.api.dashboard.hub import hub_of
from sitewatch.api.dashboard.state import Filters
from sitewatch.api.dashboard.status import SEVERITY_RANK
from sitewatch.api.deps import PrincipalDep
from sitewatch.api.pages.common import request_locale

router = APIRouter(prefix="/api", tags=["control room"])


async def control_room_filters(request: Request, principal: PrincipalDep, customer: str | None = None,
                               site: str | None = None, severity: str | None = None,
                               desk: str | None = None) -> Filters:
    """The filters of the query string; an empty value (the page's "all") is no filter. A
    customer or site outside the principal's scope answers 404, as an unknown one does.
    Async: it does no I/O, and a plain function would cost each request a thread hop."""
    customer, site, severity, desk = customer or None, site or None, severity or None, desk or None
    config = request.app.state.components.config
    known_customers = {c.id for c in config.customers}
    if customer is not None and (customer not in known_customers or not principal.sees(customer)):
        raise HTTPException(404, detail=f"no customer {customer!r}")
    if site is not None:
        try:
            visible = principal.sees(config.site(site).customer)
        except KeyError:
            visible = False
        if not visible:
            raise HTTPException(404, detail=f"no site {site!r}")
    if severity is not None and severity not in SEVERITY_RANK:
        raise HTTPException(422, detail=f"severity must be one of {', '.join(SEVERITY_RANK)}")
    return Filters(customer=customer, site=site, severity=severity, desk=desk)


FiltersDep = Annotated[Filters, Depends(control_room_filters)]


@router.get("/dashboard", response_class=Response, responses={200: {"content": {"application/json": {}}}})
async def dashboard(request: Request, principal: PrincipalDep, filters: FiltersDep) -> Response:
    """Sites; assets with their status (ok, warning, critical, offline, held, maintenance);
    firing alerts grouped by fault; open tickets with arrive-by / resolve-by and where they
    stand; the ids of the alerts sounding (paged, not acknowledged, not held, not muted).
    Filters: ``customer``, ``site``, ``severity`` (at least), ``desk``. Times are UTC;
    each site, alert group and ticket carries its site's ``time_zone``. ``version`` changes
    with the state (the live stream /live/control-room pushes each new one)."""
    view = await hub_of(request.app).view(principal.customers, filters, request_locale(request, principal))
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(view.json_gzip(), media_type="application/json", headers=headers | {"Content-Encoding": "gzip"})
    return Response(view.json(), media_type="application/json", headers=headers)
