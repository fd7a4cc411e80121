"""``sitewatch restore``: every check first, then the writes.

Checks, in order, each refusing with nothing changed: the manifest and every file's
SHA-256; the backup's kinds of store against the configuration's; no process holding the
stores (the DuckDB file's lock, other connections to the database); the stores empty,
unless ``force``. Then the time series is imported into a new file beside its place, the
relational database restored (one transaction), and the new time-series file swapped in;
both are checked to hold the manifest's row counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sitewatch.backup import manifest, postgres, sqlite, timeseries
from sitewatch.backup.errors import BackupError, BackupRefused, ServiceRunning, TargetNotEmpty
from sitewatch.backup.make import SERVER_TOOLS, database_url
from sitewatch.backup.manifest import Manifest
from sitewatch.config.models import Config

STOP_FIRST = "stop the service (and any other Sitewatch process of this deployment), then restore"


@dataclass(frozen=True, slots=True)
class Restored:
    manifest: Manifest
    notes: list[str]  # what the person should know: e.g. the time series was not in the backup


def restore_backup(config: Config, source: Path, *, force: bool = False) -> Restored:
    made = manifest.read_verified(source)
    url = database_url(config)
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    if made.relational.kind != kind:
        raise BackupRefused(f"the backup holds a {made.relational.kind} database and this configuration's is {kind}: "
                            "restore into the same kind of database")
    series_path = config.storage.data_dir / config.storage.timeseries_path
    with_series = made.timeseries.folder is not None
    if with_series and config.storage.timeseries != "duckdb":
        raise BackupRefused("the backup holds an embedded (DuckDB) time series and this configuration keeps it on a "
                            "server: restore with timeseries = \"duckdb\"")
    _refuse_if_running(url, kind, series_path if config.storage.timeseries == "duckdb" else None)
    if not force:
        _refuse_if_not_empty(url, kind, series_path if with_series else None)

    building = None
    if with_series:
        building = timeseries.build(source / made.timeseries.folder, series_path, made.timeseries.tables)
    try:
        _relational(made, source, url, kind)
    except BaseException:
        if building is not None:
            timeseries.discard(building)
        raise
    if building is not None:
        timeseries.swap(building, series_path)
    notes = [] if with_series else [made.timeseries.note or SERVER_TOOLS]
    return Restored(made, notes)


def _refuse_if_running(url: str, kind: str, series_path: Path | None) -> None:
    if series_path is not None and timeseries.held(series_path):
        raise ServiceRunning(f"{series_path} is held by a running process (the Sitewatch service?): {STOP_FIRST}")
    if kind == "sqlite":
        path = sqlite.database_path(url)
        if sqlite.in_use(path):
            raise ServiceRunning(f"{path} is open in another process (the Sitewatch service?): {STOP_FIRST}")
        return
    others = postgres.other_sessions(url)
    if others:
        who = ", ".join(f"{name} ({n})" for name, n in others.items())
        raise ServiceRunning(f"other sessions are connected to the database: {who}: {STOP_FIRST}")


def _refuse_if_not_empty(url: str, kind: str, series_path: Path | None) -> None:
    holding = []
    counts = sqlite.counts_at(sqlite.database_path(url)) if kind == "sqlite" else postgres.counts_at(url)
    counts.pop(sqlite.VERSION_TABLE, None)  # the schema's revision: a database made but never used is empty
    if rows := sum(counts.values()):
        holding.append(f"the database holds {rows} row(s) in {sum(1 for n in counts.values() if n)} table(s)")
    if series_path is not None and (samples := sum(timeseries.counts_at(series_path).values())):
        holding.append(f"{series_path} holds {samples} row(s)")
    if holding:
        raise TargetNotEmpty(f"{'; '.join(holding)}: a restore replaces them only with --force")


def _relational(made: Manifest, source: Path, url: str, kind: str) -> None:
    copy = source / made.relational.file
    if kind == "sqlite":
        path = sqlite.database_path(url)
        sqlite.restore(copy, path)
        counts = sqlite.counts_at(path)
    else:
        postgres.restore(copy, url)
        counts = postgres.counts_at(url)
    restored = {name: counts.get(name) for name in made.relational.tables}
    if restored != made.relational.tables:
        wrong = {n: (restored[n], want) for n, want in made.relational.tables.items() if restored[n] != want}
        raise BackupError(f"the restored database's row counts differ from the backup's (got, expected): {wrong}")
