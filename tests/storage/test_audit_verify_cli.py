"""``sitewatch audit verify --config FILE``: OK and the row count (exit 0), or the first broken
row and what differs (exit 1); a database not at this version's head is not verified (exit 2).
The command runs as a separate process against the test's SQLite or PostgreSQL database."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from sitewatch.domain.time import UTC
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.repository import audit
from sitewatch.storage.schema import upgrade_schema
from sitewatch.storage.tables import AuditRow
from tests.sitewatch.test_cli import EXAMPLE, SITEWATCH
from tests.storage.test_audit_chain import superuser_sql

AT = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


def config_for(url: str, folder: Path) -> Path:
    """The example configuration with the test's database (and only the owner may read it)."""
    text = re.sub(r"(?m)^database_url = .*$", f'database_url = "{url}"', EXAMPLE.read_text(encoding="utf-8"))
    path = folder / "sitewatch.toml"
    path.write_text(text.replace('data_dir = "var"', f'data_dir = "{folder / "var"}"'), encoding="utf-8")
    path.chmod(0o600)
    return path


def verify(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SITEWATCH, "audit", "verify", "--config", str(config)], check=False,
                          capture_output=True, text=True, timeout=60)


def test_audit_verify_says_ok_then_names_the_edited_row(database_url, tmp_path):
    config = config_for(database_url, tmp_path)
    engine = make_engine(database_url)
    try:
        with session_factory(engine).begin() as session:
            for i in range(3):
                audit(session, at=AT + timedelta(minutes=i), actor="desk", entity="complaint", entity_id=str(i),
                      action="created", detail={"description": "门禁报警主机离线"})
        done = verify(config)
        assert (done.returncode, done.stdout) == (0, "OK: 3 audit row(s), the hash chain is whole\n"), done.stderr
        with engine.connect() as conn:
            second = conn.execute(select(AuditRow.id).where(AuditRow.seq == 2)).scalar_one()
        superuser_sql(engine, "UPDATE audit_log SET entity_id = '7' WHERE seq = 2")
        done = verify(config)
        assert done.returncode == 1, done.stderr
        assert done.stdout.startswith(f"BROKEN at audit row id {second} (seq 2), row 2 walked: its fields"), done.stdout
        assert "it was edited after it was written" in done.stdout
    finally:
        engine.dispose()


def test_audit_verify_refuses_a_database_not_at_the_head(empty_databases, tmp_path):
    url = empty_databases()
    engine = make_engine(url)
    try:
        upgrade_schema(engine, "0003")
    finally:
        engine.dispose()
    done = verify(config_for(url, tmp_path))
    assert done.returncode == 2 and "is at revision 0003, not" in done.stderr, (done.stdout, done.stderr)
