"""The quarterly maintenance report against a plain computation of the seeded tickets, on
SQLite and PostgreSQL, in three zones across month and quarter boundaries."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from pypdf import PdfReader

from sitewatch import i18n
from sitewatch.domain.time import UTC
from sitewatch.i18n.fonts import find_cjk_font
from sitewatch.reports.export import maintenance_html, maintenance_pdf
from sitewatch.reports.maintenance import maintenance_report
from sitewatch.reports.periods import parse_quarter
from sitewatch.reports.scope import ReportNotFound
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets import titles
from tests.reports.seed import (
    COMPLAINTS,
    EDGES,
    TicketSpec,
    deadline_counts,
    in_month,
    in_quarter,
    insert_complaints,
    insert_tickets,
    ticket_specs,
)

AFTER_Q4 = datetime(2027, 1, 20, tzinfo=UTC)
IN_Q4 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture
def seeded(db_session_factory):
    specs = ticket_specs()
    with db_session_factory() as session:
        insert_tickets(session, specs)
        insert_complaints(session)
        session.commit()
    return db_session_factory, specs


@pytest.mark.parametrize("customer", ["citygas", "harbour"])
@pytest.mark.parametrize("now", [AFTER_Q4, IN_Q4], ids=["after", "during"])
def test_the_quarter_equals_a_plain_computation(seeded, config, customer, now):
    factory, specs = seeded
    # The report counts what is stored; at IN_Q4 the seed's later tickets are simply not yet due.
    mine = [s for s in specs if s.customer == customer and in_quarter(s.opened_local, 2026, 4)]
    with factory() as session:
        r = maintenance_report(session, config, customer_id=customer, period=parse_quarter("2026-Q4"), now=now)
    assert r.tickets_count == len(mine) > 5
    for month, m in zip((10, 11, 12), r.tickets_by_month, strict=True):
        assert m.month == f"2026-{month}"
        for kind in "ABCD":
            assert m.by_service_type_count[kind] == sum(
                1 for s in mine if in_month(s.opened_local, 2026, month) and s.service_type == kind)
    met, missed, not_due = deadline_counts(mine, now, deadline="arrive")
    assert (r.arrival.met_count, r.arrival.missed_count, r.arrival.not_due_count) == (met, missed, not_due)
    assert r.arrival.compliance_pct == pytest.approx(100 * met / (met + missed))
    met, missed, not_due = deadline_counts(mine, now, deadline="resolve")
    assert (r.resolution.met_count, r.resolution.missed_count, r.resolution.not_due_count) == (met, missed, not_due)
    assert r.resolution.compliance_pct == pytest.approx(100 * met / (met + missed))
    assert r.resolved_count == sum(1 for s in mine if s.resolved_h is not None)

    assert [(f.ticket_id, f.repeat_of, f.asset_id) for f in r.repeat_faults] == [
        (s.id, s.repeat_of, {"north": "rs-north-01", "berlin": "rs-berlin-01", "harbour": "ah-harbour-01"}[s.site])
        for s in sorted(mine, key=lambda s: (s.opened_utc, s.id)) if s.repeat_of is not None]
    assert all(f.asset_name.endswith(("regulator station", "alarm host")) for f in r.repeat_faults)

    rated = [s.rating for s in mine if s.rating is not None]
    assert r.satisfaction.rated_count == len(rated) > 0
    for index, axis in enumerate(("attitude", "skill", "arrival_time", "follow_through")):
        values = [rating[index] for rating in rated]
        assert getattr(r.satisfaction, f"{axis}_mean") == pytest.approx(sum(values) / len(values))
        assert r.satisfaction.levels_count[axis] == [values.count(level) for level in (1, 2, 3, 4)]

    complaints = [c for c in COMPLAINTS if c.customer == customer and in_quarter(c.received_local, 2026, 4)]
    for cls in ("quality", "non_quality", "other"):
        assert r.complaints_by_class_count[cls] == sum(1 for c in complaints if c.complaint_class == cls)


def test_local_midnight_decides_the_period_not_utc(db_session_factory, config):
    with db_session_factory() as session:
        insert_tickets(session, list(EDGES))
        session.commit()
    with db_session_factory() as session:
        harbour = maintenance_report(session, config, customer_id="harbour", period=parse_quarter("2026-Q4"),
                                     now=AFTER_Q4)
        q3 = maintenance_report(session, config, customer_id="harbour", period=parse_quarter("2026-Q3"),
                                now=AFTER_Q4)
        city_q1 = maintenance_report(session, config, customer_id="citygas", period=parse_quarter("2027-Q1"),
                                     now=AFTER_Q4)
        city_q4 = maintenance_report(session, config, customer_id="citygas", period=parse_quarter("2026-Q4"),
                                     now=AFTER_Q4)
    # Ticket 1 (23:30 New York on Nov 30, Dec 1 in UTC) is November's; ticket 6 likewise (type D).
    by_month = {m.month: m.by_service_type_count for m in harbour.tickets_by_month}
    assert by_month["2026-11"] == {"A": 1, "B": 0, "C": 0, "D": 1}
    # Ticket 2 (23:30 on Dec 31, 2027 in UTC) is in Q4's December; ticket 3 (23:30 on Sep 30) in Q3.
    assert by_month["2026-12"] == {"A": 0, "B": 0, "C": 1, "D": 0} and harbour.tickets_count == 3
    assert q3.tickets_count == 1 and q3.tickets_by_month[2].by_service_type_count["B"] == 1
    # Ticket 4: 00:30 on Oct 1 in Shanghai (Sep 30 in UTC) is Q4's; ticket 5: 00:30 on 2027-01-01
    # (still Dec 31 in UTC) is next year's.
    assert city_q1.tickets_count == 1 and city_q4.tickets_count == 1
    assert city_q4.tickets_by_month[0].by_service_type_count["B"] == 1
    assert harbour.time_zones == ["America/New_York"] and harbour.customer_name == "Harbour Security Ltd"


def test_an_unknown_customer_is_not_found(db_session_factory, config):
    with db_session_factory() as session, pytest.raises(ReportNotFound):
        maintenance_report(session, config, customer_id="nobody", period=parse_quarter("2026-Q4"), now=AFTER_Q4)


def test_repeat_faults_are_titled_in_the_readers_language(db_session_factory, config):
    down = titles.site_down("North district")
    with db_session_factory() as session:
        insert_tickets(session, [TicketSpec(1, "north", datetime(2026, 10, 5, 9, 0)),
                                 TicketSpec(2, "north", datetime(2026, 11, 5, 9, 0), repeat_of=1),
                                 TicketSpec(3, "north", datetime(2026, 12, 5, 9, 0), repeat_of=1)])
        repeat = session.get(TicketRow, 2)
        repeat.title, repeat.title_msg = down.text(), down.to_json()
        session.commit()
    with db_session_factory() as session:
        r = maintenance_report(session, config, customer_id="citygas", period=parse_quarter("2026-Q4"), now=AFTER_Q4)
    assert [(f.ticket_id, f.title, f.title_msg) for f in r.repeat_faults] == [
        (2, down.text(), down.to_json()), (3, "seeded fault 3", None)]
    chinese = "North district：站内设备同时失联——站点网络或供电故障？"
    with i18n.using("zh_CN"):
        html = maintenance_html(r)
    assert chinese in html and down.text() not in html
    assert "seeded fault 3" in html, "a title typed without a message shows as stored"
    with i18n.using("en"):
        assert down.text() in maintenance_html(r)
    if find_cjk_font() is None:
        pytest.skip("no Chinese TrueType font on this machine (Debian: fonts-wqy-microhei)")
    with i18n.using("zh_CN"):
        pdf = maintenance_pdf(r)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "站内设备同时失联" in text and "went silent" not in text and "seeded fault 3" in text
