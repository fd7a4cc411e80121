"""A simulator's `serve` run as a user runs it: the lines it prints until its control URL."""

from __future__ import annotations

import asyncio

import pytest

START_S = 20.0  # a fresh interpreter importing the simulator, on a busy 2-core machine


async def served_lines(process: asyncio.subprocess.Process) -> list[str]:
    """What `serve` printed (one line per device, then `control URL`), once it printed the
    control line; the test fails with its stderr if it exits before."""
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("control "):
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=START_S)).decode()
        if not line:
            _, stderr = await process.communicate()
            pytest.fail(f"serve exited early: rc={process.returncode} {stderr.decode()}")
        lines.append(line)
    return lines
