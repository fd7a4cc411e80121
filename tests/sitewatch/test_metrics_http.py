"""A worker's own /metrics (`sitewatch run --roles collector,rules --metrics-port`): a real
process polling a simulated station reports its shards, the leases it saw, the samples it
wrote, its rules engine's ticks and how far behind its shard's judging runs."""

from __future__ import annotations

import re
import sys

import httpx

from tests.sitewatch.processes import example_config, until
from tests.sitewatch.test_cli import SITEWATCH
from tests.sitewatch.test_metrics import _samples
from tests.sitewatch.test_two_processes import read_until, spawn


def test_a_worker_serves_its_metrics_on_its_own_port(tmp_path):
    sim_log = tmp_path / "sim.log"
    sim = spawn([sys.executable, "-m", "sitewatch.simulators.regulator", "serve", "--stations", "1"], sim_log)
    worker = None
    try:
        port = int(read_until(sim, sim_log, r"rs-001 127\.0\.0\.1:(\d+)").group(1))
        config = tmp_path / "worker.toml"
        config.write_text(example_config(data_dir=tmp_path / "data", client_id="metrics-http", prefix="sw-test/mh",
                                         flush_interval_s=0.2, station_port=port, poll_interval_s=0.5))
        log = tmp_path / "worker.log"
        worker = spawn([SITEWATCH, "run", "--config", str(config), "--roles", "collector,rules",
                        "--metrics-port", "0"], log)
        url = read_until(worker, log, r"metrics: (http://127\.0\.0\.1:\d+)/metrics").group(1)

        def scrape() -> dict:
            response = httpx.get(f"{url}/metrics", timeout=5)
            assert response.status_code == 200, response.text
            return _samples(response.text)

        got = until("samples written and judged", scrape,
                    lambda m: m.get(("sitewatch_samples_written_total", ()), 0) > 0
                    and m.get(("sitewatch_rules_tick_seconds_count", ()), 0) > 0)
        assert got[("sitewatch_shards_held", (("of", "1"),))] == 1, "the lone worker does not hold the fleet"
        holders = [labels for (name, labels) in got if name == "sitewatch_lease_holder"]
        assert any(dict(labels)["lease"] == "shard-0-of-1" for labels in holders), holders
        lag = got[("sitewatch_shard_lag_seconds", (("shard", "engine"),))]
        assert 0 <= lag < 30, f"the shard's judging runs {lag} s behind"
        assert got[("sitewatch_polls_total", (("kind", "regulator_station"), ("outcome", "ok")))] > 0
        # No camera here: camera polls never waited, and the slots are Headroom's first few.
        assert got[("sitewatch_polls_deferred_total", ())] == 0
        assert got[("sitewatch_deferrable_poll_slots", (("slots", "limit"),))] >= 1
        assert got[("sitewatch_deferrable_poll_slots", (("slots", "waiting"),))] == 0
        assert httpx.get(f"{url}/other", timeout=5).status_code == 404
        assert re.search(r"Sitewatch is running \[roles: collector,rules\], without the API", log.read_text())
    finally:
        for proc in (worker, sim):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
