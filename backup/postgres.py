"""The relational database on PostgreSQL: pg_dump and pg_restore, custom format.

The backup opens a REPEATABLE READ transaction, exports its snapshot, counts every
table's rows in it and has pg_dump dump from that same snapshot (``--snapshot``): the
counts in the manifest are the dump's, however busy the service is meanwhile. The restore
is one pg_restore transaction (``--single-transaction``): all of the dump or none of it.

The client tools must be on PATH, of the server's major version or newer (pg_dump refuses
a newer server). The password never goes on a command line, where ``ps`` would show it:
it goes to the tools through PGPASSWORD.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from sitewatch.backup.errors import BackupError, ToolMissing
from sitewatch.storage.database import make_engine

FILE = "relational.pgdump"
VERSION_TABLE = "alembic_version"  # storage/schema.py's
APPLICATION = "sitewatch-backup"  # what pg_stat_activity shows for our own connections
_TABLES = """
    SELECT schemaname, tablename FROM pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY schemaname, tablename
"""
_OTHERS = """
    SELECT coalesce(nullif(application_name, ''), host(client_addr), 'local') AS who, count(*)
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    GROUP BY who ORDER BY who
"""


def backup(url: str, dest: Path) -> tuple[dict[str, int], str | None, dict[str, str]]:
    """Dump the database at ``url`` into ``dest``: its tables' row counts and schema revision
    in the dumped snapshot, and the server's and pg_dump's versions."""
    pg_dump = _tool("pg_dump")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                counts = table_counts(conn)
                revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() \
                    if VERSION_TABLE in counts else None
                server = conn.execute(text("SHOW server_version")).scalar_one()
                # The transaction stays open until pg_dump has its snapshot and is done with it.
                _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={dest}"], url)
    finally:
        engine.dispose()
    return counts, revision, {"postgresql": server, "pg_dump": _version(pg_dump)}


def restore(dump: Path, url: str) -> None:
    """Replace what the dump holds in the database at ``url`` (which must exist), in one
    transaction; objects the dump does not name are left as they are."""
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          "--exit-on-error", str(dump)], url)


def counts_at(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return table_counts(conn)
    finally:
        engine.dispose()


def other_sessions(url: str) -> dict[str, int]:
    """Who else is connected to the database (by application name or address): a restore
    must not pull it from under the service, nor the service write into a half-made one."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {who: n for who, n in conn.execute(text(_OTHERS))}
    finally:
        engine.dispose()


def table_counts(conn: Connection) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    counts = {}
    for schema, table in conn.execute(text(_TABLES)).all():
        name = table if schema == "public" else f"{schema}.{table}"
        counts[name] = conn.execute(text(f"SELECT count(*) FROM {quote(schema)}.{quote(table)}")).scalar_one()
    return counts


def _run(args: list[str], url: str) -> None:
    dbname, env = _libpq(url)
    done = subprocess.run([*args, f"--dbname={dbname}"], check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed (exit {done.returncode}): {done.stderr.strip()}")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The database as a libpq URI without its password, and the environment that carries it."""
    parsed = make_url(url)
    env = os.environ | {"PGAPPNAME": APPLICATION}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not on PATH: install PostgreSQL's client tools of the server's major version "
                          "or newer (Debian: postgresql-client), or put their folder on PATH")
    return found


def _version(tool: str) -> str:
    """'pg_dump (PostgreSQL) 15.20 (Debian ...)' -> '15.20 (Debian ...)'."""
    out = subprocess.run([tool, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    return out.split(") ", 1)[-1]
