"""The complaint register (recorded once, audited, never changed) and the monthly complaint
rate against a plain computation, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from sitewatch.domain.time import UTC
from sitewatch.reports.complaint_rate import complaint_rate_report, due_at
from sitewatch.reports.complaints import ComplaintClass, ComplaintImmutable, ComplaintRefused, record_complaint
from sitewatch.reports.periods import parse_month
from sitewatch.storage.tables import AuditRow, ComplaintRow
from tests.reports.seed import COMPLAINTS, in_month, insert_complaints, insert_tickets, ticket_specs

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def test_a_complaint_is_recorded_once_audited_and_never_changed(db_session_factory, config):
    with db_session_factory() as session:
        insert_tickets(session, ticket_specs()[:3])
        row = record_complaint(session, config, customer_id="harbour", site_id="harbour", ticket_id=1,
                               received_at=datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
                               complaint_class=ComplaintClass.NON_QUALITY, description="technician was rude",
                               actor="desk", at=NOW)
        session.commit()
        complaint_id = row.id
    with db_session_factory() as session:
        audit = session.scalars(select(AuditRow).where(AuditRow.entity == "complaint")).all()
        assert [(a.entity_id, a.action, a.actor) for a in audit] == [(str(complaint_id), "created", "desk")]
        assert audit[0].detail["complaint_class"] == "non_quality" and audit[0].detail["ticket_id"] == 1
        row = session.get(ComplaintRow, complaint_id)
        row.complaint_class = "other"
        with pytest.raises(ComplaintImmutable, match="refused change to complaint_class"):
            session.flush()
        session.rollback()
        session.delete(session.get(ComplaintRow, complaint_id))
        with pytest.raises(ComplaintImmutable, match="refused deleting"):
            session.flush()
        session.rollback()
    with db_session_factory() as session:
        assert session.get(ComplaintRow, complaint_id).complaint_class == "non_quality"


@pytest.mark.parametrize("kwargs, message", [
    ({"customer_id": "nobody"}, "no customer"),
    ({"site_id": "north"}, "belongs to customer 'citygas'"),
    ({"ticket_id": 999}, "no ticket 999"),
    ({"ticket_id": 4}, "not of this customer"),  # a Shanghai ticket of City Gas
    ({"received_at": datetime(2026, 12, 4, tzinfo=UTC)}, "in the future"),
    ({"description": "  "}, "needs a description"),
])
def test_refusals(db_session_factory, config, kwargs, message):
    body = {"customer_id": "harbour", "site_id": "harbour", "ticket_id": None,
            "received_at": datetime(2026, 12, 1, tzinfo=UTC), "complaint_class": ComplaintClass.OTHER,
            "description": "late"} | kwargs
    with db_session_factory() as session:
        insert_tickets(session, ticket_specs()[:4])
        with pytest.raises(ComplaintRefused, match=message):
            record_complaint(session, config, actor="desk", at=NOW, **body)


@pytest.mark.parametrize("month", [10, 11, 12])
def test_the_monthly_rate_equals_a_plain_computation(db_session_factory, config, month):
    specs = ticket_specs()
    with db_session_factory() as session:
        insert_tickets(session, specs)
        insert_complaints(session)
        session.commit()
    with db_session_factory() as session:
        r = complaint_rate_report(session, config, period=parse_month(f"2026-{month:02d}"), now=NOW)
    assert [c.customer_id for c in r.customers] == ["citygas", "harbour"]
    for row in r.customers:
        complaints = [c for c in COMPLAINTS if c.customer == row.customer_id and in_month(c.received_local, 2026, month)]
        calls = [s for s in specs if s.customer == row.customer_id and in_month(s.opened_local, 2026, month)
                 and s.service_type != "D"]
        assert row.complaints_count == len(complaints)
        assert row.by_class_count == {cls: sum(1 for c in complaints if c.complaint_class == cls)
                                      for cls in ("quality", "non_quality", "other")}
        assert row.service_calls_count == len(calls) > 0
        assert row.complaint_rate_pct == pytest.approx(100 * len(complaints) / len(calls))


def test_november_pinned_by_hand_and_the_date_it_is_due(db_session_factory, config):
    with db_session_factory() as session:
        insert_complaints(session)
        session.commit()
    with db_session_factory() as session:
        r = complaint_rate_report(session, config, period=parse_month("2026-11"), now=NOW)
    harbour = next(c for c in r.customers if c.customer_id == "harbour")
    # 23:45 on Nov 30 in New York (Dec 1 in UTC) is November's; 00:10 on Dec 1 is not.
    assert harbour.by_class_count == {"quality": 2, "non_quality": 1, "other": 0}
    assert harbour.service_calls_count == 0 and harbour.complaint_rate_pct is None
    assert harbour.due_at == datetime(2026, 12, 5, 22, 0, tzinfo=UTC)  # 17:00 EST
    city = next(c for c in r.customers if c.customer_id == "citygas")
    # 00:15 on Nov 1 in Shanghai (Oct 31 in UTC) counts; 23:00 on Oct 31 in Shanghai does not.
    assert city.by_class_count == {"quality": 1, "non_quality": 0, "other": 1}
    assert city.due_at == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
    assert due_at(parse_month("2026-12"), "Asia/Shanghai") == datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
