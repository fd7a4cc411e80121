"""The reports page: a site's monthly inspection report, a customer's quarterly maintenance
report and the monthly complaint rate, each as HTML or PDF (the /api/reports routes), for
the customers and sites in the viewer's scope.

The pickers are GET forms to /reports/open, which sends the browser to the report's own
address: no script is needed, and a phone shows the PDF itself.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sitewatch import i18n
from sitewatch.api.bounds import MONTH_PATTERN, QUARTER_PATTERN
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, ScopeDep
from sitewatch.api.pages.common import Viewer, render
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Principal
from sitewatch.domain.time import to_local
from sitewatch.reports.periods import month_of, quarter_of

router = APIRouter(include_in_schema=False)

Kind = Literal["inspections", "maintenance", "complaint-rate"]
Format = Literal["html", "pdf"]


def _months_back(today: date, count: int) -> list[str]:
    out, year, month = [], today.year, today.month
    for _ in range(count):
        out.append(month_of(year, month).label)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out


def _quarters_back(today: date, count: int) -> list[str]:
    out, year, quarter = [], today.year, (today.month - 1) // 3 + 1
    for _ in range(count):
        out.append(quarter_of(year, quarter).label)
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return out


def address(kind: Kind, owner: str | None, period: str, fmt: Format) -> str:
    """The report's own address (api/routes/reports.py)."""
    if kind == "complaint-rate":
        query = f"?{urlencode({'customer_id': owner})}" if owner else ""
        return f"/api/reports/complaint-rate/{quote(period)}.{fmt}{query}"
    return f"/api/reports/{kind}/{quote(owner or '', safe='')}/{quote(period)}.{fmt}"


def _page(request: Request, me: Principal, parts: ApiContext, scope: Scope, *, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    config = parts.config
    sites = [s for s in config.sites if scope.sees_site(s.id)]
    customers = [c for c in config.customers if scope.sees_customer(c.id)]
    # The periods are offered in the calendar of the first site in view (reports use each site's own).
    zone = sites[0].time_zone if sites else "UTC"
    today = to_local(parts.clock.now(), zone).date()
    months, quarters = _months_back(today, 13), _quarters_back(today, 8)
    context = {
        "sites": sites, "customers": customers, "months": months, "quarters": quarters, "error": error,
        "this_month": months[0], "last_month": months[1], "this_quarter": quarters[0], "last_quarter": quarters[1],
        "address": address,
    }
    return render(request, "reports.html", context, status_code=status_code, principal=me)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, me: Viewer, parts: ComponentsDep, scope: ScopeDep):
    return _page(request, me, parts, scope)


@router.get("/reports/open")
def open_report(request: Request, me: Viewer, parts: ComponentsDep, scope: ScopeDep, kind: Kind,
                period: str, format: Format = "html", site_id: str | None = None,
                customer_id: str | None = None) -> Response:
    """A picker's choice → the report's address. An id outside the scope never gets here
    (api/scope.guard answers 404 for a site_id or customer_id in the query)."""
    owner = {"inspections": site_id, "maintenance": customer_id, "complaint-rate": customer_id}[kind]
    pattern = QUARTER_PATTERN if kind == "maintenance" else MONTH_PATTERN
    if not re.fullmatch(pattern, period):  # the report routes' own bound (api/bounds.py)
        return _page(request, me, parts, scope, status_code=422,
                     error=i18n.gettext("%(period)s is not a period this report covers.", period=period))
    if kind != "complaint-rate" and not owner:
        return _page(request, me, parts, scope, status_code=422, error=i18n.gettext("Choose whose report."))
    return RedirectResponse(address(kind, owner, period, format), status_code=303)
