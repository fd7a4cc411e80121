"""Contract reminders: 3 months and 1 month before the free-maintenance end and the contract
end, once each, as type D tickets; month ends clamp. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sitewatch.inspections.contracts import check_contracts, reminders_due
from sitewatch.inspections.daily import DailyChecks
from sitewatch.storage.tables import TicketRow
from tests.tickets.forms import close_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at_local(y: int, m: int, d: int, hour: int = 9) -> datetime:
    return datetime(y, m, d, hour, tzinfo=SHANGHAI)


def test_reminder_dates_clamp_to_month_ends(config):
    north = config.site("north")  # free maintenance until 2027-03-31, contract until 2027-12-31
    assert reminders_due(north, date(2026, 12, 30)) == []
    [three] = reminders_due(north, date(2026, 12, 31))
    assert (three.what, three.lead_months, three.fingerprint) == (
        "free-maintenance-end", 3, "north/free-maintenance-end/2027-03-31/3m")
    [one] = reminders_due(north, date(2027, 2, 28))  # Mar 31 - 1 month = Feb 28
    assert (one.lead_months, one.remind_on) == (1, date(2027, 2, 28))
    assert [r.lead_months for r in reminders_due(north, date(2027, 2, 27))] == [3]
    assert [(r.what, r.lead_months) for r in reminders_due(north, date(2027, 9, 30))] == [("contract-end", 3)]
    assert reminders_due(north, date(2028, 1, 1)) == [], "after the end: nothing left to remind"


def test_each_reminder_is_sent_once_as_a_type_d_ticket_even_after_it_is_closed(db_session_factory, config):
    with db_session_factory() as session:
        def run(now: datetime) -> list[str]:
            opened = [t.fingerprint for t in check_contracts(session, config, now=now)]
            session.commit()
            return opened

        assert run(at_local(2026, 12, 30)) == []
        # 00:30 on Dec 31 in Shanghai is still Dec 30 in UTC: the site's calendar decides.
        assert run(at_local(2026, 12, 31, 0) + timedelta(minutes=30)) == ["north/free-maintenance-end/2027-03-31/3m"]
        assert run(at_local(2027, 1, 15)) == [], "already sent"
        [ticket] = session.scalars(select(TicketRow)).all()
        assert (ticket.service_type, ticket.source, ticket.asset_id) == ("D", "contract", "site:north")
        assert "free maintenance ends on 2027-03-31 (in 3 months)" in ticket.title
        close_ticket(session, ticket.id, at=at_local(2027, 1, 20))
        session.commit()
        assert run(at_local(2027, 2, 1)) == [], "closed is still sent: once means once"
        assert run(at_local(2027, 2, 28)) == ["north/free-maintenance-end/2027-03-31/1m"]
        assert run(at_local(2027, 3, 31)) == []
        assert run(at_local(2027, 9, 30)) == ["north/contract-end/2027-12-31/3m"]
        assert run(at_local(2027, 11, 30)) == ["north/contract-end/2027-12-31/1m"]
        assert run(at_local(2027, 12, 31)) == []
        services = session.scalars(select(TicketRow.service_type)).all()
        assert services == ["D"] * 4


def test_a_contract_configured_late_gets_only_its_one_month_reminder(db_session_factory, config):
    with db_session_factory() as session:
        opened = check_contracts(session, config, now=at_local(2027, 12, 10))
        session.commit()
        assert [t.fingerprint for t in opened] == ["north/contract-end/2027-12-31/1m"]


def test_the_daily_check_opens_reminders_and_counts_overdue_inspections(db_session_factory, config):
    checks = DailyChecks(sessions=db_session_factory, config=config)
    first = checks.run(now=at_local(2027, 3, 1))
    # The 1-month reminder; the Berlin regulator (domestic, in service since 2021-06-01) is overdue for its overhaul.
    assert first["reminders"] == 1 and first["overdue"] > 0
    assert checks.run(now=at_local(2027, 3, 1, 10))["reminders"] == 0
