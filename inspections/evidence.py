"""Did the inspection really happen? (DOMAIN.md "Supervision": an inspection reported but
not done is the worst offence.)

A station that reports its door sensor (``door_open``) should show the door open at some
point while its inspection ran. If it never did, the inspection is flagged for the
manager; so is a station whose door sensor sent nothing then, since nothing could be
shown either way. A flag is evidence to look at, not a verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Asset, Config
from sitewatch.domain.samples import Sample
from sitewatch.inspections.errors import InspectionNotFound, InspectionRefused
from sitewatch.inspections.plans import REGULATORS, plan
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import InspectionFlagRow, InspectionRow
from sitewatch.storage.timeseries import TimeSeriesError, TimeSeriesStore

log = logging.getLogger(__name__)

DOOR_CHANNEL = "door_open"
# The record is often started at the gate, a little before the door is opened, and
# finished after it is shut: look this far either side.
DOOR_SLACK = timedelta(minutes=15)
NEVER_OPENED, NO_DATA = "door-never-opened", "door-no-data"


def door_verdict(samples: Sequence[Sample]) -> str | None:
    """Pure: None if the door was seen open, else why not (NEVER_OPENED or NO_DATA)."""
    good = [s for s in samples if s.is_good]
    if not good:
        return NO_DATA
    return None if any(s.value >= 0.5 for s in good) else NEVER_OPENED


def stations_with_doors(config: Config, inspection: InspectionRow) -> list[Asset]:
    """The regulator stations an inspection covered whose profile has a door sensor."""
    if not plan(inspection.kind).target_kinds & REGULATORS:
        return []
    if inspection.asset_id is not None:
        candidates = [a for a in config.assets if a.id == inspection.asset_id]
    else:
        candidates = [a for a in config.assets if a.site == inspection.site_id]
    out = []
    for asset in candidates:
        if asset.kind not in REGULATORS or asset.modbus is None:
            continue
        channels = set(config.profile(asset.modbus.profile).channels)
        if DOOR_CHANNEL in channels:
            out.append(asset)
    return out


def check_door_evidence(
    session: Session, config: Config, store: TimeSeriesStore, inspection: InspectionRow, *, at: datetime, actor: str,
) -> list[InspectionFlagRow]:
    """Flag the finished ``inspection`` for each covered station whose door never opened."""
    end = inspection.ended_at or at
    flags = []
    for asset in stations_with_doors(config, inspection):
        try:
            samples = store.query(asset_id=asset.id, start=inspection.started_at - DOOR_SLACK, end=end + DOOR_SLACK,
                                  channel=DOOR_CHANNEL)
        except TimeSeriesError as exc:
            # The store failing says nothing about the technicians: no flag, but say so.
            log.error("inspection %d: door sensor of %s not checked: %s", inspection.id, asset.id, exc)
            continue
        verdict = door_verdict(samples)
        if verdict is None:
            continue
        detail = (f"{asset.name}: door sensor {'never reported open' if verdict == NEVER_OPENED else 'sent nothing'}"
                  f" between {inspection.started_at.isoformat()} and {end.isoformat()}")
        existing = session.scalars(select(InspectionFlagRow).where(
            InspectionFlagRow.inspection_id == inspection.id, InspectionFlagRow.asset_id == asset.id,
            InspectionFlagRow.kind == verdict)).one_or_none()
        if existing is not None:
            continue
        flag = InspectionFlagRow(inspection_id=inspection.id, asset_id=asset.id, kind=verdict, detail=detail,
                                 raised_at=at)
        session.add(flag)
        session.flush()
        audit(session, at=at, actor=actor, entity="inspection", entity_id=str(inspection.id), action="flagged",
              detail={"flag": flag.id, "asset_id": asset.id, "kind": verdict, "detail": detail})
        log.warning("inspection %d flagged for the manager: %s", inspection.id, detail)
        flags.append(flag)
    return flags


def list_flags(
    session: Session, *, site_id: str | None = None, unreviewed: bool = False, inspection_id: int | None = None,
    site_ids: Collection[str] | None = None,
) -> list[InspectionFlagRow]:
    """``site_ids``: a customer scope (api/scope.py), None = every site."""
    query = select(InspectionFlagRow).order_by(InspectionFlagRow.raised_at.desc(), InspectionFlagRow.id)
    if site_ids is not None:
        query = query.where(InspectionFlagRow.inspection_id.in_(
            select(InspectionRow.id).where(InspectionRow.site_id.in_(site_ids))))
    if inspection_id is not None:
        query = query.where(InspectionFlagRow.inspection_id == inspection_id)
    if unreviewed:
        query = query.where(InspectionFlagRow.reviewed_at.is_(None))
    if site_id is not None:
        query = query.join(InspectionRow, InspectionRow.id == InspectionFlagRow.inspection_id).where(
            InspectionRow.site_id == site_id)
    return list(session.scalars(query.limit(500)))


def review_flag(session: Session, flag_id: int, *, actor: str, at: datetime, note: str) -> InspectionFlagRow:
    """The manager has looked at it; the flag stays, with who reviewed it and what they found."""
    flag = session.get(InspectionFlagRow, flag_id, with_for_update=True)
    if flag is None:
        raise InspectionNotFound(f"inspection flag {flag_id} does not exist")
    if flag.reviewed_at is not None:
        raise InspectionRefused(f"flag {flag_id} was reviewed by {flag.reviewed_by} at {flag.reviewed_at.isoformat()}")
    flag.reviewed_at, flag.reviewed_by, flag.review_note = at, actor, note
    audit(session, at=at, actor=actor, entity="inspection", entity_id=str(flag.inspection_id), action="flag_reviewed",
          detail={"flag": flag_id, "note": note})
    return flag
