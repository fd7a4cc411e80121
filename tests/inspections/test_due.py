"""Due and overdue lists from the record, per site and per technician; rain makes the
low-lying wells due. Runs on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sitewatch.domain.time import UTC
from sitewatch.inspections.due import due_list, last_done, mark_rain
from sitewatch.inspections.records import ResultEntry, record_results
from sitewatch.inspections.visits import finish_inspection, start_inspection

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, 02:00 in Berlin


def done(session, config, *, kind, site_id="north", asset_id=None, at, results=()):
    row = start_inspection(session, config, site_id=site_id, asset_id=asset_id, kind=kind, in_charge="Zhang San",
                           people=["Li Si"], actor="zhang.san", at=at)
    if results:
        record_results(session, config, row.id, list(results), actor="zhang.san", at=at)
    finish_inspection(session, row.id, actor="zhang.san", at=at + timedelta(hours=1))
    session.commit()
    return row


def listed(items):
    return {(i.due.target.target_id, i.due.kind): (i.due.status.value, i.due.due_on, i.technician) for i in items}


def test_due_and_overdue_per_site_and_technician(db_session_factory, config):
    with db_session_factory() as session:
        done(session, config, kind="regulator_round", asset_id="rs-north-01", at=NOW - timedelta(days=20))
        done(session, config, kind="regulator_round", site_id="berlin", asset_id="rs-berlin-01",
             at=NOW - timedelta(days=10))
        done(session, config, kind="cathodic_protection", asset_id="cp-n-1", at=datetime(2026, 8, 31, 16, 30, tzinfo=UTC))
        north = listed(due_list(session, config, now=NOW, site_id="north"))
        assert north[("rs-north-01", "regulator_round")] == ("overdue", date(2026, 11, 21), "Wang Wu")
        # 2026-08-31 16:30 UTC is Sep 1 in Shanghai: quarterly -> Dec 1, within the week's horizon.
        assert north[("cp-n-1", "cathodic_protection")] == ("due", date(2026, 12, 1), "Wang Wu")
        assert north[("cam-north-01", "security_monthly")] == ("due", date(2026, 11, 27), "Zhao Liu"), "never done"
        assert north[("valve-n-1", "valve_yearly")][0] == "due"
        assert ("rs-north-01", "regulator_overhaul") not in north, "imported 2020-02-29: due 2028-02-29"
        assert north[("rs-north-01", "regulator_seasonal")] == ("due", date(2026, 11, 30), "Wang Wu"), "autumn, never done"
        assert not any(k[1] == "valve_well_after_rain" for k in north), "no rain yet"
        berlin = listed(due_list(session, config, now=NOW, site_id="berlin"))
        assert berlin[("rs-berlin-01", "regulator_round")] == ("due", date(2026, 12, 1), "Anna"), "done Nov 17 local"
        assert berlin[("rs-berlin-01", "regulator_overhaul")] == ("overdue", date(2026, 6, 1), "Anna")
        zhao = due_list(session, config, now=NOW, technician="Zhao Liu")
        assert {(i.due.target.target_id, i.due.kind) for i in zhao} == {("cam-north-01", "security_monthly"),
                                                                    ("ah-north-01", "security_monthly")}
        ordered = [i.due.status.value for i in due_list(session, config, now=NOW)]
        assert ordered == sorted(ordered, key=["overdue", "due"].index), "overdue first"


def test_a_site_wide_security_round_counts_for_the_devices_it_checked(db_session_factory, config):
    with db_session_factory() as session:
        done(session, config, kind="security_monthly", at=NOW - timedelta(days=3),
             results=[ResultEntry("front_end", "ok", target_id="cam-north-01")])
        done(session, config, kind="security_monthly", at=NOW - timedelta(days=2))  # nothing recorded: counts for none
        assert last_done(session) == {("security_monthly", "cam-north-01"): NOW - timedelta(days=3)}
        items = listed(due_list(session, config, now=NOW, site_id="north", include_scheduled=True))
        assert items[("cam-north-01", "security_monthly")][:2] == ("scheduled", date(2026, 12, 24))
        assert items[("ah-north-01", "security_monthly")][0] == "due"


def test_rain_makes_the_low_lying_wells_due_until_checked_after_it(db_session_factory, config):
    rain_at = NOW - timedelta(hours=3)
    with db_session_factory() as session:
        done(session, config, kind="valve_well_after_rain", asset_id="well-n-1", at=NOW - timedelta(days=1))
        mark_rain(session, config, site_id="north", at=rain_at, actor="desk", note="heavy rain overnight")
        session.commit()
        wells = [i for i in due_list(session, config, now=NOW) if i.due.kind == "valve_well_after_rain"]
        assert [(i.due.target.target_id, i.due.status.value, i.due.due_on) for i in wells] == [
            ("well-n-1", "due", date(2026, 11, 29))], "only the low-lying well; it rained at 06:00 on Nov 27 local"
        done(session, config, kind="valve_well_after_rain", asset_id="well-n-1", at=NOW)
        assert not [i for i in due_list(session, config, now=NOW) if i.due.kind == "valve_well_after_rain"]
        overdue_later = NOW + timedelta(days=5)
        mark_rain(session, config, site_id="north", at=NOW + timedelta(days=1), actor="desk")
        session.commit()
        [late] = [i for i in due_list(session, config, now=overdue_later) if i.due.kind == "valve_well_after_rain"]
        assert late.due.status.value == "overdue"
