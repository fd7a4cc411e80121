"""The `sitewatch` console script as a user runs it: help, check, demo and run start and stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serving import READER, bearer, reader_toml

SITEWATCH = str(Path(sys.executable).with_name("sitewatch"))
EXAMPLE = Path(__file__).parents[2] / "config" / "sitewatch.example.toml"


@pytest.mark.parametrize("args", [[], ["demo"], ["run"], ["check"], ["simulate"], ["vault"], ["user"], ["db"],
                                  ["backup"], ["restore"]])
def test_every_command_has_help(args):
    done = subprocess.run([SITEWATCH, *args, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout.lower()
    if not args:
        assert all(cmd in done.stdout for cmd in ("demo", "run", "check", "simulate", "vault", "user", "db", "backup",
                                                      "restore"))


def test_check_accepts_the_example_and_names_the_bad_key(tmp_path):
    ok = subprocess.run([SITEWATCH, "check", "--config", str(EXAMPLE)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "2 asset(s)" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("poll_interval_s = 5.0", "poll_interval_s = -5.0"))
    done = subprocess.run([SITEWATCH, "check", "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert re.search(r"line \d+, key assets\[0\]\.poll_interval_s: Input should be greater than or equal to 0.05",
                     done.stderr), done.stderr


def start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([SITEWATCH, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # blocks until the service prints where it listens
        lines.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if found:
            return proc, found.group(1)
    raise AssertionError("the service exited before printing its URL:\n" + "".join(lines))


def printed(proc: subprocess.Popen, pattern: str) -> str:
    """The first group of the next line of output that matches ``pattern``."""
    for line in proc.stdout:
        if found := re.search(pattern, line):
            return found.group(1)
    raise AssertionError(f"the service exited before printing {pattern!r}")


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_demo_serves_the_dashboard_and_stops_cleanly_on_ctrl_c(tmp_path):
    proc, url = start(["demo", "--port", "0", "--stations", "3", "--cameras", "2", "--alarm-hosts", "1",
                       "--no-schedule", "--no-history", "--poll-interval-s", "0.5",
                       "--data-dir", str(tmp_path)], tmp_path)
    try:
        auth = bearer(printed(proc, r"write token[^:]*: (\S+)"))
        page = httpx.get(url + "/", timeout=10, headers=auth)
        assert page.status_code == 200 and "Regulator station 001" in page.text
        assert "Camera 001" in page.text and "Alarm host 001" in page.text, "all three kinds of device"
        assert httpx.get(url + "/healthz", timeout=10).json()["status"] == "ok"
    finally:
        out = stop(proc)
    assert "stopped" in out and "Traceback" not in out


def test_run_starts_from_a_config_file_and_stops(tmp_path):
    config = tmp_path / "sitewatch.toml"
    config.write_text(EXAMPLE.read_text().replace('data_dir = "var"', f'data_dir = "{tmp_path / "data"}"')
                      .replace("port = 8000", "port = 0") + reader_toml())
    proc, url = start(["run", "--config", str(config)], tmp_path)
    try:
        assert httpx.get(url + "/api/assets", timeout=10).status_code == 401, "nothing is read anonymously"
        assets = httpx.get(url + "/api/assets", timeout=10, headers=bearer(READER)).json()
        assert sorted(a["id"] for a in assets) == ["ah-north-01", "rs-north-01"]
    finally:
        out = stop(proc)
    assert "Traceback" not in out
    assert (tmp_path / "data" / "samples.duckdb").exists()


def test_vault_stores_a_credential_without_ever_showing_it(tmp_path):
    import os

    from sitewatch.vault import generate_key

    config = tmp_path / "sitewatch.toml"
    config.write_text(EXAMPLE.read_text().replace('data_dir = "var"', f'data_dir = "{tmp_path / "data"}"'))
    env = dict(os.environ, SITEWATCH_VAULT_KEY=generate_key())
    put = subprocess.run([SITEWATCH, "vault", "--config", str(config), "set", "cam-01", "--username", "admin",
                          "--password-stdin"], input="Very-S3cret\n", capture_output=True, text=True, env=env, timeout=30)
    assert put.returncode == 0, put.stderr
    listed = subprocess.run([SITEWATCH, "vault", "--config", str(config), "list"], capture_output=True, text=True,
                            env=env, timeout=30)
    assert "cam-01" in listed.stdout and "ad***" in listed.stdout
    for out in (put.stdout, put.stderr, listed.stdout, listed.stderr):
        assert "Very-S3cret" not in out and "admin" not in out
    no_key = subprocess.run([SITEWATCH, "vault", "--config", str(config), "list"], capture_output=True, text=True,
                            env={k: v for k, v in env.items() if k != "SITEWATCH_VAULT_KEY"}, timeout=30)
    assert no_key.returncode == 2 and "SITEWATCH_VAULT_KEY" in no_key.stderr
