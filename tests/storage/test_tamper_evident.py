"""The records pay and penalties rest on are refused change by the database itself (revision
0004's triggers), whichever path tries it: a bulk ``update()`` or ``delete()`` that skips the
ORM guards of review/sign.py and reports/complaints.py, or plain SQL. On SQLite and PostgreSQL.

Refused: UPDATE and DELETE of audit rows; of complaints (frozen once recorded); of daily
logs once signed (drafts stay editable and deletable); moving the audit chain's head back."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from sitewatch.domain.time import UTC
from sitewatch.storage.database import make_engine
from sitewatch.storage.repository import audit
from sitewatch.storage.schema import alembic_config, current_revision, upgrade_schema
from sitewatch.storage.tables import AuditChainHeadRow, AuditRow, ComplaintRow, DailyReviewRow
from tests.storage.test_migrations import schema_of

AT = datetime(2026, 12, 3, 18, 30, 0, 123456, tzinfo=UTC)


def refused(operation: str, table: str, why: str) -> pytest.RaisesContext:
    # PostgreSQL names the row; SQLite's RAISE takes a literal message only.
    return pytest.raises(IntegrityError,
                         match=rf"sitewatch: {operation} on {table}( row \S+)? refused: {re.escape(why)}")


def test_audit_rows_are_refused_update_and_delete_by_every_path(db_session_factory):
    with db_session_factory.begin() as session:
        for n in range(2):
            audit(session, at=AT + timedelta(seconds=n), actor="desk", entity="complaint", entity_id=str(n),
                  action="created", detail={"n": n})
    why = "the audit log is append-only"
    with db_session_factory() as session:
        with refused("UPDATE", "audit_log", why):
            session.execute(update(AuditRow).values(actor="someone else"))
        session.rollback()
        row = session.scalars(select(AuditRow).order_by(AuditRow.id)).first()
        row.detail = {"n": 99}
        with refused("UPDATE", "audit_log", why):
            session.flush()
        session.rollback()
        with refused("DELETE", "audit_log", why):
            session.execute(delete(AuditRow).where(AuditRow.id == row.id))
        session.rollback()
        with refused("DELETE", "audit_log", why):
            session.execute(text("DELETE FROM audit_log"))
        session.rollback()
        if session.bind.dialect.name == "postgresql":
            with refused("TRUNCATE", "audit_log", why):
                session.execute(text("TRUNCATE audit_log CASCADE"))
            session.rollback()
    with db_session_factory() as session:
        rows = session.execute(select(AuditRow.actor, AuditRow.detail).order_by(AuditRow.id)).all()
        assert [tuple(r) for r in rows] == [("desk", {"n": 0}), ("desk", {"n": 1})]


def a_complaint() -> ComplaintRow:
    return ComplaintRow(customer_id="harbour", site_id=None, ticket_id=None, received_at=AT, complaint_class="quality",
                        description="the camera at the gate is still black", recorded_at=AT, recorded_by="desk")


def test_a_recorded_complaint_is_refused_change_even_by_a_bulk_update(db_session_factory):
    """The issue's evidence: a bulk update() skipped the ORM guard and changed a complaint."""
    with db_session_factory.begin() as session:
        session.add(a_complaint())
    why = "a recorded complaint never changes"
    with db_session_factory() as session:
        with refused("UPDATE", "complaints", why):
            session.execute(update(ComplaintRow).values(complaint_class="other"))
        session.rollback()
        with refused("DELETE", "complaints", why):
            session.execute(delete(ComplaintRow))
        session.rollback()
        assert session.scalars(select(ComplaintRow.complaint_class)).all() == ["quality"]
        session.add(a_complaint())  # recording more stays possible
        session.commit()
        assert session.scalar(select(func.count()).select_from(ComplaintRow)) == 2


def a_review(day: str, *, signed: bool) -> DailyReviewRow:
    return DailyReviewRow(site_id="north", day=day, content="{}", content_sha256="0" * 64, abnormal_stations=0,
                          generated_at=AT, generated_by="scheduler", field_check_tickets={},
                          signed_by="Wang Fang" if signed else None, signed_at=AT if signed else None,
                          signed_actor="wang.fang" if signed else None)


def test_a_signed_daily_log_is_refused_change_and_drafts_stay_editable(db_session_factory):
    with db_session_factory.begin() as session:
        session.add_all([a_review("2026-12-01", signed=True), a_review("2026-12-02", signed=False),
                         a_review("2026-12-03", signed=False)])
    why = "a signed operation log never changes"
    signed, draft, other = DailyReviewRow.day == "2026-12-01", DailyReviewRow.day == "2026-12-02", \
        DailyReviewRow.day == "2026-12-03"
    with db_session_factory() as session:
        with refused("UPDATE", "daily_reviews", why):
            session.execute(update(DailyReviewRow).where(signed).values(content='{"edited":1}'))
        session.rollback()
        with refused("UPDATE", "daily_reviews", why):  # a bulk change that includes it
            session.execute(update(DailyReviewRow).values(field_check_tickets={"rs-1": 7}))
        session.rollback()
        with refused("DELETE", "daily_reviews", why):
            session.execute(delete(DailyReviewRow).where(signed))
        session.rollback()
    with db_session_factory.begin() as session:  # a draft: regenerated, then signed; another deleted
        session.execute(update(DailyReviewRow).where(draft).values(content='{"regenerated":1}'))
        session.execute(update(DailyReviewRow).where(draft).values(signed_by="Wang Fang", signed_at=AT,
                                                                   signed_actor="wang.fang"))
        session.execute(delete(DailyReviewRow).where(other))
    with db_session_factory() as session:
        with refused("UPDATE", "daily_reviews", why):  # signed just now: frozen from now on
            session.execute(update(DailyReviewRow).where(draft).values(signed_by="someone else"))
        session.rollback()
        rows = session.execute(select(DailyReviewRow.day, DailyReviewRow.content, DailyReviewRow.signed_by)
                               .order_by(DailyReviewRow.day)).all()
        assert [tuple(r) for r in rows] == [("2026-12-01", "{}", "Wang Fang"),
                                            ("2026-12-02", '{"regenerated":1}', "Wang Fang")]


def test_the_chain_head_only_moves_forward(db_session_factory):
    with db_session_factory.begin() as session:
        audit(session, at=AT, actor="desk", entity="complaint", entity_id="1", action="created", detail={})
    why = "the audit chain head only moves forward"
    with db_session_factory() as session:
        with refused("UPDATE", "audit_chain_head", why):
            session.execute(update(AuditChainHeadRow).values(seq=0))
        session.rollback()
        with refused("DELETE", "audit_chain_head", why):
            session.execute(delete(AuditChainHeadRow))
        session.rollback()
        assert session.scalars(select(AuditChainHeadRow.seq)).all() == [1]


def test_0004_upgrades_and_downgrades(empty_databases):
    """0004 adds the chain's columns, its head and the triggers; its downgrade takes exactly
    that away again (and the PostgreSQL function)."""
    at_0003, engine = make_engine(empty_databases()), make_engine(empty_databases())
    try:
        upgrade_schema(at_0003, "0003")
        upgrade_schema(engine, "0004")
        found, before = schema_of(engine), schema_of(at_0003)
        assert set(found) - set(before) == {"audit_chain_head"}
        assert set(found["audit_log"]["columns"]) - set(before["audit_log"]["columns"]) == \
            {"seq", "prev_hash", "row_hash"}
        assert _triggers(engine) - _triggers(at_0003), "0004 made no trigger"
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0003")
        assert current_revision(engine) == "0003"
        assert schema_of(engine) == schema_of(at_0003), "the downgrade left the schema other than 0003's"
        assert _triggers(engine) == _triggers(at_0003)
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM pg_proc "
                                            "WHERE proname = 'sitewatch_refuse_change'").scalar() == 0
        upgrade_schema(engine, "0004")
        assert "audit_chain_head" in schema_of(engine)
    finally:
        at_0003.dispose()
        engine.dispose()


def _triggers(engine) -> set[str]:
    query = ("SELECT name FROM sqlite_master WHERE type = 'trigger'" if engine.dialect.name == "sqlite"
             else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    with engine.connect() as conn:
        return set(conn.exec_driver_sql(query).scalars())
