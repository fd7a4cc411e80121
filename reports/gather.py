"""The queries the reports need, so no report or route writes SQL inline. Rows are selected
with UTC bounds wide enough for any zone, then placed by their site's calendar
(periods.Period.contains)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.reports.periods import Period
from sitewatch.storage.tables import (
    ComplaintRow,
    FieldReadingRow,
    InspectionFlagRow,
    InspectionResultRow,
    InspectionRow,
    PressureTestRow,
    RainEventRow,
    TicketRow,
)


def tickets_opened(session: Session, period: Period, zones: dict[str, str]) -> list[TicketRow]:
    """Tickets of the sites in ``zones`` (site id -> time zone) opened in the period."""
    low, high = period.query_bounds()
    rows = session.scalars(select(TicketRow).where(
        TicketRow.site_id.in_(list(zones)), TicketRow.opened_at >= low, TicketRow.opened_at < high,
    ).order_by(TicketRow.opened_at, TicketRow.id))
    return [t for t in rows if period.contains(t.opened_at, zones[t.site_id])]


def inspections_done(session: Session, period: Period, zones: dict[str, str]) -> list[InspectionRow]:
    """Finished inspections of those sites that started in the period (when an inspection
    started is when it was done, as in inspections/due.py)."""
    low, high = period.query_bounds()
    rows = session.scalars(select(InspectionRow).where(
        InspectionRow.site_id.in_(list(zones)), InspectionRow.ended_at.is_not(None),
        InspectionRow.started_at >= low, InspectionRow.started_at < high,
    ).order_by(InspectionRow.started_at, InspectionRow.id))
    return [i for i in rows if period.contains(i.started_at, zones[i.site_id])]


def complaints_received(session: Session, period: Period, customer_ids: Collection[str]) -> list[ComplaintRow]:
    low, high = period.query_bounds()
    return list(session.scalars(select(ComplaintRow).where(
        ComplaintRow.customer_id.in_(list(customer_ids)), ComplaintRow.received_at >= low,
        ComplaintRow.received_at < high,
    ).order_by(ComplaintRow.received_at, ComplaintRow.id)))


def results_of(session: Session, inspection_ids: Collection[int]) -> list[InspectionResultRow]:
    return list(session.scalars(select(InspectionResultRow).where(
        InspectionResultRow.inspection_id.in_(list(inspection_ids))).order_by(InspectionResultRow.id)))


def readings_out_of_tolerance(session: Session, inspection_ids: Collection[int]) -> list[FieldReadingRow]:
    return list(session.scalars(select(FieldReadingRow).where(
        FieldReadingRow.inspection_id.in_(list(inspection_ids)), FieldReadingRow.within_tolerance.is_(False),
    ).order_by(FieldReadingRow.id)))


def failed_pressure_tests(session: Session, inspection_ids: Collection[int]) -> list[PressureTestRow]:
    return list(session.scalars(select(PressureTestRow).where(
        PressureTestRow.inspection_id.in_(list(inspection_ids)), PressureTestRow.compliant.is_(False),
    ).order_by(PressureTestRow.id)))


def flags_of(session: Session, inspection_ids: Collection[int]) -> list[InspectionFlagRow]:
    return list(session.scalars(select(InspectionFlagRow).where(
        InspectionFlagRow.inspection_id.in_(list(inspection_ids))).order_by(InspectionFlagRow.id)))


def last_done_before(session: Session, before: datetime) -> dict[tuple[str, str], datetime]:
    """(plan kind, target id) -> when the latest finished inspection that did it started,
    counting only inspections started before ``before``: inspections/due.py's rule
    (an inspection of the target, or a site round with a result for it), as it stood then."""
    done: dict[tuple[str, str], datetime] = {}
    finished = InspectionRow.ended_at.is_not(None) & (InspectionRow.started_at < before)
    on_target = (select(InspectionRow.kind, InspectionRow.asset_id, func.max(InspectionRow.started_at))
                 .where(finished, InspectionRow.asset_id.is_not(None))
                 .group_by(InspectionRow.kind, InspectionRow.asset_id))
    on_site = (select(InspectionRow.kind, InspectionResultRow.target_id, func.max(InspectionRow.started_at))
               .join(InspectionResultRow, InspectionResultRow.inspection_id == InspectionRow.id)
               .where(finished, InspectionRow.asset_id.is_(None))
               .group_by(InspectionRow.kind, InspectionResultRow.target_id))
    for stmt in (on_target, on_site):
        for kind, target, at in session.execute(stmt):
            if (kind, target) not in done or at > done[(kind, target)]:
                done[(kind, target)] = at
    return done


def last_rain_before(session: Session, before: datetime) -> dict[str, datetime]:
    rows = session.execute(select(RainEventRow.site_id, func.max(RainEventRow.at))
                           .where(RainEventRow.at < before).group_by(RainEventRow.site_id))
    return {site_id: at for site_id, at in rows}
