"""`sitewatch backup` and `sitewatch restore` as an operator runs them, on SQLite and DuckDB,
with the real service running and writing samples while the backup is taken: the service
copies the time series when asked through the API (audited), the restore refuses while the
service runs, and what a restore gives back is the service's stores as of the backup — a
prefix of the samples it went on writing, every relational row."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys

import duckdb
import httpx
from sqlalchemy import text

from sitewatch.backup.restore import restore_backup
from sitewatch.config.load import load_config
from sitewatch.storage.database import make_engine
from tests.backup.conftest import deployment
from tests.backup.rows import every_table
from tests.serving import READER, bearer
from tests.sitewatch.test_cli import SITEWATCH
from tests.sitewatch.test_two_processes import (
    config_text,
    read_until,
    spawn,
    start_service,
    wait_for,
)

ADMIN = "backup-admin-token"
ASSET, CHANNEL = "rs-north-01", "outlet_kpa"  # the example config's regulator station


def admin_toml() -> str:
    return (f'\n[[api.tokens]]\nname = "backup-admin"\nsha256 = "{hashlib.sha256(ADMIN.encode()).hexdigest()}"\n'
            'role = "admin"\n')


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SITEWATCH, *args], check=False, capture_output=True, text=True, timeout=60)


def test_a_backup_taken_while_the_service_writes_restores_its_stores_as_of_then(tmp_path):
    live, restored = tmp_path / "live", tmp_path / "restored"
    sim_log = tmp_path / "sim.log"
    sim = spawn([sys.executable, "-m", "sitewatch.simulators.regulator", "serve", "--stations", "1"], sim_log)
    service = None
    try:
        port = int(read_until(sim, sim_log, r"rs-001 127\.0\.0\.1:(\d+)").group(1))
        config_file = tmp_path / "sitewatch.toml"
        # Rules tick once a minute: the relational stores stay still while samples flow.
        text_ = config_text(data_dir=live, database_url="sqlite:///{data_dir}/sitewatch.db", station_port=port)
        config_file.write_text(text_.replace("tick_s = 0.2 ", "tick_s = 60.0 ")
                               .replace("flush_interval_s = 1.0", "flush_interval_s = 0.2") + admin_toml())
        token_file = tmp_path / "admin.token"
        token_file.write_text(ADMIN)
        service, url = start_service(config_file, tmp_path / "service.log")

        def stored() -> bool:
            """the service has stored samples of the station"""
            answer = httpx.get(f"{url}/api/assets/{ASSET}/trend", params={"channel": CHANNEL}, headers=bearer(READER),
                               timeout=5)
            return answer.status_code == 200

        wait_for(stored, timeout_s=20)
        made = run("backup", "--config", str(config_file), "--out", str(tmp_path / "backup"), "--url", url,
                   "--token-file", str(token_file))
        assert made.returncode == 0, made.stderr
        assert "copied by the service" in made.stdout, made.stdout
        config = load_config(config_file)
        engine = make_engine(f"sqlite:///{live}/sitewatch.db")
        try:
            source_rows = every_table(engine)  # while it runs: as the backup saw them
        finally:
            engine.dispose()

        refused = run("restore", "--config", str(config_file), "--from", str(tmp_path / "backup"), "--force")
        assert refused.returncode == 1 and "is held by a running process" in refused.stderr, refused.stderr
        assert "stop the service" in refused.stderr

        target = deployment(restored, "sqlite:///{data_dir}/sitewatch.db")
        restore_backup(target, tmp_path / "backup")  # elsewhere: the running service is not in the way
        service.send_signal(signal.SIGINT)
        assert service.wait(timeout=30) == 0, (tmp_path / "service.log").read_text()
    finally:
        for proc in (service, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)

    engine = make_engine(f"sqlite:///{restored}/sitewatch.db")
    try:
        restored_rows = every_table(engine)
        with engine.connect() as conn:
            copies = conn.execute(text("SELECT actor, action FROM audit_log WHERE entity = 'backup'")).all()
    finally:
        engine.dispose()
    # A running worker rewrites two tables on timers of its own: its leases (renewed) and its
    # devices' health (saved on a state change, refreshed every 30 s). A write there between the
    # backup and the read above is not the backup's fault; which rows exist is compared.
    for table, key in (("leases", 0), ("device_health", 0)):
        restored_keys = {row[key] for row in restored_rows.pop(table)}
        assert restored_keys <= {row[key] for row in source_rows.pop(table)}, table
        assert table != "leases" or restored_keys, "the backup holds the worker's leases as of then"
    assert restored_rows == source_rows
    assert copies == [("backup-admin", "timeseries_copied")], "the service's copy is audited, in the backup"
    assert config.storage.data_dir == live

    samples = json.loads((tmp_path / "backup" / "manifest.json").read_text())["samples"]
    with duckdb.connect(str(restored / "samples.duckdb"), read_only=True) as con:
        con.execute(f"ATTACH '{live / 'samples.duckdb'}' AS live (READ_ONLY)")
        written = con.execute("SELECT count(*) FROM live.samples").fetchone()[0]
        assert 0 < samples < written, f"{samples} in the backup, {written} written: the copy was taken mid-stream"
        # The samples are appended one flush at a time, so a snapshot is the first rows written.
        prefix = f"SELECT * FROM live.samples WHERE rowid < {samples}"
        assert con.execute(f"SELECT count(*) FROM (SELECT * FROM samples EXCEPT ALL {prefix})").fetchone()[0] == 0
        assert con.execute(f"SELECT count(*) FROM ({prefix} EXCEPT ALL SELECT * FROM samples)").fetchone()[0] == 0
        # ... and `latest`, upserted with each flush, is the newest of those samples: one snapshot for both.
        stale = con.execute("""
            SELECT count(*) FROM latest FULL JOIN (SELECT asset_id, channel, max(ts) AS newest FROM samples GROUP BY ALL)
            USING (asset_id, channel) WHERE latest.ts IS DISTINCT FROM newest""").fetchone()[0]
        assert stale == 0, "latest and samples come from different moments"
