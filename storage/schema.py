"""The relational schema's version: Alembic migrations (storage/migrations/) brought to the
head at every start and by ``sitewatch db upgrade``, and the adoption of a database made
before migrations existed. The only module that drives Alembic (env.py aside).

There is no alembic.ini: the Alembic config is built here, around a connection we hold,
so the migrations run inside our one transaction, one process at a time."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# The schema create_schema made before migrations existed (commit 17d16dc): a database
# without a version table that has exactly this is stamped with it, then upgraded.
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key: two processes starting at once (e.g. `run` and `paging`)
# migrate one after the other; the second finds the head and does nothing.
_PG_LOCK_KEY = 0x5173_6D61  # "Sqma"


class SchemaRefused(RuntimeError):
    """A database this code will not touch: not empty, and not Sitewatch's schema at any
    revision it knows. Nothing in it was changed."""


def models_metadata() -> MetaData:
    """Every table the code maps, on the one metadata the migrations must agree with."""
    import sitewatch.storage.paging  # noqa: F401 — registers paging's tables on the same metadata
    from sitewatch.storage.tables import Base

    return Base.metadata


def alembic_config(connection: Connection, migrations: Path = MIGRATIONS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine, revision: str = "head", *, migrations: Path = MIGRATIONS) -> None:
    """Bring the database to ``revision``: an empty one is made from scratch, one made
    before migrations is checked against the baseline and stamped, then upgraded; all in
    one transaction. Raises SchemaRefused for anything else, having changed nothing."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a SQLite table (copy, drop, rename), and with foreign keys
            # on, dropping a table others refer to fails. Off while migrating (the pragma
            # works only outside a transaction), the keys checked before the commit instead.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()  # ends the transaction SQLAlchemy began for the pragma (SQLite began none)
        try:
            with conn.begin():
                # One migrating process at a time: the next finds the work done. SQLite's
                # driver would open the transaction only at the first write, after DDL.
                conn.exec_driver_sql("BEGIN IMMEDIATE" if sqlite else f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
                before, after = _migrate(conn, revision, alembic_config(conn, migrations))
                if sqlite and after != before and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").all()):
                    raise RuntimeError(f"{_where(conn)}: the migration to {after} breaks foreign keys "
                                       f"(table, rowid, referred table, key): {broken[:10]}; rolled back")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")  # the connection goes back to the pool
                conn.commit()
    if after != before:
        log.info("%s: schema upgraded from %s to %s", _where(conn), before or "nothing", after)


def _migrate(conn: Connection, revision: str, config: Config) -> tuple[str | None, str | None]:
    tables = set(inspect(conn).get_table_names())
    if tables and VERSION_TABLE not in tables:
        _adopt(conn, config)
    before = MigrationContext.configure(conn).get_current_revision()
    try:
        command.upgrade(config, revision)
    except CommandError as exc:  # e.g. a revision only a newer Sitewatch knows
        raise SchemaRefused(f"{_where(conn)}: {exc}; nothing was changed") from exc
    return before, MigrationContext.configure(conn).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when empty or made before migrations."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(migrations: Path = MIGRATIONS) -> str:
    head = ScriptDirectory(str(migrations)).get_current_head()
    assert head is not None, "storage/migrations/versions holds no revision"
    return head


def _adopt(conn: Connection, config: Config) -> None:
    """Stamp a database made before migrations with the baseline, if that is what it has:
    every table, column and index the baseline makes (create_schema's additive ALTERs make
    the same names). Tables of other applications are left alone; anything missing, or a
    column the baseline does not have, and it is refused."""
    found = _shape(conn)
    expected = _baseline_shape(config.get_main_option("script_location"))
    problems = []
    if missing := sorted(expected.keys() - found.keys()):
        problems.append(f"missing tables {', '.join(missing)}")
    for table in sorted(expected.keys() & found.keys()):
        (want_columns, want_indexes), (have_columns, have_indexes) = expected[table], found[table]
        if missing := sorted(want_columns - have_columns):
            problems.append(f"{table}: missing columns {', '.join(missing)}")
        if extra := sorted(have_columns - want_columns):
            problems.append(f"{table}: unknown columns {', '.join(extra)}")
        if missing := sorted(want_indexes - have_indexes):
            problems.append(f"{table}: missing indexes {', '.join(missing)}")
    if problems:
        raise SchemaRefused(
            f"{_where(conn)} has tables but no {VERSION_TABLE} table, and is not the schema Sitewatch made "
            f"before migrations (revision {BASELINE}): {'; '.join(problems)}. Nothing was changed. A database "
            "made by an older Sitewatch gets what it lacks by starting commit 17d16dc on it once.")
    if others := sorted(found.keys() - expected.keys()):
        log.warning("%s: tables not Sitewatch's, left alone: %s", _where(conn), ", ".join(others))
    log.info("%s: made before migrations and matches revision %s; stamping it", _where(conn), BASELINE)
    command.stamp(config, BASELINE)


Shape = dict[str, tuple[set[str], set[str]]]  # table -> (column names, index names)


def _shape(conn: Connection) -> Shape:
    found = inspect(conn)
    columns = found.get_multi_columns()
    indexes = found.get_multi_indexes()
    return {
        name: ({c["name"] for c in cols}, {i["name"] for i in indexes.get((schema, name), []) if i["name"]})
        for (schema, name), cols in columns.items()
    }


def _baseline_shape(migrations: str) -> Shape:
    """What the baseline migration makes, read back from a scratch in-memory SQLite: table,
    column and index names are the same on every dialect."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            command.upgrade(alembic_config(conn, Path(migrations)), BASELINE)
            shape = _shape(conn)
    finally:
        scratch.dispose()
    del shape[VERSION_TABLE]
    return shape


def _where(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)
