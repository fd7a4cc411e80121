"""`python -m sitewatch.simulators.regulator` as a user runs it: real process, sockets and signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sitewatch.simulators.regulator.cli import main

from .peers import mbpoll

REPO = Path(__file__).parents[3]


@dataclass
class Served:
    process: asyncio.subprocess.Process
    stations: dict[str, int]  # station id -> port
    control_url: str


async def _start_serve(*args: str) -> Served:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sitewatch.simulators.regulator",
        "serve",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stations: dict[str, int] = {}
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        if not line:
            _, stderr = await process.communicate()
            pytest.fail(f"serve exited early: rc={process.returncode} {stderr.decode()}")
        word, address, *_ = line.split()
        if word == "control":
            return Served(process, stations, address)
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1"
        stations[word] = int(port)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    s = await _start_serve("--stations", "2", "--seed", "5")
    try:
        yield s
    finally:
        if s.process.returncode is None:
            s.process.kill()
            await s.process.communicate()


async def test_serve_answers_modbus_and_stops_cleanly_on_sigint(served: Served):
    assert list(served.stations) == ["rs-001", "rs-002"]
    result = await mbpoll(served.stations["rs-002"], count=18)
    assert result.rc == 0 and len(result.values) == 18, result.output

    served.process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(served.process.communicate(), timeout=10)
    assert served.process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr, stderr.decode()


async def test_inject_and_clear_commands_drive_the_served_fleet(served: Served):
    url, port = served.control_url, served.stations["rs-001"]
    rc = await asyncio.to_thread(
        main, ["inject", "--control", url, "--station", "rs-001", "--fault", "comm_loss"]
    )
    assert rc == 0
    assert (await mbpoll(port)).rc != 0, "comm_loss should have closed the station's port"
    rc = await asyncio.to_thread(
        main,
        [
            "inject",
            "--control",
            url,
            "--station",
            "rs-001",
            "--fault",
            "gas_leak",
            "--param",
            "cap_pct=20",
        ],
    )
    assert rc == 0
    async with httpx.AsyncClient(base_url=url) as client:
        faults = (await client.get("/stations/rs-001")).json()["faults"]
    assert {f["fault"]: f["params"] for f in faults}["gas_leak"] == {
        "rate_pct_s": 1.0,
        "cap_pct": 20.0,
    }

    assert (
        await asyncio.to_thread(
            main, ["clear", "--control", url, "--station", "rs-001", "--fault", "comm_loss"]
        )
        == 0
    )
    assert (await mbpoll(port)).rc == 0
    assert await asyncio.to_thread(main, ["clear", "--control", url, "--station", "rs-001"]) == 0
    assert (
        await asyncio.to_thread(
            main, ["inject", "--control", url, "--station", "rs-404", "--fault", "door_open"]
        )
        == 1
    ), "an unknown station must fail the command"

    served.process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(served.process.communicate(), timeout=10)
    assert served.process.returncode == 0


async def test_help_runs():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sitewatch.simulators.regulator",
        "--help",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0 and b"serve" in out and b"inject" in out


def test_bad_param_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "inject",
                "--control",
                "unused",
                "--station",
                "rs-001",
                "--fault",
                "gas_leak",
                "--param",
                "cap_pct",
            ]
        )
    assert exited.value.code == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_main_is_importable_from_dunder_main_without_running():
    # `sitewatch simulate` imports it from there; importing must not start anything.
    from sitewatch.simulators.regulator.__main__ import main as dunder_main

    assert dunder_main is main
