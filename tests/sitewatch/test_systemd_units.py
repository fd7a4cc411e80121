"""The systemd units in deploy/systemd run: each ExecStart (and ExecStartPre), with the
installed paths swapped for this checkout's and a test configuration, starts the role it
says and stops cleanly on the unit's KillSignal."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from tests.servers import free_port
from tests.sitewatch.test_roles import SITEWATCH, prepare, station  # noqa: F401 (station is a fixture)
from tests.sitewatch.test_two_processes import read_until, spawn

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def _commands(unit: Path, *, config: Path, instance: str) -> dict[str, list[str]]:
    lines = dict(re.findall(r"^(ExecStart|ExecStartPre|KillSignal)=(.*)$", unit.read_text(), flags=re.MULTILINE))
    out = {}
    for key in ("ExecStartPre", "ExecStart"):
        text = lines[key].replace("/etc/sitewatch/sitewatch.toml", str(config)).replace("%i", instance)
        argv = shlex.split(text)
        assert argv[0] == "/opt/sitewatch/venv/bin/sitewatch", f"{unit.name}: {key} runs {argv[0]}"
        out[key] = [SITEWATCH, *argv[1:]]
    assert lines["KillSignal"] == "SIGTERM", f"{unit.name}: the process stops cleanly on SIGTERM"
    return out


@pytest.mark.parametrize(("unit", "says"), [
    ("sitewatch-worker@.service", r"metrics: http://127\.0\.0\.1:(?P<port>\d+)/metrics"),
    ("sitewatch-chores.service", r"Sitewatch is running \[roles: chores\], without the API"),
    ("sitewatch-api@.service", r"Sitewatch is running: http://127\.0\.0\.1:(?P<port>\d+)/ .*\[roles: api\]"),
])
def test_each_unit_starts_its_role_and_stops_on_sigterm(tmp_path, station, unit, says):  # noqa: F811
    config = prepare(tmp_path, station.port)
    port = str(free_port())
    commands = _commands(UNITS / unit, config=config, instance=port)
    check = subprocess.run(commands["ExecStartPre"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, f"{unit}: ExecStartPre failed: {check.stdout}{check.stderr}"
    log = tmp_path / f"{unit}.log"
    proc = spawn(commands["ExecStart"], log)
    try:
        found = read_until(proc, log, says)
        if "port" in found.groupdict():
            assert found["port"] == port, f"{unit}: the instance name is the port it serves on"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()
