"""A backup restored into empty stores gives back every row of every table, on SQLite and
PostgreSQL with the embedded time series; and a restore refuses, with nothing changed, a
damaged backup, stores that hold data (unless forced) and stores a process still holds."""

from __future__ import annotations

import math
import shutil
from datetime import timedelta

import duckdb
import pytest

from sitewatch.backup import postgres, sqlite
from sitewatch.backup.errors import BackupCorrupt, ServiceRunning, TargetNotEmpty
from sitewatch.backup.make import ServiceAccess, make_backup
from sitewatch.backup.restore import restore_backup
from sitewatch.config.models import Config
from sitewatch.domain.samples import Quality
from sitewatch.storage.database import make_engine
from sitewatch.storage.duckdb_store import DuckDBStore
from tests.backup.conftest import (
    NOW,
    SAMPLES,
    deployment,
    held_as_by_the_service,
    url_of,
)
from tests.backup.rows import every_table
from tests.serving import FixedClock

NO_SERVICE = ServiceAccess(url=None, token=None)  # nothing holds the stores: the command copies them


def relational(config: Config) -> dict[str, list[tuple]]:
    engine = make_engine(url_of(config))
    try:
        return every_table(engine)
    finally:
        engine.dispose()


def series(config: Config) -> dict[str, list[tuple]]:
    with duckdb.connect(str(config.storage.data_dir / config.storage.timeseries_path), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


def test_a_backup_restores_every_row_of_every_table(source, empty_database_url, tmp_path):
    made = make_backup(source, tmp_path / "backup", clock=FixedClock(NOW), service=NO_SERVICE)
    assert made.created_at == NOW and made.timeseries.made_by == "backup-command"
    assert made.samples == len(SAMPLES)
    before = relational(source)
    empty = sorted(name for name, rows in before.items() if not rows)
    assert empty == [], f"the filler left tables empty, the comparison would prove nothing for them: {empty}"
    assert made.relational.tables == {name: len(rows) for name, rows in before.items()}

    target = deployment(tmp_path / "target", empty_database_url)
    restore_backup(target, tmp_path / "backup")

    after = relational(target)
    assert after.keys() == before.keys()
    differ = [name for name in before if after[name] != before[name]]
    assert differ == [], f"tables restored with other rows: {differ}"
    assert series(target) == series(source)
    # The copy holds NaN as NULL (the store's convention), and reads back as NaN.
    restored = DuckDBStore(target.storage.data_dir / target.storage.timeseries_path)
    try:
        got = restored.query(asset_id="rs-000", channel="inlet_kpa", start=NOW - timedelta(days=1), end=NOW + timedelta(1))
    finally:
        restored.close()
    assert got and all(math.isnan(s.value) and s.quality is Quality.COMM_ERROR for s in got)


def test_a_restore_refuses_damage_data_and_a_running_service(source, empty_database_url, tmp_path):
    backup = tmp_path / "backup"
    make_backup(source, backup, clock=FixedClock(NOW), service=NO_SERVICE)
    target = deployment(tmp_path / "target", empty_database_url)

    with pytest.raises(BackupCorrupt, match="has no manifest.json"):
        restore_backup(target, tmp_path)
    damaged = tmp_path / "damaged"
    shutil.copytree(backup, damaged)
    parquet = damaged / "timeseries" / "samples.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    parquet.write_bytes(bytes(data))
    with pytest.raises(BackupCorrupt, match=r"samples\.parquet: sha256 [0-9a-f]{64} differs"):
        restore_backup(target, damaged)
    relational_copy = next(p for p in damaged.iterdir() if p.name.startswith("relational."))
    relational_copy.write_bytes(relational_copy.read_bytes()[:-100])
    shutil.copy(backup / "timeseries" / "samples.parquet", parquet)
    with pytest.raises(BackupCorrupt, match="truncated or damaged"):
        restore_backup(target, damaged)
    assert not (target.storage.data_dir / "samples.duckdb").exists(), "a refused restore wrote nothing"
    url = url_of(target)
    assert (sqlite.counts_at(sqlite.database_path(url)) if url.startswith("sqlite") else postgres.counts_at(url)) == {}

    restore_backup(target, backup)
    with pytest.raises(TargetNotEmpty, match="only with --force"):
        restore_backup(target, backup)
    with held_as_by_the_service(target) as release_timeseries:
        with pytest.raises(ServiceRunning, match="samples.duckdb is held by a running process"):
            restore_backup(target, backup, force=True)
        release_timeseries()  # the database alone still in use
        with pytest.raises(ServiceRunning,
                           match="(open in another process|other sessions are connected).*stop the service"):
            restore_backup(target, backup, force=True)
    restore_backup(target, backup, force=True)
    assert relational(target) == relational(source)
