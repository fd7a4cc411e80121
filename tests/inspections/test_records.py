"""Recording an inspection: the two-person rule, checklists, field readings against SCADA
(one calibration ticket however often the difference is recorded), spring/autumn pressure
tests (maker repair within two weeks), and the door-sensor evidence flag.

Runs on SQLite and on the machine's PostgreSQL; SCADA samples live in a real DuckDB store."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.inspections.errors import InspectionRefused
from sitewatch.inspections.evidence import NEVER_OPENED, NO_DATA, list_flags, review_flag
from sitewatch.inspections.records import ResultEntry, record_pressure_test, record_reading, record_results
from sitewatch.inspections.visits import finish_inspection, start_inspection
from sitewatch.storage.tables import AuditRow, InspectionResultRow, TicketRow
from sitewatch.storage.timeseries import TimeSeriesError

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def start_round(session, config, *, at=T0, people=("Li Si",), kind="regulator_round", asset_id="rs-north-01"):
    row = start_inspection(session, config, site_id="north", asset_id=asset_id, kind=kind, in_charge="Zhang San",
                           people=list(people), actor="zhang.san", at=at)
    session.commit()
    return row


def outlet(ts: datetime, value: float) -> Sample:
    return Sample("rs-north-01", "outlet_kpa", ts, value, "kPa")


def test_a_regulator_round_with_one_person_is_refused(db_session_factory, config):
    with db_session_factory() as session:
        with pytest.raises(InspectionRefused, match="at least 2 people, one of them in charge; got 1: Zhang San"):
            start_round(session, config, people=())
        with pytest.raises(InspectionRefused, match="at least 2 people"):
            start_round(session, config, people=("Zhang San", " "))  # the same person twice, a blank: still one
        with pytest.raises(InspectionRefused, match="no inspection plan 'walkabout'"):
            start_round(session, config, kind="walkabout")
        with pytest.raises(InspectionRefused, match=r"not done on 'ah-north-01' \(alarm_host\)"):
            start_round(session, config, asset_id="ah-north-01")
        # One person may check a camera: the two-person rule is the regulator round's.
        start_inspection(session, config, site_id="north", asset_id="cam-north-01", kind="security_monthly",
                         in_charge="Zhao Liu", people=[], actor="zhao", at=T0)
        assert start_round(session, config).people == ["Zhang San", "Li Si"]


def test_checklist_results_are_recorded_audited_and_frozen_when_finished(db_session_factory, config):
    with db_session_factory() as session:
        inspection = start_round(session, config)
        record_results(session, config, inspection.id, [ResultEntry("vents", "ok"), ResultEntry("leak_check", "ok")],
                       actor="zhang.san", at=T0 + timedelta(minutes=5))
        record_results(session, config, inspection.id, [ResultEntry("leak_check", "fault", "smell at the filter")],
                       actor="zhang.san", at=T0 + timedelta(minutes=6))
        with pytest.raises(InspectionRefused, match="'playback_clarity' is not on the regulator_round checklist"):
            record_results(session, config, inspection.id, [ResultEntry("playback_clarity", "ok")], actor="z", at=T0)
        session.commit()
        rows = {r.item: (r.target_id, r.outcome, r.note) for r in session.scalars(select(InspectionResultRow))}
        assert rows == {"vents": ("rs-north-01", "ok", ""), "leak_check": ("rs-north-01", "fault", "smell at the filter")}
        finish_inspection(session, inspection.id, actor="zhang.san", at=T0 + timedelta(hours=1))
        session.commit()
        with pytest.raises(InspectionRefused, match="can no longer change"):
            record_results(session, config, inspection.id, [ResultEntry("vents", "fault")], actor="z", at=T0)
        changes = session.scalars(select(AuditRow.detail).where(AuditRow.action == "result").order_by(AuditRow.id)).all()
        assert [c["old"] for c in changes] == [None, None, {"outcome": "ok", "note": ""}]


def test_a_scada_difference_beyond_tolerance_opens_exactly_one_calibration_ticket(db_session_factory, config, store):
    measured = T0 + timedelta(minutes=10)
    store.write([outlet(measured - timedelta(seconds=s), 2.50) for s in range(-30, 35, 5)]
                + [Sample("rs-north-01", "inlet_mpa", measured, 0.300, "MPa")])
    with db_session_factory() as session:
        inspection = start_round(session, config)
        at = measured + timedelta(minutes=1)
        fine = record_reading(session, config, store, inspection.id, asset_id=None, channel="outlet_kpa", value=2.56,
                              unit="kPa", taken_at=measured, actor="zhang.san", at=at)
        assert (fine.scada_value, fine.within_tolerance, fine.ticket_id) == (2.5, True, None)
        off = [record_reading(session, config, store, inspection.id, asset_id=None, channel="outlet_kpa", value=2.75,
                              unit="kPa", taken_at=measured + timedelta(seconds=s), actor="zhang.san", at=at)
               for s in (0, 5)]  # recorded twice: still one ticket
        session.commit()
        assert [r.within_tolerance for r in off] == [False, False]
        assert off[0].difference == pytest.approx(0.25) and off[0].ticket_id == off[1].ticket_id is not None
        inlet = record_reading(session, config, store, inspection.id, asset_id=None, channel="inlet_mpa", value=0.305,
                               unit="MPa", taken_at=measured, actor="zhang.san", at=at)
        assert inlet.within_tolerance is True
        session.commit()
        tickets = session.scalars(select(TicketRow)).all()
        assert [(t.fingerprint, t.service_type, t.source) for t in tickets] == [
            ("rs-north-01/calibration/outlet_kpa", "D", "inspection")]
        assert "SCADA outlet_kpa reads 2.5 kPa, field reading 2.75 kPa" in tickets[0].title


def test_readings_in_the_wrong_unit_or_without_scada_nearby(db_session_factory, config, store):
    store.write([outlet(T0 - timedelta(minutes=30), 2.5),
                 Sample("rs-north-01", "outlet_kpa", T0 + timedelta(minutes=2), float("nan"), "kPa", Quality.COMM_ERROR)])
    with db_session_factory() as session:
        inspection = start_round(session, config)
        with pytest.raises(InspectionRefused, match="outlet_kpa is in kPa, the reading is in 'MPa'"):
            record_reading(session, config, store, inspection.id, asset_id=None, channel="outlet_kpa", value=0.0025,
                           unit="MPa", taken_at=T0 + timedelta(minutes=2), actor="z", at=T0 + timedelta(minutes=3))
        lonely = record_reading(session, config, store, inspection.id, asset_id=None, channel="outlet_kpa", value=9.0,
                                unit="kPa", taken_at=T0 + timedelta(minutes=2), actor="z", at=T0 + timedelta(minutes=3))
        assert (lonely.scada_value, lonely.within_tolerance, lonely.ticket_id) == (None, None, None), \
            "no good sample within a minute: nothing to compare, no ticket"
        with pytest.raises(InspectionRefused, match="outside the inspection"):
            record_reading(session, config, store, inspection.id, asset_id=None, channel="outlet_kpa", value=2.5,
                           unit="kPa", taken_at=T0 - timedelta(hours=1), actor="z", at=T0 + timedelta(minutes=3))


def test_a_non_compliant_pressure_test_has_the_maker_repair_within_two_weeks(db_session_factory, config):
    with db_session_factory() as session:
        seasonal = start_round(session, config, kind="regulator_seasonal")
        at = T0 + timedelta(minutes=40)
        ok = record_pressure_test(session, config, seasonal.id, asset_id=None, path="running", operating_kpa=2.52,
                                  lock_up_kpa=2.76, relief_kpa=3.02, slam_shut_kpa=3.48, actor="zhang.san", at=at)
        bad = record_pressure_test(session, config, seasonal.id, asset_id=None, path="standby", operating_kpa=2.5,
                                   lock_up_kpa=3.1, relief_kpa=3.0, slam_shut_kpa=3.5, actor="zhang.san", at=at)
        session.commit()
        assert (ok.compliant, ok.ticket_id) == (True, None)
        assert bad.compliant is False and any("must rise" in f for f in bad.findings)
        ticket = session.get(TicketRow, bad.ticket_id)
        assert ticket.fingerprint == "rs-north-01/maker-repair/standby"
        assert ticket.resolve_by == at + timedelta(days=14) == bad.repair_by
        assert "maker repairs" in ticket.resolve_reason


def test_an_inspection_whose_station_door_never_opened_is_flagged_for_the_manager(db_session_factory, config, store):
    end = T0 + timedelta(hours=1)
    door = [Sample("rs-north-01", "door_open", T0 + timedelta(minutes=m), 0.0, "state") for m in range(-20, 80, 5)]
    store.write(door)
    with db_session_factory() as session:
        claimed = start_round(session, config)
        finish_inspection(session, claimed.id, actor="zhang.san", at=end, config=config, store=store)
        session.commit()
        [flag] = list_flags(session, unreviewed=True)
        assert (flag.inspection_id, flag.asset_id, flag.kind) == (claimed.id, "rs-north-01", NEVER_OPENED)
        # The next day the door does open during the round: no flag.
        day2 = T0 + timedelta(days=1)
        store.write([Sample("rs-north-01", "door_open", day2 + timedelta(minutes=m), float(5 <= m <= 40), "state")
                     for m in range(0, 60, 5)])
        real = start_round(session, config, at=day2)
        finish_inspection(session, real.id, actor="zhang.san", at=day2 + timedelta(hours=1), config=config, store=store)
        # A week later the sensor sends nothing at all: flagged as unverifiable.
        day8 = T0 + timedelta(days=8)
        silent = start_round(session, config, at=day8)
        finish_inspection(session, silent.id, actor="zhang.san", at=day8 + timedelta(hours=1), config=config, store=store)
        session.commit()
        assert sorted((f.inspection_id, f.kind) for f in list_flags(session)) == [(claimed.id, NEVER_OPENED),
                                                                                  (silent.id, NO_DATA)]
        review_flag(session, flag.id, actor="manager", at=day8, note="called Zhang San: the gate sensor was loose")
        session.commit()
        assert [f.inspection_id for f in list_flags(session, unreviewed=True)] == [silent.id]
        with pytest.raises(InspectionRefused, match="was reviewed by manager"):
            review_flag(session, flag.id, actor="manager", at=day8, note="again")


class BrokenStore:
    """A time-series store whose file is locked by another process."""

    def query(self, **_kwargs):
        raise TimeSeriesError("file is locked")


def test_a_reading_is_kept_uncompared_when_scada_history_cannot_be_read(db_session_factory, config):
    with db_session_factory() as session:
        inspection = start_round(session, config)
        row = record_reading(session, config, BrokenStore(), inspection.id, asset_id=None, channel="outlet_kpa",
                             value=2.9, unit="kPa", taken_at=T0, actor="z", at=T0 + timedelta(minutes=1))
        session.commit()
        assert (row.value, row.scada_value, row.within_tolerance, row.ticket_id) == (2.9, None, None, None)
        assert session.scalars(select(TicketRow)).all() == []
