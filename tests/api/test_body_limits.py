"""Request bodies over a real socket (api/limits.py): a body over its limit is refused with a
413 before it is read, whether its size is declared or it comes chunked; nobody's write is
refused before its body is read; and the server's memory does not grow with what a client
sends. The client is a raw socket that keeps sending while it waits for the answer, as a
hostile one would, from one reused 64 KiB chunk (the client itself holds nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitewatch.api.limits import DEFAULT_LIMIT
from tests.api.hostile_world import TOKENS, build_world
from tests.serving import served

FIFTY_MB = 50 * 1024 * 1024
CHUNK = b"x" * 65536
MAX_GROWTH_KIB = 20 * 1024  # unbounded, the server peaked 246 MiB higher for this body


@pytest.fixture
async def port(tmp_path):
    parts, app = build_world(tmp_path)
    async with served(app) as client:
        yield int(client.base_url.port)
    parts.close()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


@contextlib.contextmanager
def peak_growth() -> Iterator[list[int]]:
    """The growth of this process's peak resident memory (KiB) over the block: the server
    runs in this process. Linux resets the peak to the current size on '5' to clear_refs."""
    Path("/proc/self/clear_refs").write_text("5")
    before, growth = _status_kib("VmRSS"), []
    yield growth
    growth.append(_status_kib("VmHWM") - before)


def json_body(size: int) -> Iterator[bytes]:
    """A JSON object of ``size`` bytes (a huge note), in chunks."""
    head, tail = b'{"to": "dispatched", "note": "', b'"}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        yield CHUNK[:left]
        left -= len(CHUNK)
    yield tail


def chunked(parts: Iterator[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


async def exchange(port: int, head: str, body: Iterator[bytes]) -> tuple[int, dict]:
    """Send ``head`` and then ``body`` while waiting for the answer; (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def pump() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode())
            for part in body:
                writer.write(part)
                await writer.drain()

    pumping = asyncio.create_task(pump())
    try:
        lines = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)).decode().split("\r\n")
        length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length:"))
        return int(lines[0].split()[1]), json.loads(await reader.readexactly(length))
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def post(path: str, *, token: str | None, length: int | None = None, content_type: str = "application/json") -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


async def test_a_declared_50_mb_body_is_refused_unread_and_memory_stays_flat(port):
    with peak_growth() as growth:
        status, answer = await exchange(port, post("/api/tickets/1/transitions", token=TOKENS["admin"],
                                                   length=FIFTY_MB), json_body(FIFTY_MB))
    assert status == 413 and "at most 1048576 bytes" in answer["detail"], answer
    assert growth[0] < MAX_GROWTH_KIB, f"resident memory grew by {growth[0]} KiB"


async def test_a_chunked_50_mb_body_is_cut_off_at_the_limit_and_memory_stays_flat(port):
    with peak_growth() as growth:
        status, answer = await exchange(port, post("/api/tickets/1/transitions", token=TOKENS["admin"]),
                                        chunked(json_body(FIFTY_MB)))
    assert status == 413 and "at most 1048576 bytes" in answer["detail"], answer
    assert growth[0] < MAX_GROWTH_KIB, f"resident memory grew by {growth[0]} KiB"


async def test_nobody_s_write_is_refused_before_a_byte_of_its_body(port):
    """Chunked, and the body never comes: the answer cannot have waited for it."""
    never: Iterator[bytes] = iter(())
    for token in (None, "not-a-token"):
        status, answer = await exchange(port, post("/api/tickets/1/transitions", token=token), never)
        assert status == 401, answer


async def test_a_declared_body_over_the_limit_is_refused_before_anyone_is_identified(port):
    status, answer = await exchange(port, post("/api/tickets/1/transitions", token=None, length=FIFTY_MB), iter(()))
    assert status == 413, answer


async def test_each_kind_of_body_has_its_own_bound(port):
    """The login form is small; a checklist of results may pass the 1 MiB of the rest."""
    login = post("/login", token=None, length=20 * 1024, content_type="application/x-www-form-urlencoded")
    status, answer = await exchange(port, login, iter(()))
    assert status == 413 and "at most 16384 bytes" in answer["detail"], answer
    size = 2 * DEFAULT_LIMIT
    checklist = post("/api/inspections/1/results", token=TOKENS["technician"], length=size)
    body = json.dumps({"results": [{"item": "x", "outcome": "ok", "note": "n" * 1000}] * 3000}).encode()[:size]
    status, answer = await exchange(port, checklist, iter([body.ljust(size)]))
    assert status == 422, "read and judged, not refused by its size"
