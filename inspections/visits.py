"""Technicians on site: an inspection is started when they arrive and finished when they
leave. While it runs, the site's (or the asset's) alerts are recorded but page nobody
(tickets/holds.py); anything still firing when it finishes is announced.

An inspection is of one plan's kind (inspections/plans.py), on a configured asset, a
plant item of the site (valve well, valve, cathodic-protection point) or the whole site.
A regulator round needs at least two people, one of them in charge (rule book 12 art. 7).
Checklist results and field readings are recorded while it runs (inspections/records.py);
when it finishes, the station's door sensor is asked whether anyone was there
(inspections/evidence.py).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.inspections.errors import InspectionNotFound, InspectionRefused
from sitewatch.inspections.evidence import check_door_evidence
from sitewatch.inspections.plans import PLAN_KINDS, plan
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import InspectionRow
from sitewatch.storage.timeseries import TimeSeriesStore

__all__ = ["InspectionNotFound", "InspectionRefused", "finish_inspection", "get_inspection", "list_inspections",
           "start_inspection"]


def start_inspection(
    session: Session, config: Config, *, site_id: str, asset_id: str | None, kind: str, in_charge: str,
    people: list[str], actor: str, at: datetime, note: str = "",
) -> InspectionRow:
    try:
        config.site(site_id)
    except KeyError:
        raise InspectionNotFound(f"site {site_id!r} does not exist") from None
    if kind not in PLAN_KINDS:
        raise InspectionRefused(f"no inspection plan {kind!r}; known: {', '.join(sorted(PLAN_KINDS))}")
    the_plan = plan(kind)
    if asset_id is not None:
        target_kind, target_site = _target(config, asset_id)
        if target_site != site_id:
            raise InspectionRefused(f"asset {asset_id!r} is on site {target_site!r}, not {site_id!r}")
        if target_kind not in the_plan.target_kinds:
            raise InspectionRefused(f"a {kind} is not done on {asset_id!r} ({target_kind})")
    # The one in charge is one of the crew; blank names and repeats do not count as people.
    crew = list(dict.fromkeys(name.strip() for name in [in_charge, *people] if name.strip()))
    if not in_charge.strip():
        raise InspectionRefused("an inspection needs the name of the one in charge")
    if len(crew) < the_plan.min_people:
        raise InspectionRefused(
            f"a {kind} needs at least {the_plan.min_people} people, one of them in charge; "
            f"got {len(crew)}: {', '.join(crew)}"
        )
    row = InspectionRow(site_id=site_id, asset_id=asset_id, kind=kind, in_charge=in_charge, people=crew,
                        started_at=at, started_by=actor, note=note)
    session.add(row)
    session.flush()
    audit(session, at=at, actor=actor, entity="inspection", entity_id=str(row.id), action="started",
          detail={"site_id": site_id, "asset_id": asset_id, "kind": kind, "in_charge": in_charge, "people": crew})
    return row


def finish_inspection(
    session: Session, inspection_id: int, *, actor: str, at: datetime, note: str = "",
    config: Config | None = None, store: TimeSeriesStore | None = None,
) -> InspectionRow:
    """Finish it; given the config and the time-series store, also check the door sensors of
    the stations it covered and flag it for the manager if nobody seems to have been there."""
    row = session.get(InspectionRow, inspection_id, with_for_update=True)
    if row is None:
        raise InspectionNotFound(f"inspection {inspection_id} does not exist")
    if row.ended_at is not None:
        raise InspectionRefused(f"inspection {inspection_id} finished at {row.ended_at.isoformat()}")
    row.ended_at = at
    if note:
        row.note = f"{row.note}\n{note}".strip()
    audit(session, at=at, actor=actor, entity="inspection", entity_id=str(inspection_id), action="finished",
          detail={"note": note})
    if config is not None and store is not None:
        check_door_evidence(session, config, store, row, at=at, actor=actor)
    return row


def get_inspection(session: Session, inspection_id: int) -> InspectionRow:
    row = session.get(InspectionRow, inspection_id)
    if row is None:
        raise InspectionNotFound(f"inspection {inspection_id} does not exist")
    return row


def _target(config: Config, target_id: str) -> tuple[str, str]:
    """(kind, site) of an asset or a plant item."""
    try:
        asset = config.asset(target_id)
        return asset.kind, asset.site
    except KeyError:
        pass
    for site in config.sites:
        for item in site.plant:
            if item.id == target_id:
                return item.kind, site.id
    raise InspectionNotFound(f"asset {target_id!r} does not exist")


def list_inspections(session: Session, *, in_progress: bool = False, site_id: str | None = None,
                     site_ids: Collection[str] | None = None) -> list[InspectionRow]:
    """``site_ids``: a customer scope (api/scope.py), None = every site."""
    query = select(InspectionRow).order_by(InspectionRow.started_at.desc())
    if in_progress:
        query = query.where(InspectionRow.ended_at.is_(None))
    if site_id is not None:
        query = query.where(InspectionRow.site_id == site_id)
    if site_ids is not None:
        query = query.where(InspectionRow.site_id.in_(site_ids))
    return list(session.scalars(query.limit(500)))
