"""Two identical Sitewatch processes on one PostgreSQL database (issue 4's concurrency
acceptance): one holds the fleet's only shard and judges, the other serves its API and waits
(sitewatch/stages/shards.py); one ticket per fault; a SIGKILL of the holder loses nothing — the
other seizes the dead process's shard at once (same node), and the killed one restarts without
a duplicate."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serving import READER, bearer, reader_toml
from tests.sitewatch.test_cli import EXAMPLE, SITEWATCH

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
READ = bearer(READER)


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    # Output goes to a file, not a pipe: a pipe nobody reads would fill and stall the process.
    with log.open("w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True)


def read_until(proc: subprocess.Popen, log: Path, pattern: str, *, timeout_s: float = 30) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # a file has no event to await
    raise AssertionError(f"{proc.args} did not print {pattern!r}:\n{log.read_text()}")


def config_text(*, data_dir: Path, database_url: str, station_port: int) -> str:
    text = EXAMPLE.read_text()
    # Only the regulator station: alarm hosts would share one MQTT client id between the two.
    text = text[: text.index("[mqtt]")] + text[text.index("[rules_engine]"):]
    text = text[: text.index('[[assets]]\nid = "ah-north-01"')] + text[text.index("# One ticket per fault"):]
    for old, new in [
        ('data_dir = "var"', f'data_dir = "{data_dir}"'),
        ('database_url = "sqlite:///{data_dir}/sitewatch.db"', f'database_url = "{database_url}"'),
        ("port = 8000", "port = 0"),
        ("port = 15020", f"port = {station_port}"),
        ("poll_interval_s = 5.0", "poll_interval_s = 0.5"),
        ("tick_s = 1.0 ", "tick_s = 0.2 "),
        ("for_s = 10.0", "for_s = 1.0"),
    ]:
        assert old in text, f"the example config no longer has {old!r}"
        text = text.replace(old, new)
    return text + reader_toml()


def start_service(config: Path, log: Path) -> tuple[subprocess.Popen, str]:
    proc = spawn([SITEWATCH, "run", "--config", str(config)], log)
    return proc, read_until(proc, log, r"(http://127\.0\.0\.1:\d+)/").group(1)


def wait_for(check, *, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)  # polling an HTTP view: the API has no push channel
    raise AssertionError(f"not within {timeout_s} s: {check.__doc__ or check}")


def test_two_processes_one_ticket_and_a_sigkill_loses_nothing(database_url, tmp_path):
    sim_log = tmp_path / "sim.log"
    sim = spawn([sys.executable, "-m", "sitewatch.simulators.regulator", "serve", "--stations", "1"], sim_log)
    services: list[subprocess.Popen] = []
    try:
        port = int(read_until(sim, sim_log, r"rs-001 127\.0\.0\.1:(\d+)").group(1))
        control = read_until(sim, sim_log, r"control (http://\S+)").group(1)
        configs = []
        for name in ("a", "b"):
            path = tmp_path / f"{name}.toml"
            path.write_text(config_text(data_dir=tmp_path / name, database_url=database_url, station_port=port))
            configs.append(path)
        (a, url_a) = start_service(configs[0], tmp_path / "a.log")
        (b, url_b) = start_service(configs[1], tmp_path / "b.log")
        services += [a, b]

        def tickets(url: str = url_b) -> list[dict]:
            return httpx.get(f"{url}/api/tickets", timeout=5, headers=READ).json()

        httpx.post(f"{control}/stations/rs-001/faults", json={"fault": "regulator_failure"}, timeout=5)
        wait_for(lambda: tickets(url_a), timeout_s=20)
        time.sleep(2)  # the fault goes on: still one ticket, one alert, seen alike from both APIs
        assert len(tickets(url_a)) == len(tickets(url_b)) == 1
        assert len(httpx.get(f"{url_b}/api/alerts", params={"state": "firing"}, timeout=5, headers=READ).json()) == 1

        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        httpx.delete(f"{control}/stations/rs-001/faults/regulator_failure", timeout=5)

        def resolved():
            """the surviving process resolves the alert"""
            return httpx.get(f"{url_b}/api/alerts", params={"state": "resolved"}, timeout=5, headers=READ).json()

        wait_for(resolved, timeout_s=20)
        httpx.post(f"{control}/stations/rs-001/faults", json={"fault": "regulator_failure"}, timeout=5)

        def second_occurrence():
            """the re-fire is counted on the open ticket"""
            found = tickets()
            return found if found and found[0]["occurrences"] == 2 else None

        wait_for(second_occurrence, timeout_s=20)
        a2, url_a2 = start_service(configs[0], tmp_path / "a2.log")  # the killed one comes back
        services.append(a2)
        time.sleep(3)
        [ticket] = tickets(url_a2)
        assert ticket["occurrences"] == 2, "the restart added nothing"
        assert len(httpx.get(f"{url_a2}/api/alerts", params={"state": "firing"}, timeout=5, headers=READ).json()) == 1
    finally:
        for proc in [*services, sim]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in [*services, sim]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
