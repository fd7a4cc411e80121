"""The inspection pages, usable from a phone on site: what is due or overdue, rounds in
progress, starting a round, and one round's record (checklist, field readings compared
with SCADA, finishing it).

The writes are HTML form posts (with the session's csrf_token) that call the same route
functions as the JSON API (api/routes/inspections.py), then show the round again: a field
reading's comparison with SCADA is on the page it returns to. A refusal (a round of one
person, a reading in kPa for an MPa channel ...) is shown on the page with its status.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.bounds import IdPath
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.pages.common import Viewer, render
from sitewatch.api.routes import inspections as api
from sitewatch.api.schemas import FinishIn, InspectionIn, ReadingIn, ResultsIn
from sitewatch.api.scope import SITE_ASSET_PREFIX, Scope
from sitewatch.auth.roles import Permission, Principal
from sitewatch.domain.time import to_local
from sitewatch.i18n import labels
from sitewatch.inspections.due import due_list
from sitewatch.inspections.errors import InspectionNotFound, InspectionRefused
from sitewatch.inspections.evidence import list_flags
from sitewatch.inspections.plans import PLAN_KINDS, PLANS, REGULATORS, Due, plan
from sitewatch.inspections.records import OUTCOMES
from sitewatch.inspections.visits import list_inspections
from sitewatch.reports.export import FLAG_KINDS, label

router = APIRouter(include_in_schema=False)

STATUSES = {"overdue": i18n.lazy("overdue"), "due": i18n.lazy("due"), "scheduled": i18n.lazy("scheduled")}
OUTCOME_LABELS = {"ok": i18n.lazy("OK"), "fault": i18n.lazy("fault"), "na": i18n.lazy("not applicable")}
SEASONS = {3: i18n.lazy("spring %(year)s"), 9: i18n.lazy("autumn %(year)s")}
CONTRACT_ENDS = {"free-maintenance-end": i18n.lazy("free maintenance"), "contract-end": i18n.lazy("maintenance contract")}


def plan_title(kind: str) -> str:
    return i18n.gettext(plan(kind).title) if kind in PLAN_KINDS else kind


def reason(due: Due) -> str:
    """Why it is due, in the reader's language, from the plan and the dates (plans.next_due)."""
    p = plan(due.kind)
    if p.after_rain_days is not None:
        rained = due.due_on - timedelta(days=p.after_rain_days)
        return i18n.gettext("rain on %(day)s", day=rained.isoformat())
    if p.overhaul_years is not None and due.target.origin is not None:
        return i18n.gettext("%(years)s years after %(since)s", years=p.overhaul_years[due.target.origin],
                            since=(due.last_done_on or due.target.installed_on or due.due_on).isoformat())
    if due.window_start is not None and due.window_start.month in SEASONS:
        return i18n.gettext(SEASONS[due.window_start.month], year=due.window_start.year)
    if due.last_done_on is None:
        return i18n.gettext("never done")
    return i18n.gettext("last done %(day)s", day=due.last_done_on.isoformat())


# --- the list --------------------------------------------------------------------------


@router.get("/inspections", response_class=HTMLResponse)
def page(request: Request, me: Viewer, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
         site_id: str | None = None, technician: str | None = None, within_days: api.HorizonDays = 7):
    return _list(request, me, parts, session, scope, site_id=site_id or None, technician=technician or None,
                 within_days=within_days)


def _list(request: Request, me: Principal, parts: ApiContext, session: Session, scope: Scope, *,
          site_id: str | None = None, technician: str | None = None, within_days: int = 7,
          error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    now = parts.clock.now()
    config = parts.config
    sites = [s for s in config.sites if scope.sees_site(s.id)]
    zones = {s.id: s.time_zone for s in config.sites}
    due = scope.keep(due_list(session, config, now=now, site_id=site_id, technician=technician,
                              horizon_days=within_days), lambda i: i.site_id)
    running = list_inspections(session, in_progress=True, site_id=site_id, site_ids=scope.site_ids)
    context = {
        "site_id": site_id or "", "technician": technician or "", "within_days": within_days, "sites": sites,
        "due": [{"i": i, "status": label(STATUSES, i.due.status.value), "plan": plan_title(i.due.kind),
                 "reason": reason(i.due)} for i in due],
        "running": [{"i": r, "plan": plan_title(r.kind), "started": to_local(r.started_at, zones[r.site_id])}
                    for r in running],
        "flags": list_flags(session, site_id=site_id, unreviewed=True, site_ids=scope.site_ids),
        "contracts": [c for c in api._contracts(config, now, site_id) if scope.sees_site(c.site_id)],
        "plans": [(p.kind, i18n.gettext(p.title)) for p in PLANS],
        "places": _places(parts, scope), "error": error,
        "form": form or {"in_charge": me.display_name or me.name},
        "can_record": me.can(Permission.INSPECTIONS_RECORD),
        "flag_kind": lambda kind: label(FLAG_KINDS, kind), "contract_what": lambda what: label(CONTRACT_ENDS, what),
    }
    return render(request, "inspections.html", context, status_code=status_code)


def _places(parts: ApiContext, scope: Scope) -> list[dict[str, Any]]:
    """Where a round can be: per visible site, the whole site or one of its assets and plant items."""
    config = parts.config
    out = []
    for site in config.sites:
        if not scope.sees_site(site.id):
            continue
        targets = [(a.id, a.name or a.id) for a in config.assets if a.site == site.id]
        targets += [(p.id, p.name or p.id) for p in site.plant]
        out.append({"site": site, "whole": SITE_ASSET_PREFIX + site.id, "targets": targets})
    return out


@router.post("/inspections/start", response_class=HTMLResponse)
def start(request: Request, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep, session: SessionDep,
          scope: ScopeDep, kind: Annotated[str, Form()], where: Annotated[str, Form()],
          in_charge: Annotated[str, Form()] = "", people: Annotated[str, Form()] = "",
          note: Annotated[str, Form()] = "") -> Response:
    """Start a round on arrival: the plan, where (a whole site or one target), who."""
    form = {"kind": kind, "where": where, "in_charge": in_charge, "people": people, "note": note}
    site_id, asset_id = _where(parts, where)
    crew = [name.strip() for name in people.replace("，", ",").replace("\n", ",").split(",") if name.strip()]
    try:
        body = InspectionIn(site_id=site_id, asset_id=asset_id, kind=kind, in_charge=in_charge.strip(), people=crew,
                            note=note)
        row = api.start(body, actor, parts, session, scope)
    except ValidationError:
        return _list(request, actor, parts, session, scope, form=form, status_code=422,
                     error=i18n.gettext("Choose a plan and say who is in charge."))
    except (InspectionRefused, InspectionNotFound, HTTPException) as exc:
        return _list(request, actor, parts, session, scope, form=form, status_code=_status(exc),
                     error=i18n.gettext("The round was not started: %(reason)s", reason=_detail(exc)))
    return RedirectResponse(f"/inspections/{row.id}", status_code=303)


def _where(parts: ApiContext, where: str) -> tuple[str, str | None]:
    """(site, asset or None) of the form's choice: 'site:<id>' or a target's id."""
    if where.startswith(SITE_ASSET_PREFIX):
        return where.removeprefix(SITE_ASSET_PREFIX), None
    for place in parts.config.sites:
        if any(p.id == where for p in place.plant):
            return place.id, where
    try:
        return parts.config.asset(where).site, where
    except KeyError:
        return "", where  # refused by the route as an unknown site


def _status(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 404 if isinstance(exc, InspectionNotFound) else 409


def _detail(exc: Exception) -> str:
    return str(exc.detail) if isinstance(exc, HTTPException) else str(exc)


# --- one round -------------------------------------------------------------------------


@router.get("/inspections/{inspection_id}", response_class=HTMLResponse)
def round_page(request: Request, inspection_id: IdPath, me: Viewer, parts: ComponentsDep, session: SessionDep):
    return _round(request, inspection_id, me, parts, session)


@router.post("/inspections/{inspection_id}/results", response_class=HTMLResponse)
def record_results(request: Request, inspection_id: IdPath, actor: may(Permission.INSPECTIONS_RECORD),
                   parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
                   item: Annotated[list[str], Form()], outcome: Annotated[list[str], Form()],
                   note: Annotated[list[str], Form()]) -> Response:
    """The checklist: per item (in the plan's order) a result, ok / fault / not applicable,
    and a note; an item left without a result is not recorded."""
    entries = [{"item": i, "outcome": o, "note": n.strip()}
               for i, o, n in zip(item, outcome, note, strict=False) if o in OUTCOMES]
    if not entries:
        return _round(request, inspection_id, actor, parts, session, status_code=422,
                      error=i18n.gettext("Choose a result for at least one item."))
    return _then_round(request, inspection_id, actor, parts, session,
                       lambda: api.results(inspection_id, ResultsIn(results=entries), actor, parts, session, scope))


@router.post("/inspections/{inspection_id}/readings", response_class=HTMLResponse)
def record_reading(request: Request, inspection_id: IdPath, actor: may(Permission.INSPECTIONS_RECORD),
                   parts: ComponentsDep, session: SessionDep, scope: ScopeDep, reading: Annotated[str, Form()],
                   value: Annotated[str, Form()]) -> Response:
    """A field reading: '<station>/<channel>' chosen, the value typed (a comma decimal too)."""
    asset_id, _, channel = reading.partition("/")
    units = _channels(parts, asset_id)
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        number = math.nan
    if channel not in units or not math.isfinite(number):
        return _round(request, inspection_id, actor, parts, session, status_code=422,
                      error=i18n.gettext("Choose the channel read and type its value as a number."))
    body = ReadingIn(asset_id=asset_id, channel=channel, value=number, unit=units[channel])
    return _then_round(request, inspection_id, actor, parts, session,
                       lambda: api.reading(inspection_id, body, actor, parts, session, scope))


@router.post("/inspections/{inspection_id}/finish", response_class=HTMLResponse)
def finish(request: Request, inspection_id: IdPath, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep,
           session: SessionDep, note: Annotated[str, Form()] = "") -> Response:
    return _then_round(request, inspection_id, actor, parts, session,
                       lambda: api.finish(inspection_id, FinishIn(note=note), actor, parts, session))


def _then_round(request: Request, inspection_id: int, actor: Principal, parts: ApiContext, session: Session,
                write: Callable[[], object]) -> Response:
    try:
        write()
    except (InspectionRefused, InspectionNotFound, HTTPException) as exc:
        session.rollback()
        return _round(request, inspection_id, actor, parts, session, status_code=_status(exc),
                      error=i18n.gettext("Not recorded: %(reason)s", reason=_detail(exc)))
    return RedirectResponse(f"/inspections/{inspection_id}", status_code=303)


def _channels(parts: ApiContext, asset_id: str) -> dict[str, str]:
    """A SCADA station's channels → units (empty for anything else)."""
    try:
        asset = parts.config.asset(asset_id)
    except KeyError:
        return {}
    if asset.kind not in REGULATORS or asset.modbus is None:
        return {}
    return parts.config.profile(asset.modbus.profile).channels


def _round(request: Request, inspection_id: int, me: Principal, parts: ApiContext, session: Session, *,
           error: str | None = None, status_code: int = 200) -> HTMLResponse:
    detail = api._detail(session, inspection_id)
    zone = parts.config.site(detail.site_id).time_zone
    the_plan = plan(detail.kind) if detail.kind in PLAN_KINDS else None
    recorded = {r.item: r for r in detail.results}
    stations = ([detail.asset_id] if detail.asset_id else
                [a.id for a in parts.config.assets if a.site == detail.site_id and _channels(parts, a.id)])
    context = {
        "r": detail, "plan": plan_title(detail.kind), "zone": zone, "error": error,
        "items": [{"key": i.key, "text": i18n.gettext(i.text), "result": recorded.get(i.key)}
                  for i in (the_plan.items if the_plan else ())],
        "outcomes": [(o, label(OUTCOME_LABELS, o)) for o in OUTCOMES],
        "outcome_label": lambda o: label(OUTCOME_LABELS, o),
        "readable": [{"value": f"{s}/{channel}", "text": f"{s} · {labels.label(channel)} ({unit})"}
                     for s in stations for channel, unit in _channels(parts, s).items()]
        if the_plan is not None and the_plan.compare_with_scada else [],
        "channel_label": labels.label, "flag_kind": lambda kind: label(FLAG_KINDS, kind),
        "running": detail.ended_at is None,
        "can_record": me.can(Permission.INSPECTIONS_RECORD) and detail.ended_at is None,
        "local_at": lambda at: to_local(at, zone).strftime("%Y-%m-%d %H:%M"),
        "now": parts.clock.now(),
    }
    return render(request, "inspection.html", context, status_code=status_code)

