"""Device health in the database (storage/device_health.py, migration 0003) on SQLite and
PostgreSQL: saved and read back whole, overwritten by device, read by a process that polls
nothing through one cached query; on PostgreSQL, the notifications the control rooms listen to."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import psycopg
import pytest
from alembic import command
from sqlalchemy import event, text

from sitewatch.domain.health import DeviceHealth, HealthState
from sitewatch.domain.time import UTC
from sitewatch.storage.database import make_engine
from sitewatch.storage.device_health import DatabaseHealth, load, save
from sitewatch.storage.schema import alembic_config, current_revision, upgrade_schema
from tests.serving import FixedClock
from tests.storage.test_migrations import schema_of

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
# Three rows in one statement, as a bulk insert would (the hashes do not matter here).
AUDIT = text("INSERT INTO audit_log (at, actor, entity, entity_id, action, detail, seq, prev_hash, row_hash) "
             "VALUES (now(), 'test', 'ticket', CAST(:n AS text), 'created', '{}', :seq, '', '')")


def offline(device_id: str, failures: int = 3) -> DeviceHealth:
    return DeviceHealth(device_id, HealthState.OFFLINE, last_success=T0 - timedelta(minutes=5),
                        last_failure=T0, last_error="no route to host", consecutive_failures=failures,
                        polls_ok=40, polls_failed=failures, exception_responses=1, malformed_replies=2, timeouts=3)


def test_records_are_saved_whole_and_overwritten_by_device(db_session_factory):
    sessions = db_session_factory
    online = DeviceHealth("rs-2", HealthState.ONLINE, last_success=T0, polls_ok=7)
    assert save(sessions, [offline("rs-1"), online], now=T0) == 2
    with sessions() as session:
        assert load(session) == [offline("rs-1"), online]
    back = DeviceHealth("rs-1", HealthState.ONLINE, last_success=T0 + timedelta(seconds=10), polls_ok=41)
    save(sessions, [back], now=T0 + timedelta(seconds=10))
    with sessions() as session:
        assert load(session) == [back, online]
    assert save(sessions, [], now=T0) == 0


def test_thousands_of_records_go_in_chunks(db_session_factory):
    records = [DeviceHealth(f"cam-{n:05d}", HealthState.ONLINE, last_success=T0, polls_ok=n) for n in range(2_500)]
    assert save(db_session_factory, records, now=T0) == 2_500
    with db_session_factory() as session:
        assert load(session) == records


def test_the_reader_answers_a_page_of_gets_from_one_query_and_reads_again_when_stale(db_session_factory):
    sessions = db_session_factory
    save(sessions, [offline(f"rs-{n}") for n in range(100)], now=T0)
    clock = FixedClock(T0)
    reader = DatabaseHealth(sessions, clock, max_age_s=60)
    statements = []
    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert all(reader.get(f"rs-{n}").state is HealthState.OFFLINE for n in range(100))
    assert len(reader.all()) == 100 and len(statements) == 1 and reader.reads == 1
    with pytest.raises(KeyError):
        reader.get("never-polled")

    save(sessions, [DeviceHealth("rs-0", HealthState.ONLINE, last_success=T0)], now=T0)
    assert reader.get("rs-0").state is HealthState.OFFLINE  # still the cached read
    clock.now_value = T0 + timedelta(seconds=61)  # the process clock moved past max_age_s
    assert reader.get("rs-0").state is HealthState.ONLINE and reader.reads == 2
    save(sessions, [DeviceHealth("rs-1", HealthState.ONLINE, last_success=T0)], now=T0)
    reader.expire()
    assert reader.get("rs-1").state is HealthState.ONLINE and reader.reads == 3

    short = DatabaseHealth(sessions, clock, max_age_s=0.05)
    short.all()
    time.sleep(0.06)
    short.all()
    assert short.reads == 2


def test_a_database_that_does_not_answer_leaves_the_last_read(db_session_factory, caplog):
    sessions = db_session_factory
    save(sessions, [offline("rs-1")], now=T0)
    clock = FixedClock(T0)
    reader = DatabaseHealth(sessions, clock, max_age_s=60)
    assert reader.get("rs-1").state is HealthState.OFFLINE
    with sessions() as session:
        session.execute(text("ALTER TABLE device_health RENAME TO device_health_away"))
        session.commit()
    for seconds in (61, 122):
        clock.now_value = T0 + timedelta(seconds=seconds)
        assert reader.get("rs-1").state is HealthState.OFFLINE
    assert len([r for r in caplog.records if "does not answer" in r.getMessage()]) == 1
    with pytest.raises(KeyError):  # an empty first read is no read at all
        DatabaseHealth(sessions, clock).get("rs-1")


# --- PostgreSQL's notifications --------------------------------------------------------------

@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_notifies_audit_inserts_and_health_state_changes_only(database_url, db_session_factory):
    sessions = db_session_factory
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN sitewatch_changes")

        def heard() -> list[str]:
            return [n.payload for n in listener.notifies(timeout=0.5, stop_after=10)]

        save(sessions, [offline("rs-1"), offline("rs-2")], now=T0)  # new rows
        assert heard() == ["device_health"]
        counters = DeviceHealth("rs-1", HealthState.OFFLINE, last_failure=T0 + timedelta(seconds=10), polls_failed=9)
        save(sessions, [counters], now=T0 + timedelta(seconds=10))  # same state: nobody is told
        assert heard() == []
        save(sessions, [DeviceHealth("rs-2", HealthState.ONLINE, last_success=T0), counters], now=T0)
        assert heard() == ["device_health"]
        with sessions() as session, session.begin():  # as every ticket and alert change does
            session.execute(AUDIT, [{"n": str(n), "seq": n + 1} for n in range(3)])
        assert heard() == ["audit_log"]


def test_0003_upgrades_and_downgrades(empty_databases):
    """0003 adds device_health (and on PostgreSQL its triggers); its downgrade takes exactly
    that away again."""
    at_0002, engine = make_engine(empty_databases()), make_engine(empty_databases())
    try:
        upgrade_schema(at_0002, "0002")
        upgrade_schema(engine, "0003")
        assert set(schema_of(engine)) - set(schema_of(at_0002)) == {"device_health"}
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
        assert current_revision(engine) == "0002"
        assert schema_of(engine) == schema_of(at_0002), "the downgrade left the schema other than 0002's"
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM pg_proc WHERE starts_with(proname::text, 'sitewatch_')").scalar() == 0
                assert conn.exec_driver_sql("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal").scalar() == 0
        upgrade_schema(engine, "0003")
        assert "device_health" in schema_of(engine)
    finally:
        at_0002.dispose()
        engine.dispose()
