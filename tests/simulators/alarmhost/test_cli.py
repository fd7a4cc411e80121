"""`python -m sitewatch.simulators.alarmhost` as a user runs it: real process, broker, HTTP and signals."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sitewatch.broker import demo_broker
from sitewatch.simulators.alarmhost.cli import main
from tests.simulators.serving import served_lines

REPO = Path(__file__).parents[3]


@pytest.fixture
async def broker() -> AsyncIterator[tuple[str, int]]:
    async with demo_broker(prefer="mosquitto") as address:
        yield address


async def test_serve_publishes_acts_on_command_and_stops_cleanly_on_sigint(broker: tuple[str, int]) -> None:
    host, port = broker
    prefix = f"sw-cli-{uuid.uuid4().hex[:8]}/alarmhost"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sitewatch.simulators.alarmhost", "serve", "--broker", f"{host}:{port}",
        "--hosts", "2", "--zones", "4", "--topic-prefix", prefix, "--run-id", "cli",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        lines = await served_lines(process)
        assert [line.split()[0] for line in lines[:2]] == ["ah-001", "ah-002"]
        control = lines[-1].split()[1]

        # The retained status comes first and proves the subscription is in place.
        subscriber = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", host, "-p", str(port), "-q", "1", "-C", "2", "-W", "20",
            "-t", f"{prefix}/ah-002/#", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert subscriber.stdout is not None
        status = json.loads(await asyncio.wait_for(subscriber.stdout.readline(), timeout=20))
        assert status["online"] is True, status
        rc = await asyncio.to_thread(
            main, ["act", "--control", control, "--host", "ah-002", "--action", "zone_alarm", "--zone", "3"]
        )
        assert rc == 0
        event, _ = await asyncio.wait_for(subscriber.communicate(), timeout=20)
        payload = json.loads(event)
        assert (payload["type"], payload["zone"], payload["event_id"][:4]) == ("zone_alarm", 3, "cli-")

        rc = await asyncio.to_thread(main, ["act", "--control", control, "--host", "ah-002", "--action", "explode"])
        assert rc == 1, "an unknown action must fail"

        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
        assert process.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
