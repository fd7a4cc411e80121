"""The embedded time series (the DuckDB file): who holds it, its copy, its restore.

DuckDB lets one process hold a file for writing, and then no other can open it, even
read-only. Hence the decision (README, "Backup and restore"):
- the service running (the file held for writing): the service copies it itself,
  ``DuckDBStore.export``, asked by the backup command through ``POST /api/admin/backup``
  with an admin token; it writes the copy under ``<data_dir>/backups/`` and the command
  moves it into the backup;
- nobody holding it: the backup command copies it on a read-only connection;
- a restore needs nobody holding it at all, and says so otherwise.

Who holds the file is read from its POSIX lock (DuckDB takes one, which is how it refuses a
second process), not from an error message. POSIX locks belong to a process and closing any
of its descriptors of the file drops them all: only a process that does not hold the store
itself (the command, a test's) may probe it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import duckdb

from sitewatch.backup.errors import BackupCorrupt, BackupError
from sitewatch.storage.duckdb_export import export_snapshot, table_counts

FOLDER = "timeseries"  # in a backup
STAGING = "backups"  # under data_dir: where the service puts the copies it makes
_STAGED_PREFIX = "timeseries-"


@runtime_checkable
class Exportable(Protocol):
    """A time-series store held by this process that can copy itself (DuckDBStore)."""

    def export(self, folder: Path) -> dict[str, int]: ...


def engine_version() -> str:
    return duckdb.__version__


def held_for_writing(path: Path) -> bool:
    """Whether a process holds the DuckDB file at ``path`` for writing (the service)."""
    return _locked(path, os.O_RDONLY, fcntl.LOCK_SH)


def held(path: Path) -> bool:
    """Whether any process has the DuckDB file at ``path`` open, even read-only."""
    return _locked(path, os.O_RDWR, fcntl.LOCK_EX)


def staging_folder(data_dir: Path, now: datetime) -> Path:
    """A new folder for the service's copy, named by time and at random (two at once never meet)."""
    return Path(data_dir).resolve() / STAGING / f"{_STAGED_PREFIX}{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def take_staged(staged: Path, folder: Path) -> None:
    """Move the service's copy into the backup's ``folder``; what is left of it goes either way."""
    if staged.parent.name != STAGING or not staged.name.startswith(_STAGED_PREFIX):
        raise BackupError(f"the service named {staged} as its copy, which is not one of its staging folders")
    try:
        shutil.move(staged, folder)
    except OSError as exc:
        raise BackupError(f"cannot move the service's copy {staged} into {folder}: {exc} "
                          "(run the backup as the service's user)") from exc
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def export_unheld(path: Path, folder: Path) -> dict[str, int]:
    """The copy when no process holds the file: on a read-only connection of our own."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return export_snapshot(con, folder)
    except duckdb.Error as exc:  # e.g. the service started meanwhile
        raise BackupError(f"cannot copy the time series {path}: {exc}") from exc


def counts_at(path: Path) -> dict[str, int]:
    """Rows per table of the DuckDB file at ``path``; {} when there is none."""
    if not path.is_file():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        return table_counts(con)


def build(folder: Path, path: Path, expected: dict[str, int]) -> Path:
    """Import the backup's ``folder`` into a new file beside ``path`` (``swap`` puts it in
    place) and check it holds ``expected`` rows per table."""
    building = path.with_name(path.name + ".restoring")
    discard(building)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with duckdb.connect(str(building)) as con:
            con.execute(f"IMPORT DATABASE '{_literal(folder.resolve())}'")
            got = table_counts(con)
    except duckdb.Error as exc:
        discard(building)
        raise BackupCorrupt(f"cannot import the time series from {folder}: {exc}") from exc
    if got != expected:
        discard(building)
        raise BackupCorrupt(f"the time series imported from {folder} has {got} rows, the manifest says {expected}")
    return building


def swap(building: Path, path: Path) -> None:
    """Put the built file in place of ``path``. The old file's write-ahead log goes first:
    replayed onto the new file, it would corrupt it."""
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    os.replace(building, path)


def discard(building: Path) -> None:
    for leftover in (building, building.with_name(building.name + ".wal")):
        leftover.unlink(missing_ok=True)


def _locked(path: Path, mode: int, lock: int) -> bool:
    try:
        fd = os.open(path, mode)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, lock | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: a conflicting lock is held
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
