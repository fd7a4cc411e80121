"""The audit log's hash chain (storage/audit_chain.py) on SQLite and PostgreSQL: every row
written through sitewatch.storage.repository.audit is chained, writers on their own connections
chain one after the other, rows written before revision 0004 are chained by it, and
``verify`` names the exact row where someone with more rights than the service (the
triggers dropped or disabled) edited, deleted or moved rows."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text, update

from sitewatch.domain.time import UTC
from sitewatch.storage import audit_chain
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.repository import audit
from sitewatch.storage.schema import upgrade_schema
from sitewatch.storage.tables import AuditChainHeadRow, AuditRow, CustomerRow

AT = datetime(2026, 12, 3, 18, 30, 0, 123456, tzinfo=UTC)


def write(sessions, n: int, *, start: int = 0) -> None:
    with sessions.begin() as session:
        for i in range(start, start + n):
            audit(session, at=AT + timedelta(seconds=i), actor="desk", entity="complaint", entity_id=str(i),
                  action="created", detail={"i": i, "said": "摄像头黑屏", "nested": {"b": [1.5, None], "a": True}})


def verdict(engine: Engine) -> audit_chain.Verdict:
    with engine.connect() as conn:
        return audit_chain.verify(conn)


def test_rows_are_chained_in_order_and_a_rolled_back_writer_leaves_no_gap(db_session_factory):
    engine = db_session_factory.kw["bind"]
    assert verdict(engine) == audit_chain.Verdict(0, None), "an empty log is a whole chain"
    write(db_session_factory, 3)
    with db_session_factory() as session:  # takes seq 4, then rolls back: the next writer takes it again
        audit(session, at=AT, actor="desk", entity="complaint", entity_id="x", action="created", detail={})
        session.flush()
        session.rollback()
    write(db_session_factory, 2, start=3)
    with db_session_factory() as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id)).all()
        head = session.get(AuditChainHeadRow, audit_chain.CHAIN)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert [r.prev_hash for r in rows] == [audit_chain.GENESIS] + [r.row_hash for r in rows[:-1]]
    assert (head.seq, head.last_hash) == (5, rows[-1].row_hash)
    assert rows[4].row_hash == audit_chain.row_hash(seq=5, at=AT + timedelta(seconds=4), actor="desk",
                                                    entity="complaint", entity_id="4", action="created",
                                                    detail=rows[4].detail, prev_hash=rows[3].row_hash)
    assert verdict(engine) == audit_chain.Verdict(5, None)
    assert audit_chain.describe(verdict(engine)) == "OK: 5 audit row(s), the hash chain is whole"


def test_writers_on_their_own_connections_chain_one_after_another(db_session_factory):
    """Several processes write audit rows into one PostgreSQL: here 4 threads, each its own
    connection and transactions. Reading the last row and writing after it, unlocked, gives
    two rows the same place (the unique seq refuses one) or forks the chain."""
    engine = db_session_factory.kw["bind"]
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for j in range(10):
                write(db_session_factory, 2, start=1000 * k + 2 * j)
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert verdict(engine) == audit_chain.Verdict(80, None)


def superuser_sql(engine: Engine, *statements: str) -> None:
    """Behind the product's back: the triggers out of the way, then the statements."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        else:
            for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                                "AND tbl_name = 'audit_log'").all():
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.exec_driver_sql(statement)


# what is done (ids formatted in), the seq of the row verify must name, what it says of it
TAMPERING = {
    "edit a field": ("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3", 3, "it was edited"),
    "edit the detail": ("UPDATE audit_log SET detail = '{{\"i\": 4}}' WHERE seq = 4", 4, "it was edited"),
    "delete a row": ("DELETE FROM audit_log WHERE seq = 3", 4, "seq 3 missing before it"),
    "reorder two rows": (("UPDATE audit_log SET id = -1 WHERE id = {id2}; "
                         "UPDATE audit_log SET id = {id2} WHERE id = {id3}; "
                         "UPDATE audit_log SET id = {id3} WHERE id = -1"), 3, "seq 3 where 2 was due"),
    "rewrite a hash": (f"UPDATE audit_log SET row_hash = '{'a' * 64}' WHERE seq = 2", 2, "it was edited"),
    "insert a row": (("INSERT INTO audit_log "
                     "(id, at, actor, entity, entity_id, action, detail, seq, prev_hash, row_hash) "
                     "SELECT id + 1000, at, actor, entity, entity_id, action, detail, 6, row_hash, row_hash "
                     "FROM audit_log WHERE seq = 5"), 6, "past the chain's head (seq 5)"),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_verify_names_the_row_that_was_tampered_with(db_session_factory, kind):
    engine = db_session_factory.kw["bind"]
    write(db_session_factory, 5)
    assert verdict(engine) == audit_chain.Verdict(5, None)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(AuditRow.seq, AuditRow.id)).all())
    statement, seq, says = TAMPERING[kind]
    superuser_sql(engine, *statement.format(id2=ids[2], id3=ids[3]).split("; "))
    broken = verdict(engine).broken
    assert broken is not None, f"{kind}: verify found nothing"
    assert broken.seq == seq and says in broken.reason, broken
    if kind == "reorder two rows":
        assert broken.id == ids[2], "the row now at row 2's id (holding seq 3) is the first out of place"
    elif kind == "insert a row":
        assert broken.id == ids[5] + 1000
    else:
        assert broken.id == ids[seq]


def test_verify_sees_rows_cut_off_the_end(db_session_factory):
    engine = db_session_factory.kw["bind"]
    write(db_session_factory, 4)
    superuser_sql(engine, "DELETE FROM audit_log WHERE seq = 4")
    found = verdict(engine)
    assert found.rows == 3 and found.broken is not None and found.broken.id is None
    assert "names seq 4" in found.broken.reason and "ends at seq 3" in found.broken.reason
    assert audit_chain.describe(found).startswith("BROKEN at the chain's head")


def test_0004_chains_the_rows_written_before_it(empty_databases):
    engine = make_engine(empty_databases())
    try:
        upgrade_schema(engine, "0003")
        postgresql = engine.dialect.name == "postgresql"
        insert = text("INSERT INTO audit_log (at, actor, entity, entity_id, action, detail) VALUES "
                      f"(:at, 'desk', 'ticket', :i, 'opened', {'CAST(:detail AS json)' if postgresql else ':detail'})")
        with engine.begin() as conn:
            for i in range(3):
                at = AT + timedelta(minutes=i)  # as SQLAlchemy stores it: SQLite's without the zone
                conn.execute(insert, {"at": at if postgresql else at.replace(tzinfo=None), "i": str(i),
                                      "detail": '{"k": "站", "n": 1.5}'})
        upgrade_schema(engine)
        assert verdict(engine) == audit_chain.Verdict(3, None)
        sessions = session_factory(engine)
        write(sessions, 1)  # the product's writes carry on from the migration's head
        assert verdict(engine) == audit_chain.Verdict(4, None)
        with engine.connect() as conn:
            assert conn.execute(select(AuditRow.seq).order_by(AuditRow.id)).scalars().all() == [1, 2, 3, 4]
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_audited_changes_to_the_same_row_never_deadlock(db_session_factory):
    """Transaction B makes an audited change and then waits for a row that transaction A holds;
    A then makes an audited change of its own and commits. When an audit row took the chain's
    head at its first flush, B held the head while waiting for A, and A waited for the head:
    PostgreSQL killed one of them ("deadlock detected") and its change was lost. The ticket
    writer (many alerts and audit rows per transaction) and a dispatcher acknowledging one of
    those alerts are such a pair. The head is now taken at commit, after every other lock."""
    engine = db_session_factory.kw["bind"]
    with db_session_factory.begin() as session:
        session.add(CustomerRow(id="c1", name="first"))
    a, b, watcher = db_session_factory(), db_session_factory(), engine.connect()
    errors: list[BaseException] = []
    try:
        for s in (a, b):
            s.execute(text("SET lock_timeout = '20s'"))  # a regression fails, it does not hang
        b_pid = b.execute(text("SELECT pg_backend_pid()")).scalar_one()
        a.execute(update(CustomerRow).where(CustomerRow.id == "c1").values(name="by A"))
        audit(b, at=AT, actor="desk", entity="customer", entity_id="c2", action="created", detail={})
        b.flush()

        def b_goes_on() -> None:
            try:
                b.execute(update(CustomerRow).where(CustomerRow.id == "c1").values(name="by B"))
                audit(b, at=AT, actor="desk", entity="customer", entity_id="c1", action="updated", detail={"by": "B"})
                b.commit()
            except BaseException as exc:  # noqa: BLE001 — asserted below
                errors.append(exc)
                b.rollback()

        thread = threading.Thread(target=b_goes_on)
        thread.start()
        waits = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"
        for _ in range(1000):  # until B waits for A's row lock, at most ~20 s
            if watcher.execute(text(waits), {"pid": b_pid}).scalar_one_or_none() == "Lock":
                break
            time.sleep(0.02)
        else:
            pytest.fail("B never waited for the row A holds")
        try:
            audit(a, at=AT, actor="desk", entity="customer", entity_id="c1", action="updated", detail={"by": "A"})
            a.commit()
        except BaseException as exc:  # noqa: BLE001 — asserted below
            errors.append(exc)
            a.rollback()
        thread.join()
    finally:
        a.close(), b.close(), watcher.close()
    assert errors == [], f"an audited change was lost: {errors}"
    with db_session_factory() as session:
        assert session.get(CustomerRow, "c1").name == "by B", "B's change, after A's"
        chained = [(r.entity_id, r.detail.get("by")) for r in session.scalars(select(AuditRow).order_by(AuditRow.seq))]
    assert chained == [("c1", "A"), ("c2", None), ("c1", "B")], "A's row, then B's two"
    assert verdict(engine) == audit_chain.Verdict(3, None)
