"""Resolve-by (same day, else a committed time with a reason) and mutes that run out.

Runs on SQLite and on the machine's PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sitewatch.config.load import load_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.deadlines import Deadlines
from sitewatch.tickets.sla import same_day_resolve_by
from sitewatch.tickets.workflow import InvalidTransition, MissingDetails, commit_resolution, mute_alert
from sitewatch.tickets.writer import TicketWriter

# 10:00 on a Friday in Shanghai; site "north" is zone ring2 (3 calendar hours).
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SHANGHAI_MIDNIGHT = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config():
    return load_config("config/sitewatch.example.toml")


def fault(at: datetime, state: AlertState = AlertState.FIRING) -> AlertTransition:
    return AlertTransition(
        fingerprint="rs-north-01/outlet-high/outlet_kpa", asset_id="rs-north-01", rule_id="outlet-high",
        channel="outlet_kpa", state=state, at=at, severity=Severity.MAJOR, value=3.1, unit="kPa",
        summary="rs-north-01: outlet_kpa 3.100 kPa above 2.9 kPa for 10 s",
    )


def test_same_day_means_the_sites_day_unless_the_arrival_is_due_later():
    assert same_day_resolve_by(opened_at=T0, arrive_by=T0 + timedelta(hours=3), time_zone="Asia/Shanghai") \
        == SHANGHAI_MIDNIGHT
    late = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, due on site at 02:00
    assert same_day_resolve_by(opened_at=late, arrive_by=late + timedelta(hours=3), time_zone="Asia/Shanghai") \
        == SHANGHAI_MIDNIGHT + timedelta(days=1)
    # Berlin on the night clocks go back: the next local midnight is 25 hours after the last
    berlin = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 CEST on Sunday 25 October
    assert same_day_resolve_by(opened_at=berlin, arrive_by=berlin, time_zone="Europe/Berlin") \
        == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


def test_a_missed_same_day_deadline_is_recorded_once_and_a_commitment_sets_the_next(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    deadlines = Deadlines(sessions=db_session_factory, config=config)
    writer.apply([fault(T0)])
    with db_session_factory() as session:
        ticket = session.scalars(select(TicketRow)).one()
        assert ticket.resolve_by == SHANGHAI_MIDNIGHT
        ticket_id = ticket.id
    assert deadlines.check_resolutions(now=SHANGHAI_MIDNIGHT - timedelta(seconds=1)) == 0
    assert deadlines.check_resolutions(now=SHANGHAI_MIDNIGHT + timedelta(seconds=1)) == 1
    assert deadlines.check_resolutions(now=SHANGHAI_MIDNIGHT + timedelta(hours=1)) == 0, "recorded once"
    committed = SHANGHAI_MIDNIGHT + timedelta(days=2)
    with db_session_factory() as session:
        with pytest.raises(MissingDetails, match="reason"):
            commit_resolution(session, ticket_id, resolve_by=committed, reason=" ", actor="desk", at=T0)
        with pytest.raises(MissingDetails, match="not in the future"):
            commit_resolution(session, ticket_id, resolve_by=T0, reason="parts", actor="desk", at=T0)
        commit_resolution(session, ticket_id, resolve_by=committed, reason="regulator spring on order from the maker",
                          actor="desk", at=SHANGHAI_MIDNIGHT + timedelta(hours=2))
        session.commit()
    assert deadlines.check_resolutions(now=committed - timedelta(seconds=1)) == 0
    assert deadlines.check_resolutions(now=committed + timedelta(seconds=1)) == 1, "the committed time missed too"
    with db_session_factory() as session:
        ticket = session.get(TicketRow, ticket_id)
        assert ticket.resolve_breached and ticket.priority == 1
        assert ticket.resolve_reason == "regulator spring on order from the maker"
        actions = session.scalars(
            select(AuditRow.action).where(AuditRow.entity == "ticket").order_by(AuditRow.id)
        ).all()
        assert actions == ["opened", "resolve_overdue", "resolution_committed", "resolve_overdue"]


def test_a_mute_silences_escalation_and_is_announced_again_if_still_firing(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    writer.apply([fault(T0)])
    with db_session_factory() as session:
        alert_id = session.scalars(select(AlertRow.id)).one()
        with pytest.raises(MissingDetails, match="at most"):
            mute_alert(session, alert_id, actor="desk", at=T0, duration=timedelta(days=2), reason="noisy")
        mute_alert(session, alert_id, actor="desk", at=T0, duration=timedelta(minutes=30), reason="crew on the way")
        session.commit()
    assert writer.end_mutes(now=T0 + timedelta(minutes=29)) == 0
    assert writer.end_mutes(now=T0 + timedelta(minutes=30)) == 1
    assert writer.end_mutes(now=T0 + timedelta(minutes=31)) == 0, "announced once"
    # muted again, and it resolves meanwhile: nothing to announce when the mute ends
    with db_session_factory() as session:
        mute_alert(session, alert_id, actor="desk", at=T0 + timedelta(minutes=40), duration=timedelta(minutes=5),
                   reason="again")
        session.commit()
    writer.apply([fault(T0 + timedelta(minutes=42), AlertState.RESOLVED)])
    assert writer.end_mutes(now=T0 + timedelta(minutes=50)) == 0
    with db_session_factory() as session:
        with pytest.raises(InvalidTransition, match="only a firing alert"):
            mute_alert(session, alert_id, actor="desk", at=T0 + timedelta(hours=1), duration=timedelta(minutes=5),
                       reason="late")
        actions = session.scalars(
            select(AuditRow.action).where(AuditRow.entity == "alert").order_by(AuditRow.id)
        ).all()
        assert actions == ["fired", "muted", "announced", "muted", "resolved"]


def test_a_muted_intrusion_is_not_escalated_until_the_mute_ends(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    deadlines = Deadlines(sessions=db_session_factory, config=config)
    intrusion = AlertTransition(
        fingerprint="ah-north-01/intrusion/zone_03_alarm", asset_id="ah-north-01", rule_id="intrusion",
        channel="zone_03_alarm", state=AlertState.FIRING, at=T0, severity=Severity.MAJOR, value=1.0, unit="state",
        summary="ah-north-01: zone_03_alarm",
    )
    writer.apply([intrusion])
    with db_session_factory() as session:
        alert_id = session.scalars(select(AlertRow.id)).one()
        mute_alert(session, alert_id, actor="desk", at=T0 + timedelta(seconds=10), duration=timedelta(minutes=10),
                   reason="guard checking the zone")
        session.commit()
    assert deadlines.escalate_unacknowledged(now=T0 + timedelta(minutes=5)) == 0, "muted"
    assert deadlines.escalate_unacknowledged(now=T0 + timedelta(minutes=11)) == 1, "the mute ran out, nobody answered"
