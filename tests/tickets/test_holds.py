"""Alerts that are recorded but page nobody: an offline asset and what depends on it, an
inspection in progress; and their announcement when the reason ends while they still fire.

Runs on SQLite and on the machine's PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.inspections.visits import InspectionRefused, finish_inspection, start_inspection
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.holds import Holds
from sitewatch.tickets.writer import TicketWriter

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
GRACE_S = 30.0


@pytest.fixture(scope="module")
def config():
    raw = example_config()
    station = raw["assets"][0]
    raw["assets"].append({
        "id": "cam-north-01", "site": "north", "kind": "camera", "name": "Gate camera",
        "depends_on": station["id"],  # reached through the station's RTU link
        "onvif": {"host": "127.0.0.1", "port": 8080, "credential": "cam-north-01"},
    })
    raw["rules_engine"] = {"release_grace_s": GRACE_S}
    return config_from_dict(raw)


def fired(asset_id: str, rule_id: str, channel: str, at: datetime, state=AlertState.FIRING, severity=Severity.MAJOR):
    return AlertTransition(
        fingerprint=f"{asset_id}/{rule_id}/{channel}", asset_id=asset_id, rule_id=rule_id, channel=channel,
        state=state, at=at, severity=severity, value=None, unit="", summary=f"{asset_id}: {rule_id} {state.value}",
    )


def held_by(factory) -> dict[str, str | None]:
    with factory() as session:
        return {a.fingerprint: a.suppressed_by for a in session.scalars(select(AlertRow))}


def ticket_fingerprints(factory) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(TicketRow.fingerprint).order_by(TicketRow.id)))


def test_an_offline_station_holds_its_other_alerts_and_those_of_what_depends_on_it(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    offline = fired("rs-north-01", "no-data", "outlet_kpa", T0)
    summary = writer.apply([
        offline,
        fired("rs-north-01", "outlet-high", "outlet_kpa", T0 + timedelta(seconds=1)),
        fired("cam-north-01", "camera-offline", "reachable", T0 + timedelta(seconds=2)),
    ])
    assert (summary.alerts_opened, summary.tickets_opened, summary.suppressed) == (3, 1, 2)
    assert ticket_fingerprints(db_session_factory) == ["rs-north-01/no-data/outlet_kpa"], "one ticket: the station"
    assert held_by(db_session_factory) == {
        "rs-north-01/no-data/outlet_kpa": None,
        "rs-north-01/outlet-high/outlet_kpa": "offline:rs-north-01",
        "cam-north-01/camera-offline/reachable": "offline:rs-north-01",
    }
    back = T0 + timedelta(minutes=5)
    writer.apply([fired("rs-north-01", "no-data", "outlet_kpa", back, state=AlertState.RESOLVED)])
    # The camera's own data resolves it in the grace time: nothing to announce for it.
    writer.apply([fired("cam-north-01", "camera-offline", "reachable", back + timedelta(seconds=5),
                        state=AlertState.RESOLVED)])
    assert writer.release_held(now=back + timedelta(seconds=GRACE_S - 1)) == 0, "the station has only just come back"
    assert writer.release_held(now=back + timedelta(seconds=GRACE_S + 1)) == 1
    assert ticket_fingerprints(db_session_factory) == [
        "rs-north-01/no-data/outlet_kpa", "rs-north-01/outlet-high/outlet_kpa"
    ], "the pressure alert outlasted the outage: now it pages; the camera never does"
    assert writer.release_held(now=back + timedelta(minutes=5)) == 0, "announced once"


def test_an_inspection_in_progress_holds_paging_and_what_outlasts_it_is_announced(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    with db_session_factory() as session:
        inspection = start_inspection(session, config, site_id="north", asset_id="rs-north-01",
                                      kind="regulator_round", in_charge="Zhang San", people=["Li Si"],
                                      actor="zhang.san", at=T0)
        session.commit()
        inspection_id = inspection.id
        assert inspection.people == ["Zhang San", "Li Si"]
    lockup_test = fired("rs-north-01", "outlet-high", "outlet_kpa", T0 + timedelta(minutes=5), severity=Severity.CRITICAL)
    left_open = fired("rs-north-01", "mains-loss", "mains_ok", T0 + timedelta(minutes=6))
    other_site = fired("ah-north-01", "tamper", "tamper", T0 + timedelta(minutes=7))
    summary = writer.apply([lockup_test, left_open, other_site])
    assert (summary.suppressed, summary.tickets_opened) == (2, 1), "the alarm host is not being inspected"
    assert held_by(db_session_factory)["rs-north-01/outlet-high/outlet_kpa"] == f"inspection:{inspection_id}"
    # the lock-up test ends before the technicians leave: recorded, never paged
    writer.apply([fired("rs-north-01", "outlet-high", "outlet_kpa", T0 + timedelta(minutes=10),
                        state=AlertState.RESOLVED)])
    assert writer.release_held(now=T0 + timedelta(minutes=20)) == 0, "still on site"
    with db_session_factory() as session:
        finish_inspection(session, inspection_id, actor="zhang.san", at=T0 + timedelta(minutes=30))
        session.commit()
        with pytest.raises(InspectionRefused, match="finished at"):
            finish_inspection(session, inspection_id, actor="zhang.san", at=T0 + timedelta(minutes=31))
    assert writer.release_held(now=T0 + timedelta(minutes=30, seconds=1)) == 1
    assert sorted(ticket_fingerprints(db_session_factory)) == [
        "ah-north-01/tamper/tamper", "rs-north-01/mains-loss/mains_ok"
    ]
    with db_session_factory() as session:
        actions = session.scalars(select(AuditRow.action).where(AuditRow.entity == "inspection")).all()
        assert actions == ["started", "finished"]


def test_a_firing_alert_that_steps_up_raises_its_ticket_once(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    gas = lambda at, severity: fired("rs-north-01", "gas", "gas_lel_pct", at, severity=severity)  # noqa: E731
    writer.apply([gas(T0, Severity.WARNING)])
    step = writer.apply([gas(T0 + timedelta(seconds=20), Severity.CRITICAL)])
    again = writer.apply([gas(T0 + timedelta(seconds=21), Severity.CRITICAL), gas(T0 + timedelta(seconds=22),
                                                                                  Severity.WARNING)])
    assert (step.escalated, again.escalated, again.ignored) == (1, 0, 2)
    with db_session_factory() as session:
        alert = session.scalars(select(AlertRow)).one()
        ticket = session.scalars(select(TicketRow)).one()
        assert (alert.severity, ticket.severity, ticket.priority) == ("critical", "critical", 1)
        actions = session.scalars(select(AuditRow.action).where(AuditRow.entity == "ticket").order_by(AuditRow.id)).all()
        assert actions == ["opened", "escalated"]


def began(transition: AlertTransition, at: datetime) -> AlertTransition:
    return dataclasses.replace(transition, began_at=at)


def test_after_the_return_only_what_the_outage_caused_waits_a_new_fault_pages_at_once(db_session_factory, config):
    writer = TicketWriter(sessions=db_session_factory, config=config)
    writer.apply([fired("rs-north-01", "no-data", "outlet_kpa", T0)])
    back = T0 + timedelta(minutes=5)
    writer.apply([fired("rs-north-01", "no-data", "outlet_kpa", back, state=AlertState.RESOLVED)])
    soon = back + timedelta(seconds=10)
    summary = writer.apply([
        # a pressure fault whose condition began on samples taken after the return: new
        began(fired("rs-north-01", "outlet-high", "outlet_kpa", soon, severity=Severity.CRITICAL), soon),
        # the camera behind the station: its silence began during the outage — a consequence
        began(fired("cam-north-01", "camera-offline", "reachable", soon), T0 - timedelta(seconds=30)),
        # a condition that began before the return (the pending stretch spans it): a consequence
        began(fired("rs-north-01", "door-open", "door_open", soon), back - timedelta(seconds=5)),
    ])
    assert (summary.tickets_opened, summary.suppressed) == (1, 2)
    assert held_by(db_session_factory) == {
        "rs-north-01/no-data/outlet_kpa": None,
        "rs-north-01/outlet-high/outlet_kpa": None,
        "cam-north-01/camera-offline/reachable": "offline:rs-north-01",
        "rs-north-01/door-open/door_open": "offline:rs-north-01",
    }


@pytest.mark.parametrize("hold", ["inspection", "offline", "settling"])
def test_gas_pages_whatever_holds_other_alerts(db_session_factory, config, hold):
    """The example's gas rule says held_by = ["maintenance"]: an inspection in progress, an
    offline station or one just back never keeps a leak from paging."""
    writer = TicketWriter(sessions=db_session_factory, config=config)
    at = T0 + timedelta(minutes=1)
    if hold == "inspection":
        with db_session_factory() as session:
            start_inspection(session, config, site_id="north", asset_id="rs-north-01", kind="regulator_round",
                             in_charge="Zhang San", people=["Li Si"], actor="zhang.san", at=T0)
            session.commit()
    else:
        writer.apply([fired("rs-north-01", "no-data", "outlet_kpa", T0)])
        if hold == "settling":
            writer.apply([fired("rs-north-01", "no-data", "outlet_kpa", at, state=AlertState.RESOLVED)])
            at += timedelta(seconds=GRACE_S / 2)
    leak = fired("rs-north-01", "gas", "gas_lel_pct", at, severity=Severity.WARNING)
    door = fired("rs-north-01", "door-open", "door_open", at - timedelta(seconds=GRACE_S))  # began long before
    summary = writer.apply([began(leak, at - timedelta(seconds=GRACE_S)), door])
    assert summary.suppressed == 1, "the door is held, as before"
    assert held_by(db_session_factory)["rs-north-01/gas/gas_lel_pct"] is None
    assert "rs-north-01/gas/gas_lel_pct" in ticket_fingerprints(db_session_factory)


def test_a_maintenance_window_holds_gas_too(db_session_factory):
    raw = example_config()
    raw["maintenance_windows"] = [{"id": "mw-1", "reason": "purging the station", "assets": ["rs-north-01"],
                                   "start": T0 - timedelta(hours=1), "end": T0 + timedelta(hours=1)}]
    writer = TicketWriter(sessions=db_session_factory, config=config_from_dict(raw))
    writer.apply([fired("rs-north-01", "gas", "gas_lel_pct", T0, severity=Severity.WARNING)])
    assert held_by(db_session_factory) == {"rs-north-01/gas/gas_lel_pct": "maintenance:mw-1"}
    assert ticket_fingerprints(db_session_factory) == []


def test_at_work_names_the_assets_under_a_window_or_an_inspection(db_session_factory):
    raw = example_config()
    raw["maintenance_windows"] = [{"id": "mw-1", "reason": "lock-up test", "assets": ["rs-north-01"],
                                   "start": T0, "end": T0 + timedelta(hours=1)}]
    config = config_from_dict(raw)
    holds = Holds(config)
    with db_session_factory() as session:
        assert holds.at_work(session, at=T0 - timedelta(seconds=1)) == frozenset()
        assert holds.at_work(session, at=T0) == {"rs-north-01"}
        start_inspection(session, config, site_id="north", asset_id=None, kind="security_monthly",
                         in_charge="Zhang San", people=[], actor="zhang.san", at=T0 + timedelta(hours=2))
        session.commit()
        assert holds.at_work(session, at=T0 + timedelta(hours=2)) == {"rs-north-01", "ah-north-01"}, "the whole site"
        assert holds.at_work(session, at=T0 + timedelta(hours=1, minutes=30)) == frozenset()
