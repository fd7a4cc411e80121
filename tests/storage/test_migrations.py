"""Schema migrations (storage/schema.py, storage/migrations/) on SQLite and PostgreSQL: a
database made before migrations keeps every row through the upgrade, the models and the
head agree, a database that is not ours is refused untouched, and `sitewatch db` works."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError

from sitewatch.storage import audit_chain
from sitewatch.storage.database import UtcDateTime, make_engine, session_factory
from sitewatch.storage.schema import (
    BASELINE,
    MIGRATIONS,
    VERSION_TABLE,
    SchemaRefused,
    alembic_config,
    current_revision,
    head_revision,
    models_metadata,
    upgrade_schema,
)
from sitewatch.storage.tables import Base
from tests.sitewatch.test_cli import EXAMPLE, SITEWATCH

# Made by Sitewatch before migrations (commit 17d16dc) with rows in every table; how and
# how to make them again: fixtures/make_pre_migration.py.
FIXTURES = Path(__file__).parent / "fixtures"
DUMPS = {"sqlite": FIXTURES / "pre_migration.sqlite.sql", "postgresql": FIXTURES / "pre_migration.postgresql.sql"}


def load_dump(url: str) -> None:
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.executescript(DUMPS["sqlite"].read_text(encoding="utf-8"))
        return
    done = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", DUMPS["postgresql"]],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"psql could not load the dump: {done.stderr}"


def schema_of(engine: Engine) -> dict[str, dict[str, object]]:
    """Every table's columns (type, nullable, default), keys, unique constraints and indexes
    (with their WHERE), as the database reports them; column order left out on purpose:
    create_schema's ALTERs put added columns last."""
    found = inspect(engine)
    parts = {
        "primary key": found.get_multi_pk_constraint(),
        "foreign keys": found.get_multi_foreign_keys(),
        "unique": found.get_multi_unique_constraints(),
        "indexes": found.get_multi_indexes(),
    }
    return {
        table: {
            "columns": {c["name"]: (str(c["type"]), c["nullable"], c.get("default")) for c in columns},
            **{part: sorted(map(_text, _listed(got[(schema, table)]))) for part, got in parts.items()},
        }
        for (schema, table), columns in found.get_multi_columns().items()
        if table != VERSION_TABLE
    }


def _listed(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _text(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)  # default: a partial index's WHERE (TextClause)


def contents(engine: Engine) -> dict[str, list[dict]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as conn:
        tables = sorted(set(inspect(conn).get_table_names()) - {VERSION_TABLE})
        return {t: sorted((dict(r._mapping) for r in conn.exec_driver_sql(f'SELECT * FROM "{t}"')), key=repr)
                for t in tables}


def differences(engine: Engine) -> list:
    """What Alembic's autogenerate would write to bring the database to the models."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, models_metadata())


def test_a_database_made_before_migrations_keeps_every_row_through_the_upgrade(empty_databases):
    load_dump(url := empty_databases())
    legacy, fresh = make_engine(url), make_engine(empty_databases())
    try:
        upgrade_schema(fresh, BASELINE)
        assert schema_of(legacy) == schema_of(fresh), \
            f"revision {BASELINE} does not make the schema the code before migrations made"
        before = contents(legacy)
        assert set(before) == set(schema_of(fresh)) and all(before.values()), \
            f"the fixture has no rows in {sorted(t for t, rows in before.items() if not rows)}"
        upgrade_schema(legacy)
        assert current_revision(legacy) == head_revision()
        assert_rows_kept(before, contents(legacy))
        assert differences(legacy) == [], "the upgraded database is not what the models map"
        with legacy.connect() as conn:
            assert audit_chain.verify(conn) == audit_chain.Verdict(len(before["audit_log"]), None), \
                "0004 did not chain the audit rows it found"
        with session_factory(legacy)() as session:  # today's models read the old rows
            for mapper in sorted(Base.registry.mappers, key=lambda m: m.local_table.name):
                read = session.scalars(select(mapper.class_)).all()
                # A table added after the baseline (0002's leases) starts empty; 0004's chain
                # head holds where the chain of the audit rows found ends.
                made = int(mapper.local_table.name == "audit_chain_head" and bool(before["audit_log"]))
                assert len(read) == len(before.get(mapper.local_table.name, [])) + made
                times = [getattr(row, c.key) for row in read for c in mapper.columns
                         if isinstance(c.type, UtcDateTime) and getattr(row, c.key) is not None]
                assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in times), \
                    f"{mapper.local_table.name}: times not read back as aware UTC"
    finally:
        legacy.dispose()
        fresh.dispose()


def assert_rows_kept(before: dict[str, list[dict]], after: dict[str, list[dict]]) -> None:
    """Every table has the rows it had, with the values it had in the columns it had."""
    for table, rows in before.items():
        assert len(after[table]) == len(rows), f"{table}: {len(rows)} rows before the upgrade, {len(after[table])} after"
        kept = [{column: row[column] for column in rows[0]} for row in after[table]]
        assert kept == rows, f"{table}: rows changed by the upgrade"


REBUILD = '''"""tickets rebuilt: on SQLite batch mode copies it, drops it and renames the copy."""
import sqlalchemy as sa
from alembic import op

revision = "rebuild"
down_revision = "{head}"


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("priority", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)
'''


def test_a_migration_that_rebuilds_a_table_others_refer_to_keeps_its_rows_and_their_keys(empty_databases, tmp_path):
    """What a later migration will do (an ALTER SQLite cannot do in place), on the old rows:
    the foreign keys pointing at the rebuilt table must neither stop it nor be lost."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9999_rebuild.py").write_text(REBUILD.format(head=head_revision()))
    load_dump(url := empty_databases())
    engine = make_engine(url)
    try:
        before = contents(engine)
        upgrade_schema(engine, migrations=migrations)
        assert current_revision(engine) == "rebuild"
        assert_rows_kept(before, contents(engine))
        with pytest.raises(IntegrityError), engine.begin() as conn:  # the keys still hold
            conn.exec_driver_sql("UPDATE alerts SET ticket_id = 999999 WHERE ticket_id IS NOT NULL")
    finally:
        engine.dispose()


def test_the_models_and_the_migration_head_agree(database_url):
    """Fails when a model changed without a migration: write one with
    `python -m sitewatch.storage.migrations revision MESSAGE` (storage/README.md)."""
    engine = make_engine(database_url)  # made by the migrations, from nothing (tests/conftest.py)
    try:
        assert current_revision(engine) == head_revision()
        found = differences(engine)
        assert found == [], "models and migrations differ; add a migration:\n" + "\n".join(map(repr, found))
    finally:
        engine.dispose()


def test_a_database_that_is_not_a_sitewatch_schema_is_refused_and_left_as_it_was(empty_databases):
    foreign, damaged = make_engine(empty_databases()), make_engine(empty_databases())
    try:
        with foreign.begin() as conn:  # another application's database
            conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, total NUMERIC(10, 2))")
        with pytest.raises(SchemaRefused, match="missing tables alerts, assets, audit_log"):
            upgrade_schema(foreign)
        assert set(inspect(foreign).get_table_names()) == {"orders"}

        upgrade_schema(damaged)  # ours, but a column gone and no version table: not revision 0001
        with damaged.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {VERSION_TABLE}")
            conn.exec_driver_sql("ALTER TABLE tickets DROP COLUMN cause")
        as_it_was = schema_of(damaged)
        with pytest.raises(SchemaRefused, match="tickets: missing columns cause. Nothing was changed"):
            upgrade_schema(damaged)
        assert schema_of(damaged) == as_it_was and VERSION_TABLE not in inspect(damaged).get_table_names()

        with damaged.begin() as conn:  # at a revision only a newer Sitewatch knows
            conn.exec_driver_sql(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            conn.exec_driver_sql(f"INSERT INTO {VERSION_TABLE} VALUES ('9999')")
        with pytest.raises(SchemaRefused, match="9999"):
            upgrade_schema(damaged)
        assert current_revision(damaged) == "9999" and schema_of(damaged) == as_it_was
    finally:
        foreign.dispose()
        damaged.dispose()


def test_sitewatch_db_upgrade_adopts_an_old_database_and_db_current_names_the_head(tmp_path):
    (tmp_path / "var").mkdir()
    load_dump(f"sqlite:///{tmp_path / 'var' / 'sitewatch.db'}")  # the example's database_url, in cwd
    head = head_revision()
    upgrade = db(tmp_path, "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout == f"{head} (head)\n"
    assert f"made before migrations and matches revision {BASELINE}; stamping it" in upgrade.stderr
    current = db(tmp_path, "current")
    assert (current.returncode, current.stdout) == (0, f"{head} (head)\n"), current.stderr


def db(cwd: Path, action: str) -> subprocess.CompletedProcess:
    return subprocess.run([SITEWATCH, "db", action, "--config", str(EXAMPLE)], cwd=cwd, check=False,
                          capture_output=True, text=True, timeout=60)


def test_0002_leases_upgrades_and_downgrades(empty_databases):
    """0002 adds the leases table and its downgrade takes exactly that away again."""
    at_0001, engine = make_engine(empty_databases()), make_engine(empty_databases())
    try:
        upgrade_schema(at_0001, BASELINE)
        upgrade_schema(engine, "0002")
        assert set(schema_of(engine)) - set(schema_of(at_0001)) == {"leases"}
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO leases (name, holder, expires_at, renewed_at, generation) "
                                 "VALUES ('shard-0-of-8', 'worker-a', '2026-12-07 08:00:30', '2026-12-07 08:00:00', 1)")
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), BASELINE)
        assert current_revision(engine) == BASELINE
        assert schema_of(engine) == schema_of(at_0001), "the downgrade left the schema other than 0001's"
        upgrade_schema(engine, "0002")
        assert "leases" in schema_of(engine)
    finally:
        at_0001.dispose()
        engine.dispose()
