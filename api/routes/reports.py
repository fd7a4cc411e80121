"""Reports (JSON, ``.html``, ``.pdf``) and the complaint register. Recording a complaint
needs a role that may, and is audited. Periods are ``YYYY-MM`` or ``YYYY-Qn`` in the site's
(customer's) own calendar, in the years 2000 to 2099 (api/bounds.py).

Within the principal's customer scope: a site's or customer's report outside it is a 404
(api/scope.guard, by the path), the complaint rate lists only the customers in scope, and
the register shows and takes only their complaints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

from sitewatch.api.bounds import Instant, MonthPath, QuarterPath
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.schemas import ComplaintIn, ComplaintPublic
from sitewatch.auth.roles import Permission
from sitewatch.reports.complaint_rate import complaint_rate_report
from sitewatch.reports.complaints import ComplaintClass, ComplaintRefused, list_complaints, record_complaint
from sitewatch.reports.export import (
    complaint_rate_html,
    complaint_rate_pdf,
    inspection_html,
    inspection_pdf,
    maintenance_html,
    maintenance_pdf,
)
from sitewatch.reports.inspection import inspection_report
from sitewatch.reports.maintenance import maintenance_report
from sitewatch.reports.models import ComplaintRateReport, InspectionReport, MaintenanceReport
from sitewatch.reports.periods import Period, parse_month, parse_quarter
from sitewatch.reports.scope import ReportNotFound

router = APIRouter(tags=["reports"])


def _period(parse: Callable[[str], Period], text: str) -> Period:
    try:
        return parse(text)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from exc


def _pdf(content: bytes, name: str) -> Response:
    return Response(content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


# --- monthly inspection report per site ------------------------------------------------
# The .html and .pdf routes come first: "{month}" alone would also match "2026-11.pdf".


def _inspection(site_id: str, month: str, parts: ComponentsDep, session: SessionDep) -> InspectionReport:
    try:
        return inspection_report(session, parts.config, site_id=site_id, period=_period(parse_month, month),
                                 now=parts.clock.now())
    except ReportNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from exc


@router.get("/api/reports/inspections/{site_id}/{month}.html", response_class=HTMLResponse)
def inspection_as_html(site_id: str, month: MonthPath, parts: ComponentsDep, session: SessionDep):
    return HTMLResponse(inspection_html(_inspection(site_id, month, parts, session)))


@router.get("/api/reports/inspections/{site_id}/{month}.pdf")
def inspection_as_pdf(site_id: str, month: MonthPath, parts: ComponentsDep, session: SessionDep):
    report = _inspection(site_id, month, parts, session)
    return _pdf(inspection_pdf(report, font_file=parts.config.review.pdf_font_file),
                f"inspection-report-{site_id}-{report.period}")


@router.get("/api/reports/inspections/{site_id}/{month}", response_model=InspectionReport)
def inspection(site_id: str, month: MonthPath, parts: ComponentsDep, session: SessionDep):
    """One site's month, per system: inspections done, items failed and findings, door-sensor
    flags, and what was overdue at the month's end."""
    return _inspection(site_id, month, parts, session)


# --- quarterly maintenance report per customer -----------------------------------------


def _maintenance(customer_id: str, quarter: str, parts: ComponentsDep, session: SessionDep) -> MaintenanceReport:
    try:
        return maintenance_report(session, parts.config, customer_id=customer_id,
                                  period=_period(parse_quarter, quarter), now=parts.clock.now())
    except ReportNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from exc


@router.get("/api/reports/maintenance/{customer_id}/{quarter}.html", response_class=HTMLResponse)
def maintenance_as_html(customer_id: str, quarter: QuarterPath, parts: ComponentsDep, session: SessionDep):
    return HTMLResponse(maintenance_html(_maintenance(customer_id, quarter, parts, session)))


@router.get("/api/reports/maintenance/{customer_id}/{quarter}.pdf")
def maintenance_as_pdf(customer_id: str, quarter: QuarterPath, parts: ComponentsDep, session: SessionDep):
    report = _maintenance(customer_id, quarter, parts, session)
    return _pdf(maintenance_pdf(report, font_file=parts.config.review.pdf_font_file),
                f"maintenance-report-{customer_id}-{report.period}")


@router.get("/api/reports/maintenance/{customer_id}/{quarter}", response_model=MaintenanceReport)
def maintenance(customer_id: str, quarter: QuarterPath, parts: ComponentsDep, session: SessionDep):
    """One customer's quarter: tickets per month and service type, arrive-by and resolve-by
    compliance, repeat faults, satisfaction, inspections done and overdue, complaints."""
    return _maintenance(customer_id, quarter, parts, session)


# --- monthly complaint rate ------------------------------------------------------------


def _rate(month: str, customer_id: str | None, parts: ComponentsDep, session: SessionDep,
          scope: ScopeDep) -> ComplaintRateReport:
    if customer_id is not None and customer_id not in {c.id for c in parts.config.customers}:
        raise HTTPException(404, detail=f"no customer {customer_id!r}")
    report = complaint_rate_report(session, parts.config, period=_period(parse_month, month), now=parts.clock.now(),
                                   customer_id=customer_id)
    return report.model_copy(update={"customers": [c for c in report.customers if scope.sees_customer(c.customer_id)]})


@router.get("/api/reports/complaint-rate/{month}.html", response_class=HTMLResponse)
def complaint_rate_as_html(month: MonthPath, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
                           customer_id: str | None = None):
    return HTMLResponse(complaint_rate_html(_rate(month, customer_id, parts, session, scope)))


@router.get("/api/reports/complaint-rate/{month}.pdf")
def complaint_rate_as_pdf(month: MonthPath, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
                          customer_id: str | None = None):
    report = _rate(month, customer_id, parts, session, scope)
    return _pdf(complaint_rate_pdf(report, font_file=parts.config.review.pdf_font_file),
                f"complaint-rate-{report.period}")


@router.get("/api/reports/complaint-rate/{month}", response_model=ComplaintRateReport)
def complaint_rate(month: MonthPath, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
                   customer_id: str | None = None):
    """Per customer: complaints received per class, service calls (tickets opened, internal
    type D excluded), the rate, and when it is due (the 5th of the next month, 17:00)."""
    return _rate(month, customer_id, parts, session, scope)


# --- the complaint register ------------------------------------------------------------


@router.post("/api/complaints", response_model=ComplaintPublic, status_code=201)
def record(body: ComplaintIn, actor: may(Permission.COMPLAINTS_RECORD), parts: ComponentsDep, session: SessionDep,
           scope: ScopeDep):
    """Register a complaint (audited); it cannot be changed afterwards."""
    scope.require_customer(body.customer_id)
    scope.require_site(body.site_id)
    if body.ticket_id is not None:
        scope.require_stored(session, "ticket_id", body.ticket_id)
    now = parts.clock.now()
    try:
        row = record_complaint(session, parts.config, customer_id=body.customer_id, site_id=body.site_id,
                               ticket_id=body.ticket_id, received_at=body.received_at or now,
                               complaint_class=ComplaintClass(body.complaint_class), description=body.description,
                               actor=actor.name, at=now)
    except ComplaintRefused as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    session.commit()
    return row


@router.get("/api/complaints", response_model=list[ComplaintPublic])
def complaints(session: SessionDep, scope: ScopeDep, customer_id: str | None = None,
               received_from: Instant | None = None, received_before: Instant | None = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 500):
    """Newest first."""
    return list_complaints(session, customer_id=customer_id, received_from=received_from,
                           received_before=received_before, limit=limit, customer_ids=scope.customer_ids)
