"""The relational database on SQLite: SQLite's online backup API, both ways.

A backup copies every page in one step, that is within one read transaction: in WAL mode
(storage/database.py sets it) the service keeps writing meanwhile and the copy is the
database as of that transaction's start. The copy is then switched to a rollback journal,
so it is one self-contained file that a read-only open changes nothing of (its SHA-256 in
the manifest stays true). A restore copies the pages back into the target through its own
connection, in one write transaction: SQLite keeps the target's WAL and locks right.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from sitewatch.backup.errors import BackupError

FILE = "relational.sqlite3"
VERSION_TABLE = "alembic_version"  # storage/schema.py's


def database_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url}: an in-memory SQLite database has nothing to back up or restore into")
    return Path(database)


def backup(path: Path, dest: Path) -> tuple[dict[str, int], str | None]:
    """Copy the database at ``path`` into the new file ``dest``; its tables' row counts and
    schema revision, read from the copy."""
    if not path.is_file():
        raise BackupError(f"no SQLite database at {path}: has the service ever run with this configuration?")
    with closing(sqlite3.connect(path, timeout=30)) as source, closing(sqlite3.connect(dest)) as copy:
        source.backup(copy)  # pages=-1: all of them in one step, one consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")
        counts = table_counts(copy)
        return counts, _revision(copy) if VERSION_TABLE in counts else None


def restore(copy: Path, path: Path) -> None:
    """Replace the database at ``path`` (made if absent) with the backup's ``copy``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as source, \
            closing(sqlite3.connect(path, timeout=30)) as target:
        source.backup(target)


def counts_at(path: Path) -> dict[str, int]:
    """Rows per table of the database at ``path``; {} when there is none."""
    if not path.is_file():
        return {}
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        return table_counts(con)


def in_use(path: Path) -> bool:
    """Whether another process has the database open (the service keeps pooled connections).

    Leaving WAL mode needs the database to oneself: SQLite answers SQLITE_BUSY at once while
    another process has a connection open that has read from it (the service's all have; one
    of this process's own does not count). Nobody else there, the mode is put back."""
    if not path.is_file():
        return False
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as con:
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return False  # not the service's mode: no connection of its is open
        try:
            con.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return True
            raise
        con.execute("PRAGMA journal_mode=WAL")
    return False


def table_counts(con: sqlite3.Connection) -> dict[str, int]:
    names = [n for (n,) in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: con.execute(f"SELECT count(*) FROM {_identifier(n)}").fetchone()[0] for n in names}


def _revision(con: sqlite3.Connection) -> str | None:
    row = con.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return None if row is None else row[0]


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
