"""A backup's ``manifest.json``: when it was made, by what versions, how many rows each table
had, and each file's size and SHA-256.

It is written last, so a folder without one is a backup that did not finish. A restore
reads it and checks every file before it touches anything. The hashes find a damaged or
truncated file, not a forged one: whoever can change a file can change the manifest too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from sitewatch.backup.errors import BackupCorrupt

NAME = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(_Frozen):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class RelationalPart(_Frozen):
    kind: Literal["sqlite", "postgresql"]
    file: str  # relative to the backup folder
    tables: dict[str, int]  # rows per table, in the copy
    schema_revision: str | None  # Alembic's; None: a database made before migrations


class TimeSeriesPart(_Frozen):
    kind: Literal["duckdb", "influx"]
    folder: str | None = None  # DuckDB's EXPORT DATABASE folder; None: not in this backup
    tables: dict[str, int] = {}  # rows per table, all from one snapshot
    made_by: Literal["service", "backup-command"] | None = None  # who held the file and copied it
    note: str = ""  # e.g. which tools back up a time-series server


class Manifest(_Frozen):
    format: Literal[1] = FORMAT
    created_at: AwareDatetime  # UTC
    versions: dict[str, str]  # sitewatch, python, duckdb, sqlite, postgresql server, pg_dump
    relational: RelationalPart
    timeseries: TimeSeriesPart
    samples: int | None  # rows of `samples` in the time-series copy; None: not in this backup
    files: dict[str, FileEntry]  # every file but this one, by path relative to the folder


def digest(path: Path) -> FileEntry:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
    return FileEntry(sha256=sha.hexdigest(), bytes=path.stat().st_size)


def describe_files(folder: Path) -> dict[str, FileEntry]:
    """Every file under ``folder`` but the manifest, by POSIX path relative to it."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / NAME)
    return {p.relative_to(folder).as_posix(): digest(p) for p in found}


def write(folder: Path, manifest: Manifest) -> None:
    """Last step of a backup: in one rename, so a manifest is never half written."""
    partial = folder / f".{NAME}.part"
    partial.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(partial, folder / NAME)


def read_verified(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``, once every file it lists is there with its
    size and SHA-256; BackupCorrupt naming the first that is not."""
    path = folder / NAME
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BackupCorrupt(f"{folder} has no {NAME}: not a backup, or one that did not finish") from None
    except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BackupCorrupt(f"{path} is not a manifest this version reads: {exc}") from None
    for name, expected in manifest.files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise BackupCorrupt(f"{path} lists {name!r}, outside the backup folder")
        file = folder / relative
        if not file.is_file():
            raise BackupCorrupt(f"{file} is missing from the backup")
        if file.stat().st_size != expected.bytes:
            raise BackupCorrupt(f"{file}: {file.stat().st_size} bytes, the manifest says {expected.bytes}: "
                                "the file is truncated or damaged")
        actual = digest(file)
        if actual.sha256 != expected.sha256:
            raise BackupCorrupt(f"{file}: sha256 {actual.sha256} differs from the manifest's {expected.sha256}: "
                                "the file is damaged")
    return manifest
