"""Clients we did not write (mbpoll), plus a raw Modbus TCP frame for exact exception codes."""

from __future__ import annotations

import asyncio
import re
import struct
from dataclasses import dataclass

MBPOLL = "/usr/bin/mbpoll"
_VALUE_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class MbpollResult:
    rc: int
    values: dict[int, float]  # 1-based reference -> value as printed (unsigned for 16-bit)
    output: str


async def mbpoll(
    port: int, *, ref: int = 1, count: int = 1, data_type: str = "4", device_id: int = 1
) -> MbpollResult:
    """One mbpoll read; `ref` is 1-based like mbpoll's -r. 32-bit types are read high word first."""
    args = [
        "-m",
        "tcp",
        "-a",
        str(device_id),
        "-r",
        str(ref),
        "-c",
        str(count),
        "-t",
        data_type,
        "-1",
    ]
    if ":" in data_type:
        args.append("-B")
    proc = await asyncio.create_subprocess_exec(
        MBPOLL,
        *args,
        "-o",
        "2",
        "-p",
        str(port),
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=10)
    text = out.decode(errors="replace")
    values = {int(ref_): float(value) for ref_, value in _VALUE_LINE.findall(text)}
    return MbpollResult(proc.returncode if proc.returncode is not None else -1, values, text)


async def read_holding(
    port: int, *, address: int, count: int, device_id: int = 1
) -> list[int] | int:
    """FC3 over a raw socket: the registers, or the exception code of an exception reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(struct.pack(">HHHBBHH", 7, 0, 6, device_id, 3, address, count))
        await writer.drain()
        _tid, _pid, length = struct.unpack(">HHH", await reader.readexactly(6))
        body = await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()
    function_code = body[1]
    if function_code & 0x80:
        return body[2]
    byte_count = body[2]
    return list(struct.unpack(f">{byte_count // 2}H", body[3 : 3 + byte_count]))
