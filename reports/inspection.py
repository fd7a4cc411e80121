"""The monthly inspection report per site and system (DOMAIN.md "Reports", rule book 2 (3)).

Systems, by the plan an inspection is of (inspections/plans.py): regulator stations (round,
spring/autumn maintenance, overhaul), security systems (the monthly device-by-device round)
and field plant (valve wells, valves, cathodic protection). Per system:

* inspections done: finished inspections that started in the month (site calendar);
* checklist items recorded and failed (outcome ``fault``); findings are the failed items,
  field readings beyond tolerance against SCADA and non-compliant pressure tests;
* flags raised on them: the station's door sensor never showed the door open, or sent
  nothing (inspections/evidence.py) — evidence for the manager, not a verdict;
* overdue at the month's end (reports/overdue.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.time import require_utc
from sitewatch.i18n import lazy
from sitewatch.inspections.plans import PLANS, REGULATORS, SECURITY, plan
from sitewatch.reports import gather
from sitewatch.reports.models import Finding, Flag, InspectionDone, InspectionReport, KindCount, SystemSection
from sitewatch.reports.overdue import as_of, overdue_at
from sitewatch.reports.periods import Period
from sitewatch.reports.scope import ReportNotFound

SYSTEMS = (
    ("regulator_stations", lazy("Regulator stations, cabinets and boxes")),
    ("security_systems", lazy("Security systems")),
    ("field_plant", lazy("Field plant: valve wells, valves, cathodic protection")),
)
FAULT = "fault"


def system_of(kind: str) -> str:
    targets = plan(kind).target_kinds
    if targets & REGULATORS:
        return "regulator_stations"
    if targets & SECURITY:
        return "security_systems"
    return "field_plant"


def inspection_report(
    session: Session, config: Config, *, site_id: str, period: Period, now: datetime,
) -> InspectionReport:
    now = require_utc(now)
    try:
        site = config.site(site_id)
    except KeyError:
        raise ReportNotFound(f"no site {site_id!r}") from None
    customer = next(c for c in config.customers if c.id == site.customer)
    done = gather.inspections_done(session, period, {site_id: site.time_zone})
    ids = [i.id for i in done]
    results = defaultdict(list)
    for r in gather.results_of(session, ids):
        results[r.inspection_id].append(r)
    findings = defaultdict(list)
    for r in (r for rows in results.values() for r in rows if r.outcome == FAULT):
        findings[r.inspection_id].append(Finding(inspection_id=r.inspection_id, target_id=r.target_id,
                                                 source="checklist", detail=f"{r.item}: {r.note or 'fault'}"))
    for f in gather.readings_out_of_tolerance(session, ids):
        findings[f.inspection_id].append(Finding(
            inspection_id=f.inspection_id, target_id=f.asset_id, source="field-reading",
            detail=f"{f.channel}: field {f.value:g} {f.unit}, SCADA {f.scada_value:g} {f.unit} "
                   f"(difference {f.difference:+.3g}, tolerance ±{f.tolerance:g})"))
    for p in gather.failed_pressure_tests(session, ids):
        findings[p.inspection_id].append(Finding(inspection_id=p.inspection_id, target_id=p.asset_id,
                                                 source="pressure-test", detail=f"{p.path}: {'; '.join(p.findings)}"))
    flags = defaultdict(list)
    for f in gather.flags_of(session, ids):
        flags[f.inspection_id].append(Flag(inspection_id=f.inspection_id, asset_id=f.asset_id, kind=f.kind,
                                           detail=f.detail, reviewed_by=f.reviewed_by))
    at = as_of(period, site.time_zone, now)
    overdue = overdue_at(session, config, site_id=site_id, at=at)

    sections = []
    for system, title in SYSTEMS:
        mine = [i for i in done if system_of(i.kind) == system]
        rows = [InspectionDone(
            id=i.id, kind=i.kind, target_id=i.asset_id or f"site:{site_id}", started_at=i.started_at,
            ended_at=i.ended_at, in_charge=i.in_charge, people=list(i.people),
            items_checked_count=sum(1 for r in results[i.id] if r.outcome != "na"),
            items_failed_count=sum(1 for r in results[i.id] if r.outcome == FAULT),
        ) for i in mine]
        kinds = Counter(i.kind for i in mine)
        sections.append(SystemSection(
            system=system, title=title, inspections=rows,
            done_by_kind=[KindCount(kind=p.kind, title=p.title, count=kinds[p.kind]) for p in PLANS
                          if system_of(p.kind) == system],
            items_checked_count=sum(r.items_checked_count for r in rows),
            items_failed_count=sum(r.items_failed_count for r in rows),
            findings=[f for i in mine for f in findings[i.id]],
            flags=[f for i in mine for f in flags[i.id]],
            overdue_at_end=[o for o in overdue if system_of(o.kind) == system],
        ))
    return InspectionReport(
        site_id=site_id, site_name=site.name, customer_id=customer.id, customer_name=customer.name,
        time_zone=site.time_zone, period=period.label, first_day=period.first_day,
        last_day=period.next_first_day - timedelta(days=1), generated_at=now, overdue_as_of=at, systems=sections,
    )
