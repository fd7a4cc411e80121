"""A backup refuses to write into a folder that holds something, and says what it needs when
the service holds the time series (its address, an admin token, an API that answers),
leaving no folder behind; a time series on a server is left to the server's own tools and
the rest is backed up and restored."""

from __future__ import annotations

import pytest

from sitewatch.backup.errors import BackupError, BackupRefused
from sitewatch.backup.make import ServiceAccess, make_backup
from sitewatch.backup.restore import restore_backup
from sitewatch.storage.database import make_engine
from sitewatch.storage.schema import upgrade_schema
from tests.backup.conftest import NOW, deployment, held_as_by_the_service, url_of
from tests.backup.rows import every_table, fill_every_table
from tests.serving import FixedClock

CLOCK = FixedClock(NOW)
NOBODY = "http://127.0.0.1:9"  # the discard port: no API answers there


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_backup_refuses_and_leaves_no_folder(source, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("not a backup's")
    with pytest.raises(BackupRefused, match="not an empty folder"):
        make_backup(source, busy, clock=CLOCK, service=ServiceAccess(url=None, token=None))
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

    out = tmp_path / "backup"
    with held_as_by_the_service(source):
        for access, error, says in (
            (ServiceAccess(url=NOBODY, token=None), BackupRefused, "--token-file FILE or SITEWATCH_API_TOKEN"),
            (ServiceAccess(url=None, token="t"), BackupError, "port = 0.*--url"),
            (ServiceAccess(url=NOBODY, token="t", timeout_s=2), BackupError, "no Sitewatch API answered at"),
        ):
            with pytest.raises(error, match=says):
                make_backup(source, out, clock=CLOCK, service=access)
            assert not out.exists(), f"a failed backup left {out} behind"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_time_series_on_a_server_is_left_to_its_tools(database_url, tmp_path):
    server = {"timeseries": "influx", "influx": {"url": NOBODY}}
    source = deployment(tmp_path / "source", database_url, **server)
    source.storage.data_dir.mkdir()
    engine = make_engine(url_of(source))
    try:
        upgrade_schema(engine)
        fill_every_table(engine)
        rows = every_table(engine)
    finally:
        engine.dispose()

    made = make_backup(source, tmp_path / "backup", clock=CLOCK, service=ServiceAccess(url=None, token=None))
    assert (made.timeseries.kind, made.timeseries.folder, made.samples) == ("influx", None, None)
    assert "vmbackup" in made.timeseries.note and "influxd backup" in made.timeseries.note
    assert list(made.files) == ["relational.sqlite3"]

    target = deployment(tmp_path / "target", f"sqlite:///{tmp_path / 'target.db'}", **server)
    restored = restore_backup(target, tmp_path / "backup")
    assert restored.notes == [made.timeseries.note]
    engine = make_engine(url_of(target))
    try:
        assert every_table(engine) == rows
    finally:
        engine.dispose()
