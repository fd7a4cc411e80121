"""Inspections: plans, due and overdue lists, recording a round (checklist, field readings
compared with SCADA, pressure tests), evidence flags for the manager, rain, contracts.

Writes need a role that may make them and are audited; dates are the site's local dates.
Everything is within the principal's customer scope: lists are filtered, a site, inspection
or flag outside it is a 404 (api/scope.py), and so is a site or asset named in a body. The
page ``/inspections`` shows the same lists and records checklists and readings through this API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sitewatch.api.bounds import IdPath
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.schemas import (
    ContractPublic,
    DuePublic,
    FinishIn,
    FlagPublic,
    FlagReviewIn,
    InspectionDetail,
    InspectionIn,
    InspectionPublic,
    PlanPublic,
    PressureTestIn,
    PressureTestPublic,
    RainIn,
    ReadingIn,
    ReadingPublic,
    ResultPublic,
    ResultsIn,
)
from sitewatch.auth.roles import Permission
from sitewatch.config.models import Config
from sitewatch.inspections.contracts import contract_view
from sitewatch.inspections.due import DueItem, due_list, mark_rain
from sitewatch.inspections.evidence import list_flags, review_flag
from sitewatch.inspections.plans import PLANS, Plan, local_date
from sitewatch.inspections.records import (
    ResultEntry,
    pressure_tests_of,
    readings_of,
    record_pressure_test,
    record_reading,
    record_results,
    results_of,
)
from sitewatch.inspections.visits import (
    InspectionNotFound,
    finish_inspection,
    get_inspection,
    list_inspections,
    start_inspection,
)

# No prefix: the page lives at /inspections beside the /api routes, on the one router app.py includes.
router = APIRouter(tags=["inspections"])

HorizonDays = Annotated[int, Query(ge=0, le=366, description="list what falls due within this many days")]


@router.get("/api/inspection-plans", response_model=list[PlanPublic])
def plans():
    return [_plan_public(p) for p in PLANS]


@router.get("/api/inspections/due", response_model=list[DuePublic])
def due(session: SessionDep, parts: ComponentsDep, scope: ScopeDep, site_id: str | None = None,
        technician: str | None = None, within_days: HorizonDays = 7, include_scheduled: bool = False):
    """Overdue first, then due within ``within_days``; per site and/or per technician."""
    items = due_list(session, parts.config, now=parts.clock.now(), site_id=site_id, technician=technician,
                     horizon_days=within_days, include_scheduled=include_scheduled)
    return [_due_public(i) for i in scope.keep(items, lambda i: i.site_id)]


@router.get("/api/inspections/flags", response_model=list[FlagPublic])
def flags(session: SessionDep, scope: ScopeDep, site_id: str | None = None, unreviewed: bool = False):
    """Evidence for the manager: inspections whose station door never opened."""
    return list_flags(session, site_id=site_id, unreviewed=unreviewed, site_ids=scope.site_ids)


@router.post("/api/inspections/flags/{flag_id}/review", response_model=FlagPublic)
def review(flag_id: IdPath, body: FlagReviewIn, actor: may(Permission.INSPECTIONS_REVIEW), parts: ComponentsDep, session: SessionDep):
    row = review_flag(session, flag_id, actor=actor.name, at=parts.clock.now(), note=body.note)
    session.commit()
    return row


@router.get("/api/inspections", response_model=list[InspectionPublic])
def inspections(session: SessionDep, scope: ScopeDep, in_progress: bool = False, site_id: str | None = None):
    return list_inspections(session, in_progress=in_progress, site_id=site_id, site_ids=scope.site_ids)


@router.post("/api/inspections", response_model=InspectionPublic, status_code=201)
def start(body: InspectionIn, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep, session: SessionDep,
          scope: ScopeDep):
    """Start on arrival. A regulator round needs at least two people, one in charge (409 otherwise)."""
    scope.require_site(body.site_id)
    scope.require_asset(body.asset_id)
    row = start_inspection(
        session, parts.config, site_id=body.site_id, asset_id=body.asset_id, kind=body.kind,
        in_charge=body.in_charge, people=body.people, actor=actor.name, at=parts.clock.now(), note=body.note,
    )
    session.commit()
    return row


@router.get("/api/inspections/{inspection_id}", response_model=InspectionDetail)
def inspection(inspection_id: IdPath, session: SessionDep):
    return _detail(session, inspection_id)


@router.post("/api/inspections/{inspection_id}/results", response_model=list[ResultPublic])
def results(inspection_id: IdPath, body: ResultsIn, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep,
            session: SessionDep, scope: ScopeDep):
    for r in body.results:
        scope.require_asset(r.target_id)
    entries = [ResultEntry(r.item, r.outcome, r.note, r.target_id) for r in body.results]
    rows = record_results(session, parts.config, inspection_id, entries, actor=actor.name, at=parts.clock.now())
    session.commit()
    return rows


@router.post("/api/inspections/{inspection_id}/readings", response_model=ReadingPublic, status_code=201)
def reading(inspection_id: IdPath, body: ReadingIn, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep,
            session: SessionDep, scope: ScopeDep):
    """A field reading, compared with SCADA at the same moment; beyond tolerance it opens
    (or joins) the channel's calibration ticket, whose id it returns."""
    scope.require_asset(body.asset_id)
    now = parts.clock.now()
    row = record_reading(session, parts.config, parts.store, inspection_id, asset_id=body.asset_id,
                         channel=body.channel, value=body.value, unit=body.unit, taken_at=body.taken_at or now,
                         actor=actor.name, at=now)
    session.commit()
    return row


@router.post("/api/inspections/{inspection_id}/pressure-tests", response_model=PressureTestPublic, status_code=201)
def pressure_test(inspection_id: IdPath, body: PressureTestIn, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep,
                  session: SessionDep, scope: ScopeDep):
    scope.require_asset(body.asset_id)
    row = record_pressure_test(session, parts.config, inspection_id, asset_id=body.asset_id, path=body.path,
                               operating_kpa=body.operating_kpa, lock_up_kpa=body.lock_up_kpa,
                               relief_kpa=body.relief_kpa, slam_shut_kpa=body.slam_shut_kpa, actor=actor.name,
                               at=parts.clock.now())
    session.commit()
    return row


@router.post("/api/inspections/{inspection_id}/finish", response_model=InspectionPublic)
def finish(inspection_id: IdPath, body: FinishIn, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep, session: SessionDep):
    """Finish; the door sensors of the stations it covered are checked (see /inspections/flags)."""
    row = finish_inspection(session, inspection_id, actor=actor.name, at=parts.clock.now(), note=body.note,
                            config=parts.config, store=parts.store)
    session.commit()
    return row


@router.post("/api/sites/{site_id}/rain", status_code=201, response_model=list[DuePublic])
def rain(site_id: str, body: RainIn, actor: may(Permission.INSPECTIONS_RECORD), parts: ComponentsDep, session: SessionDep):
    """It rained: the site's low-lying valve wells are due. Returns them."""
    now = parts.clock.now()
    mark_rain(session, parts.config, site_id=site_id, at=body.at or now, actor=actor.name, note=body.note)
    session.commit()
    items = due_list(session, parts.config, now=now, site_id=site_id)
    return [_due_public(i) for i in items if i.due.kind == "valve_well_after_rain"]


@router.get("/api/contracts", response_model=list[ContractPublic])
def contracts(parts: ComponentsDep, scope: ScopeDep, site_id: str | None = None):
    return scope.keep(_contracts(parts.config, parts.clock.now(), site_id), lambda c: c.site_id)


def _detail(session, inspection_id: int) -> InspectionDetail:  # noqa: ANN001
    row = get_inspection(session, inspection_id)
    out = InspectionPublic.model_validate(row)
    flags = list_flags(session, inspection_id=inspection_id)
    return InspectionDetail(
        **out.model_dump(),
        results=[ResultPublic.model_validate(r) for r in results_of(session, inspection_id)],
        readings=[ReadingPublic.model_validate(r) for r in readings_of(session, inspection_id)],
        pressure_tests=[PressureTestPublic.model_validate(r) for r in pressure_tests_of(session, inspection_id)],
        flags=[FlagPublic.model_validate(f) for f in flags],
    )


def _contracts(config: Config, now, site_id: str | None) -> list[ContractPublic]:  # noqa: ANN001
    if site_id is not None:
        try:
            config.site(site_id)
        except KeyError:
            raise InspectionNotFound(f"site {site_id!r} does not exist") from None
    return [
        ContractPublic(site_id=site.id, **view)
        for site in config.sites
        if site_id is None or site.id == site_id
        for view in contract_view(site, local_date(now, site.time_zone))
    ]


def _due_public(item: DueItem) -> DuePublic:
    d = item.due
    return DuePublic(site_id=item.site_id, target_id=d.target.target_id, target_kind=d.target.kind,
                     target_name=d.target.name, kind=d.kind, title=item.title, status=d.status.value, due_on=d.due_on,
                     window_start=d.window_start, last_done_on=d.last_done_on, reason=d.reason,
                     technician=item.technician)


def _plan_public(p: Plan) -> PlanPublic:
    return PlanPublic(
        kind=p.kind, title=p.title, source=p.source, target_kinds=sorted(p.target_kinds),
        every_months=p.every.months if p.every else None, every_days=p.every.days if p.every else None,
        seasons=[f"{s.name} {s.start[0]:02d}-{s.start[1]:02d}..{s.end[0]:02d}-{s.end[1]:02d}" for s in p.seasons],
        overhaul_years=dict(p.overhaul_years) if p.overhaul_years else None, after_rain_days=p.after_rain_days,
        min_people=p.min_people, min_dn_mm=p.min_dn_mm, below_dn_mm=p.below_dn_mm,
        compare_with_scada=p.compare_with_scada, items=[{"key": i.key, "text": i.text} for i in p.items],
    )
