"""The monthly inspection report per site and system, seeded through the inspection
workflow itself (start, record, finish with the door-sensor check), on SQLite and
PostgreSQL, in Shanghai (UTC+8) across the November/December boundary."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sitewatch.domain.time import UTC
from sitewatch.inspections.due import due_list, mark_rain
from sitewatch.inspections.plans import Status
from sitewatch.inspections.records import ResultEntry, record_pressure_test, record_results
from sitewatch.inspections.visits import finish_inspection, start_inspection
from sitewatch.reports.inspection import inspection_report
from sitewatch.reports.overdue import overdue_at
from sitewatch.reports.periods import parse_month
from sitewatch.reports.scope import ReportNotFound

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def inspect(session, config, store, *, kind, at, asset_id=None, results=(), pressure=None):
    row = start_inspection(session, config, site_id="north", asset_id=asset_id, kind=kind, in_charge="Zhang San",
                           people=["Li Si"], actor="zhang.san", at=at)
    if results:
        record_results(session, config, row.id, list(results), actor="zhang.san", at=at)
    if pressure:
        record_pressure_test(session, config, row.id, asset_id=asset_id, path="running", actor="zhang.san", at=at,
                             **pressure)
    finish_inspection(session, row.id, actor="zhang.san", at=at + timedelta(minutes=50), config=config, store=store)
    session.commit()
    return row


@pytest.fixture
def seeded(db_session_factory, config, store):
    ok, fault = "ok", "fault"
    with db_session_factory() as session:
        inspect(session, config, store, kind="regulator_round", asset_id="rs-north-01", at=local(2026, 11, 3, 10, 0),
                results=[ResultEntry("vents", ok), ResultEntry("leak_check", fault, "smell at the filter flange"),
                         ResultEntry("cleaning", "na")])
        inspect(session, config, store, kind="regulator_seasonal", asset_id="rs-north-01",
                at=local(2026, 11, 5, 9, 0), results=[ResultEntry("vents", ok)],
                pressure={"operating_kpa": 2.5, "lock_up_kpa": 2.4, "relief_kpa": 3.5, "slam_shut_kpa": 4.5})
        # 23:30 on the month's last day (15:30 UTC): November's.
        inspect(session, config, store, kind="regulator_round", asset_id="rs-north-01",
                at=local(2026, 11, 30, 23, 0), results=[ResultEntry("vents", ok), ResultEntry("doors_windows", ok)])
        # 00:30 on Dec 1 (still Nov 30 in UTC): December's.
        inspect(session, config, store, kind="regulator_round", asset_id="rs-north-01", at=local(2026, 12, 1, 0, 30))
        inspect(session, config, store, kind="security_monthly", at=local(2026, 11, 10, 14, 0),
                results=[ResultEntry("front_end", ok, target_id="ah-north-01"),
                         ResultEntry("playback_clarity", fault, "recorder 3 blurred", target_id="ah-north-01")])
        inspect(session, config, store, kind="cathodic_protection", asset_id="cp-n-1", at=local(2026, 11, 12, 11, 0),
                results=[ResultEntry("potential_in_range", fault, "-790 mV")])
        # Another site's work is not this report's.
        start_inspection(session, config, site_id="berlin", asset_id="rs-berlin-01", kind="regulator_round",
                         in_charge="Anna", people=["Jonas"], actor="anna", at=local(2026, 11, 4, 10, 0))
        # Rain on Nov 20: the low-lying well is due by Nov 22, overdue at the month's end,
        # though it was done on Dec 2 (after the month).
        mark_rain(session, config, site_id="north", at=local(2026, 11, 20, 8, 0), actor="desk")
        session.commit()
        inspect(session, config, store, kind="valve_well_after_rain", asset_id="well-n-1", at=local(2026, 12, 2, 9, 0))
    return db_session_factory


def test_the_month_per_system(seeded, config):
    with seeded() as session:
        r = inspection_report(session, config, site_id="north", period=parse_month("2026-11"), now=NOW)
    systems = {s.system: s for s in r.systems}
    regulators = systems["regulator_stations"]
    assert [(i.kind, i.started_at) for i in regulators.inspections] == [
        ("regulator_round", local(2026, 11, 3, 10, 0)), ("regulator_seasonal", local(2026, 11, 5, 9, 0)),
        ("regulator_round", local(2026, 11, 30, 23, 0))]
    assert {k.kind: k.count for k in regulators.done_by_kind} == {
        "regulator_round": 2, "regulator_seasonal": 1, "regulator_overhaul": 0}
    assert (regulators.items_checked_count, regulators.items_failed_count) == (5, 1)
    assert sorted(f.source for f in regulators.findings) == ["checklist", "pressure-test"]
    assert "smell at the filter flange" in " ".join(f.detail for f in regulators.findings)
    # No door sensor data in the store: each of the three is flagged for the manager.
    assert [f.kind for f in regulators.flags] == ["door-no-data"] * 3
    assert regulators.overdue_at_end == []

    security = systems["security_systems"]
    assert len(security.inspections) == 1 and security.inspections[0].target_id == "site:north"
    assert (security.items_checked_count, security.items_failed_count) == (2, 1)
    assert [f.detail for f in security.findings] == ["playback_clarity: recorder 3 blurred"]
    assert security.flags == []

    plant = systems["field_plant"]
    assert [(i.kind, i.items_failed_count) for i in plant.inspections] == [("cathodic_protection", 1)]
    assert [(o.target_id, o.kind, o.due_on.isoformat()) for o in plant.overdue_at_end] == [
        ("well-n-1", "valve_well_after_rain", "2026-11-22")]
    assert r.overdue_as_of == local(2026, 12, 1, 0, 0) - timedelta(microseconds=1)


def test_december_has_its_own_work(seeded, config):
    with seeded() as session:
        r = inspection_report(session, config, site_id="north", period=parse_month("2026-12"), now=NOW)
    systems = {s.system: s for s in r.systems}
    assert [i.started_at for i in systems["regulator_stations"].inspections] == [local(2026, 12, 1, 0, 30)]
    assert [i.kind for i in systems["field_plant"].inspections] == ["valve_well_after_rain"]
    assert r.overdue_as_of == NOW, "the month has not ended: overdue as of the report's time"


def test_overdue_now_agrees_with_the_due_list(seeded, config):
    """With nothing after ``at``, the report's overdue list is inspections/due.py's."""
    for at in (NOW, NOW + timedelta(days=40), local(2026, 11, 25, 12, 0)):
        with seeded() as session:
            ours = {(o.target_id, o.kind, o.due_on) for o in overdue_at(session, config, site_id="north", at=at)}
            if at >= local(2026, 12, 2, 10, 0):
                theirs = {(i.due.target.target_id, i.due.kind, i.due.due_on)
                          for i in due_list(session, config, now=at, site_id="north") if i.due.status is Status.OVERDUE}
                assert ours == theirs
            else:
                assert ("well-n-1", "valve_well_after_rain") in {(t, k) for t, k, _ in ours}


def test_an_unknown_site_is_not_found(db_session_factory, config):
    with db_session_factory() as session, pytest.raises(ReportNotFound):
        inspection_report(session, config, site_id="nowhere", period=parse_month("2026-11"), now=NOW)
