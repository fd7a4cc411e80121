"""Technicians on site: an inspection is started when they arrive and finished when they
leave. While it runs, the site's (or the asset's) alerts are recorded but page nobody
(tickets/holds.py); anything still firing when it finishes is announced.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.models import Config
from storage.repository import audit
from storage.tables import InspectionRow


class InspectionNotFound(LookupError):
    pass


class InspectionRefused(ValueError):
    pass


def start_inspection(
    session: Session, config: Config, *, site_id: str, asset_id: str | None, kind: str, in_charge: str,
    people: list[str], actor: str, at: datetime, note: str = "",
) -> InspectionRow:
    try:
        config.site(site_id)
    except KeyError:
        raise InspectionNotFound(f"site {site_id!r} does not exist") from None
    if asset_id is not None:
        try:
            asset = config.asset(asset_id)
        except KeyError:
            raise InspectionNotFound(f"asset {asset_id!r} does not exist") from None
        if asset.site != site_id:
            raise InspectionRefused(f"asset {asset_id!r} is on site {asset.site!r}, not {site_id!r}")
    crew = list(dict.fromkeys([in_charge, *people]))  # the one in charge is one of the crew
    row = InspectionRow(site_id=site_id, asset_id=asset_id, kind=kind, in_charge=in_charge, people=crew,
                        started_at=at, started_by=actor, note=note)
    session.add(row)
    session.flush()
    audit(session, at=at, actor=actor, entity="inspection", entity_id=str(row.id), action="started",
          detail={"site_id": site_id, "asset_id": asset_id, "kind": kind, "in_charge": in_charge, "people": crew})
    return row


def finish_inspection(session: Session, inspection_id: int, *, actor: str, at: datetime, note: str = "") -> InspectionRow:
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
    return row


def list_inspections(session: Session, *, in_progress: bool = False, site_id: str | None = None) -> list[InspectionRow]:
    query = select(InspectionRow).order_by(InspectionRow.started_at.desc())
    if in_progress:
        query = query.where(InspectionRow.ended_at.is_(None))
    if site_id is not None:
        query = query.where(InspectionRow.site_id == site_id)
    return list(session.scalars(query.limit(500)))
