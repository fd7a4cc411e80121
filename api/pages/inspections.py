"""The inspections page: what is due or overdue, rounds in progress, flags, contracts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import ComponentsDep, SessionDep
from api.routes.inspections import HorizonDays, _contracts, _due_public
from domain.time import to_local
from inspections.due import due_list
from inspections.evidence import list_flags
from inspections.plans import PLAN_KINDS
from inspections.plans import plan as plan_of
from inspections.visits import list_inspections

router = APIRouter(include_in_schema=False)


@router.get("/inspections", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request, parts: ComponentsDep, session: SessionDep, site_id: str | None = None,
         technician: str | None = None, within_days: HorizonDays = 7):
    now = parts.clock.now()
    config = parts.config
    zones = {s.id: s.time_zone for s in config.sites}
    running = list_inspections(session, in_progress=True, site_id=site_id)
    context = {
        "now": now,
        "site_id": site_id or "",
        "technician": technician or "",
        "within_days": within_days,
        "sites": config.sites,
        "due": [_due_public(i) for i in due_list(session, config, now=now, site_id=site_id, technician=technician,
                                                  horizon_days=within_days)],
        "running": [{"i": i, "started": to_local(i.started_at, zones.get(i.site_id, "UTC")),
                     "plan": plan_of(i.kind) if i.kind in PLAN_KINDS else None}
                    for i in running],
        "flags": list_flags(session, site_id=site_id, unreviewed=True),
        "contracts": _contracts(config, now, site_id),
    }
    return request.app.state.templates.TemplateResponse(request, "inspections.html", context)
