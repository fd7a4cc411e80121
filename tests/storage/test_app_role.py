"""deploy/postgresql-app-role.sql on a test database, with a role of the test's own (roles
are the whole server's): as that role the service starts, writes audit rows, complaints and
daily logs, and is refused UPDATE, DELETE and TRUNCATE of audit rows and complaints, and
DELETE of daily logs, by privilege ("permission denied", SQLSTATE 42501) before any trigger
is reached; a signed daily log is not there for its UPDATE (row-level security: 0 rows)."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from sitewatch.domain.time import UTC
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.repository import audit
from sitewatch.storage.schema import upgrade_schema
from sitewatch.storage.tables import AuditRow, ComplaintRow, DailyReviewRow
from tests.storage.test_tamper_evident import a_complaint, a_review

SCRIPT = Path(__file__).parents[2] / "deploy" / "postgresql-app-role.sql"
AT = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


@pytest.fixture
def app_url(database_url):
    role, password = f"sitewatch_app_{uuid.uuid4().hex[:10]}", secrets.token_hex(16)
    owner = make_url(database_url)
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        try:
            done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"app={role}", "-d",
                                   database_url, "-f", str(SCRIPT)], check=False, capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0, done.stderr
            yield owner.set(username=role, password=password).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}")
                          .format(sql.Literal(role)))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))  # its grants in this database
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def denied(table: str) -> pytest.RaisesContext:
    return pytest.raises(ProgrammingError, match=f"permission denied for table {table}")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_service_role_writes_records_and_may_not_change_them(app_url):
    engine = make_engine(app_url)
    try:
        upgrade_schema(engine)  # a start: at the head, it needs no DDL right
        sessions = session_factory(engine)
        with sessions.begin() as session:
            session.add_all([a_complaint(), a_review("2026-12-02", signed=False)])
            audit(session, at=AT, actor="desk", entity="complaint", entity_id="1", action="created", detail={})
            audit(session, at=AT, actor="desk", entity="complaint", entity_id="2", action="created", detail={})
        with sessions.begin() as session:  # a draft is regenerated and signed
            session.execute(update(DailyReviewRow).values(content='{"regenerated":1}'))
            session.execute(update(DailyReviewRow).values(signed_by="Wang Fang", signed_at=AT, signed_actor="w"))
        refusals = [
            ("audit_log", update(AuditRow).values(actor="someone else")),
            ("audit_log", delete(AuditRow)),
            ("audit_log", text("TRUNCATE audit_log CASCADE")),
            ("complaints", update(ComplaintRow).values(complaint_class="other")),
            ("complaints", delete(ComplaintRow)),
            ("daily_reviews", delete(DailyReviewRow)),
        ]
        for table, statement in refusals:
            with sessions() as session, denied(table):
                session.execute(statement)
        with sessions.begin() as session:  # signed: the role sees no row to update (row-level security)
            assert session.execute(update(DailyReviewRow).values(content='{"edited":1}')).rowcount == 0
        with sessions() as session:
            assert session.scalars(select(DailyReviewRow.content)).all() == ['{"regenerated":1}']
            assert session.scalar(select(func.count()).select_from(AuditRow)) == 2
            assert session.scalars(select(ComplaintRow.complaint_class)).all() == ["quality"]
            with pytest.raises(ProgrammingError, match="must be owner of table audit_log"):
                session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    finally:
        engine.dispose()
