"""Due and overdue inspections per site and per technician, from the plans and the record.

A plan is done on a target by a finished inspection of the plan's kind either on that
target, or on the whole site with at least one checklist result recorded for the target
(security rounds are device by device: a site round counts for the devices it checked).
The time an inspection started is when it was done.

Rain: marking a rain at a site makes its low-lying valve wells due (plan
``valve_well_after_rain``) until one is inspected after the rain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config, Site
from sitewatch.domain.time import require_utc
from sitewatch.inspections.errors import InspectionNotFound
from sitewatch.inspections.plans import PLANS, Due, Status, Target, next_due
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import InspectionResultRow, InspectionRow, RainEventRow


@dataclass(frozen=True, slots=True)
class DueItem:
    due: Due
    site_id: str
    technician: str | None
    title: str


def targets(config: Config, *, site_id: str | None = None) -> list[Target]:
    out = []
    for asset in config.assets:
        if site_id is None or asset.site == site_id:
            out.append(Target(asset.site, asset.id, asset.kind, asset.name, installed_on=asset.installed_on,
                              origin=asset.regulator_origin))
    for site in config.sites:
        if site_id is not None and site.id != site_id:
            continue
        for item in site.plant:
            out.append(Target(site.id, item.id, item.kind, item.name or item.id, dn_mm=item.dn_mm,
                              low_lying=item.low_lying))
    return out


def technician_for(site: Site, kind: str) -> str | None:
    return site.technicians.get(kind) or site.technicians.get("default")


def last_done(session: Session) -> dict[tuple[str, str], datetime]:
    """(plan kind, target id) -> when the latest finished inspection that did it started."""
    done: dict[tuple[str, str], datetime] = {}

    def keep(kind: str, target: str, at: datetime) -> None:
        if (kind, target) not in done or at > done[(kind, target)]:
            done[(kind, target)] = at

    finished = InspectionRow.ended_at.is_not(None)
    for kind, asset_id, at in session.execute(
        select(InspectionRow.kind, InspectionRow.asset_id, func.max(InspectionRow.started_at))
        .where(finished, InspectionRow.asset_id.is_not(None)).group_by(InspectionRow.kind, InspectionRow.asset_id)
    ):
        keep(kind, asset_id, at)
    for kind, target_id, at in session.execute(
        select(InspectionRow.kind, InspectionResultRow.target_id, func.max(InspectionRow.started_at))
        .join(InspectionResultRow, InspectionResultRow.inspection_id == InspectionRow.id)
        .where(finished, InspectionRow.asset_id.is_(None))
        .group_by(InspectionRow.kind, InspectionResultRow.target_id)
    ):
        keep(kind, target_id, at)
    return done


def last_rain(session: Session) -> dict[str, datetime]:
    rows = session.execute(select(RainEventRow.site_id, func.max(RainEventRow.at)).group_by(RainEventRow.site_id))
    return {site_id: at for site_id, at in rows}


def due_list(
    session: Session, config: Config, *, now: datetime, site_id: str | None = None, technician: str | None = None,
    horizon_days: int = 7, include_scheduled: bool = False,
) -> list[DueItem]:
    """What is overdue, then what is due within ``horizon_days``, by due date."""
    now = require_utc(now)
    if site_id is not None:
        try:
            config.site(site_id)
        except KeyError:
            raise InspectionNotFound(f"site {site_id!r} does not exist") from None
    done, rain = last_done(session), last_rain(session)
    items = []
    for target in targets(config, site_id=site_id):
        site = config.site(target.site_id)
        for p in PLANS:
            if not p.applies_to(target):
                continue
            who = technician_for(site, p.kind)
            if technician is not None and who != technician:
                continue
            due = next_due(p, target, now=now, time_zone=site.time_zone,
                           last_done_at=done.get((p.kind, target.target_id)), rain_at=rain.get(site.id),
                           horizon_days=horizon_days)
            if due is None or (due.status is Status.SCHEDULED and not include_scheduled):
                continue
            items.append(DueItem(due, site.id, who, p.title))
    order = {Status.OVERDUE: 0, Status.DUE: 1, Status.SCHEDULED: 2}
    items.sort(key=lambda i: (order[i.due.status], i.due.due_on, i.site_id, i.due.target.target_id, i.due.kind))
    return items


def mark_rain(
    session: Session, config: Config, *, site_id: str, at: datetime, actor: str, note: str = "",
) -> RainEventRow:
    try:
        config.site(site_id)
    except KeyError:
        raise InspectionNotFound(f"site {site_id!r} does not exist") from None
    row = RainEventRow(site_id=site_id, at=require_utc(at), recorded_by=actor, note=note)
    session.add(row)
    session.flush()
    audit(session, at=at, actor=actor, entity="site", entity_id=site_id, action="rain", detail={"note": note})
    return row
