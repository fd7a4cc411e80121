"""``sitewatch backup``: the time series first (when the service copies it, its audit row is
in the relational copy that follows), then the relational database, then the manifest.

Each store's copy is consistent in itself (one snapshot each); the two are taken a moment
apart, as two stores always are. A failed backup removes its folder: a folder with a
manifest is a whole backup.
"""

from __future__ import annotations

import platform
import shutil
import sqlite3
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sitewatch.backup import manifest, postgres, remote, sqlite, timeseries
from sitewatch.backup.errors import BackupError, BackupRefused
from sitewatch.backup.manifest import Manifest, RelationalPart, TimeSeriesPart
from sitewatch.config.models import Config
from sitewatch.domain.time import Clock

# Said in the manifest and by the command when the time series is on a server.
SERVER_TOOLS = ("the time series is on an InfluxDB-protocol server and is not in this backup: back it up with the "
                "server's own tools (VictoriaMetrics: vmbackup; InfluxDB 2.x/3.x: `influx backup`, 1.x: `influxd "
                "backup -portable`)")


@dataclass(frozen=True, slots=True)
class ServiceAccess:
    """How to reach the running service when it holds the time-series file."""

    url: str | None  # None: the configured port is 0; asked for only if needed
    token: str | None
    timeout_s: float = 3600.0


def make_backup(config: Config, dest: Path, *, clock: Clock, service: ServiceAccess) -> Manifest:
    """Write a backup of ``config``'s stores into ``dest`` (new, or an empty folder)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupRefused(f"{dest} exists and is not an empty folder: a backup goes into a new one")
    created_at = clock.now()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        versions = {"sitewatch": _sitewatch_version(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version}
        series = _timeseries(config, dest, service, versions)
        relational = _relational(config, dest, versions)
        made = Manifest(created_at=created_at, versions=versions, relational=relational, timeseries=series,
                        samples=series.tables.get("samples") if series.folder else None,
                        files=manifest.describe_files(dest))
        manifest.write(dest, made)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return made


def _timeseries(config: Config, dest: Path, service: ServiceAccess, versions: dict[str, str]) -> TimeSeriesPart:
    if config.storage.timeseries != "duckdb":
        return TimeSeriesPart(kind="influx", note=SERVER_TOOLS)
    path = config.storage.data_dir / config.storage.timeseries_path
    if not path.is_file():
        raise BackupError(f"no time-series file at {path}: has the service ever run with this configuration?")
    folder = dest / timeseries.FOLDER
    if not timeseries.held_for_writing(path):
        versions["duckdb"] = timeseries.engine_version()
        return TimeSeriesPart(kind="duckdb", folder=timeseries.FOLDER, made_by="backup-command",
                              tables=timeseries.export_unheld(path, folder))
    if service.url is None:
        raise BackupError(f"{path} is held by a running process, whose API port is chosen at start (port = 0): "
                          "pass its address with --url")
    if service.token is None:
        raise BackupRefused(f"{path} is held by the running service, which makes the copy when asked through its "
                            f"API with an admin token: --token-file FILE or {remote.TOKEN_ENV}")
    copy = remote.ask_service(service.url, service.token, timeout_s=service.timeout_s)
    timeseries.take_staged(copy.folder, folder)
    versions["duckdb"] = copy.duckdb
    return TimeSeriesPart(kind="duckdb", folder=timeseries.FOLDER, made_by="service", tables=copy.tables)


def _relational(config: Config, dest: Path, versions: dict[str, str]) -> RelationalPart:
    url = database_url(config)
    if url.startswith("sqlite"):
        counts, revision = sqlite.backup(sqlite.database_path(url), dest / sqlite.FILE)
        return RelationalPart(kind="sqlite", file=sqlite.FILE, tables=counts, schema_revision=revision)
    counts, revision, tools = postgres.backup(url, dest / postgres.FILE)
    versions.update(tools)
    return RelationalPart(kind="postgresql", file=postgres.FILE, tables=counts, schema_revision=revision)


def database_url(config: Config) -> str:
    return config.storage.database_url.format(data_dir=config.storage.data_dir.as_posix())


def _sitewatch_version() -> str:
    try:
        return version("sitewatch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
