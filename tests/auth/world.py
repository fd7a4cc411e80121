"""Two customers' objects behind one deployment, for tests that walk every route with real
ids: City Gas (sites north and berlin) and Harbour Security (site harbour), each with a
regulator station and samples, a firing alert and its ticket, a finished inspection with a
door flag, a complaint and a day's 08:30 log."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.inspections.visits import finish_inspection, start_inspection
from sitewatch.reports.complaints import ComplaintClass, record_complaint
from sitewatch.review.service import DailyReviews
from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.snapshots import snapshot_folder, write_snapshot
from sitewatch.storage.tables import AlertRow, InspectionFlagRow, TicketRow
from sitewatch.tickets.writer import TicketWriter
from tests.reports.conftest import raw_config
from tests.serving import FixedClock

NOW = datetime(2027, 1, 3, 2, 0, tzinfo=UTC)
DAY = date(2027, 1, 1)
# What routes take besides objects: periods, a channel, a user, a report's kind.
PARAMS = {"day": DAY.isoformat(), "month": "2026-12", "quarter": "2026-Q4", "period": "2026-12",
          "kind": "complaint-rate", "channel": "outlet_kpa", "username": "city-admin"}


def build(tmp_path: Path, database_url: str, tokens: list[dict]) -> tuple[Components, dict, dict]:
    """The components on a seeded database, and the ids (plus PARAMS) of City Gas's objects
    and of Harbour's, by the name a route gives them (site_id, ticket_id ...)."""
    raw = raw_config()
    station = next(a for a in raw["assets"] if a["id"] == "rs-north-01")
    raw["assets"].append(station | {"id": "rs-harbour-01", "site": "harbour", "name": "Harbour 01 regulator station"})
    next(s for s in raw["sites"] if s["id"] == "harbour")["contract_until"] = "2027-06-30"
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url}
    raw["api"] = {"tokens": tokens}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(NOW)
    own, other = _seed(parts)
    return parts, own, other


def _seed(parts: Components) -> tuple[dict[str, object], dict[str, object]]:
    """An alert, a ticket, an inspection with a flag, a complaint and a day's log for each
    customer; returns the ids of City Gas's (own) and Harbour's (other)."""
    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    parts.store.write([Sample(asset, "outlet_kpa", NOW - timedelta(minutes=m), 2.5, "kPa")
                       for asset in ("rs-north-01", "rs-harbour-01") for m in range(10)])
    for asset in ("rs-north-01", "rs-harbour-01"):  # /api/assets/{asset_id}/snapshot.jpg has one to show
        write_snapshot(snapshot_folder(parts.config.storage.data_dir), asset, b"\xff\xd8\xff\xd9", taken_at=NOW)
    TicketWriter(sessions=parts.sessions, config=parts.config).apply([
        AlertTransition(f"{asset}/gas/gas_lel_pct", asset, "gas", "gas_lel_pct", AlertState.FIRING,
                        NOW - timedelta(minutes=5), Severity.CRITICAL, 25.0, "%LEL", f"{asset}: gas 25 %LEL")
        for asset in ("rs-north-01", "rs-harbour-01")])
    ids: dict[str, dict[str, object]] = {}
    with parts.sessions() as session:
        for site, customer, asset in (("north", "citygas", "rs-north-01"), ("harbour", "harbour", "rs-harbour-01")):
            alert = session.scalars(select(AlertRow).where(AlertRow.asset_id == asset)).one()
            ticket = session.scalars(select(TicketRow).where(TicketRow.asset_id == asset)).one()
            visit = start_inspection(session, parts.config, site_id=site, asset_id=None, kind="security_monthly",
                                     in_charge="Zhao Liu", people=[], actor="test", at=NOW - timedelta(hours=3))
            flag = InspectionFlagRow(inspection_id=visit.id, asset_id=asset, kind="door-never-opened", detail="",
                                     raised_at=NOW - timedelta(hours=2))
            session.add(flag)
            letter = DeliveryRow(key=f"t{ticket.id}/opened/group:hook", ticket_id=ticket.id, site_id=site,
                                 kind="opened", channel="hook", recipient="group:hook", locale="zh_CN",
                                 content={"subject": ""}, state="dead", created_at=NOW - timedelta(minutes=4),
                                 next_attempt_at=NOW - timedelta(minutes=4), attempts=3, last_error="HTTP 503",
                                 dead_at=NOW - timedelta(minutes=1))
            session.add(letter)
            finish_inspection(session, visit.id, actor="test", at=NOW - timedelta(hours=2))
            complaint = record_complaint(session, parts.config, customer_id=customer, site_id=site, ticket_id=None,
                                         received_at=NOW - timedelta(days=20), complaint_class=ComplaintClass.OTHER,
                                         description="slow to answer", actor="test", at=NOW)
            session.flush()
            ids[customer] = {"site_id": site, "asset_id": asset, "customer_id": customer, "ticket_id": ticket.id,
                             "alert_id": alert.id, "inspection_id": visit.id, "flag_id": flag.id,
                             "complaint_id": complaint.id, "delivery_id": letter.id, **PARAMS}
        session.commit()
    reviews = DailyReviews(config=parts.config, store=parts.store, sessions=parts.sessions, clock=parts.clock)
    for site in ("north", "harbour"):
        reviews.generate(site, DAY, actor="test")
    return ids["citygas"], ids["harbour"]
