"""What ``sitewatch modbus probe`` and ``sitewatch modbus scan`` read and print.

``probe`` reads one station once with a profile, every planned block including the strings,
so a person can compare each channel's raw words and decoded value with what the station's
own display shows. ``scan`` asks each unit id of a line for one register, one id at a time,
to find which stations are there. Both take a ``ModbusConnection`` (client.py does the I/O)
and return rows; the ``format_*`` functions turn rows into plain aligned text.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sitewatch.collector.errors import (
    CollectorError,
    DecodeError,
    DeviceBusy,
    DeviceRejected,
    DeviceTimeout,
    DeviceUnreachable,
)
from sitewatch.collector.modbus.client import ModbusConnection
from sitewatch.collector.modbus.config import BIT_TABLES, ModbusProfile, RegisterSpec, Table
from sitewatch.collector.modbus.decode import ReadBlock, decode_block, plan_reads

# Labels the errors client.py raises (they name a configured asset; a probe has none).
_LABEL = "probe"
# Unit ids: 0 is the broadcast address (nobody replies to it); 248-255 are reserved on serial
# lines but some TCP gateways use them.
MIN_UNIT_ID, MAX_UNIT_ID = 1, 255


# --- probe ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelReading:
    """One channel of a probe: its words and value, or the error its block got."""

    spec: RegisterSpec
    table: Table
    words: tuple[int, ...] = ()  # the channel's own registers (bits: 0/1); empty when its block failed
    value: float | str | None = None
    error: CollectorError | None = None


class StationSilent(Exception):
    """No block got any answer: the station is not there (or not at this unit id)."""

    def __init__(self, first: CollectorError) -> None:
        super().__init__(first.message)
        self.first = first


async def probe(connection: ModbusConnection, profile: ModbusProfile, *, device_id: int,
                timeout_s: float) -> list[ChannelReading]:
    """Read every block of ``profile`` (strings too) once from unit ``device_id``.

    A block that fails in any way gives its channels that error and the next block is still
    read: an RTU that stays silent for one undefined block (instead of answering exception 2)
    is exactly what a probe should show. Raises DeviceUnreachable or DeviceTimeout when the
    connection cannot be opened, and StationSilent when no block got any answer (a silent
    station costs ``timeout_s`` per block).
    """
    await connection.open(asset_id=_LABEL)
    readings: list[ChannelReading] = []
    answered = False  # with data or a Modbus exception: somebody is there
    first_silence: CollectorError | None = None
    for block in (*plan_reads(profile), *plan_reads(profile, strings=True)):
        try:
            words = await connection.read(table=block.table, address=block.address, count=block.count,
                                          device_id=device_id, timeout_s=timeout_s, asset_id=_LABEL)
            decoded = decode_block(block, words, device_id=_LABEL)
        except (DeviceRejected, DeviceBusy, DecodeError) as error:
            answered = True
            readings += _failed(block, error)
            continue
        except (DeviceTimeout, DeviceUnreachable) as error:
            # Includes a gateway's exceptions 10 and 11: the station behind it is silent.
            first_silence = first_silence or error
            readings += _failed(block, error)
            continue
        answered = True
        readings += [ChannelReading(spec, block.table, _words_of(block, spec, words), value)
                     for spec, value in decoded]
    if not answered and first_silence is not None:
        raise StationSilent(first_silence)
    return readings


def _failed(block: ReadBlock, error: CollectorError) -> list[ChannelReading]:
    return [ChannelReading(spec, block.table, error=error) for spec in block.registers]


def _words_of(block: ReadBlock, spec: RegisterSpec, words: Sequence[int]) -> tuple[int, ...]:
    start = spec.address - block.address
    return tuple(words[start:start + spec.width])


def format_probe(readings: Iterable[ChannelReading]) -> str:
    """A table: channel, table, address, raw words, decoded value, unit."""
    rows = [("channel", "table", "address", "raw", "value", "unit")]
    for r in readings:
        raw = "-" if r.error is not None else format_words(r.table, r.words)
        value = r.error.message if r.error is not None else format_value(r.spec, r.value)
        rows.append((r.spec.channel, r.table, _address(r.spec), raw, value, r.spec.unit or ""))
    return _aligned(rows)


def _address(spec: RegisterSpec) -> str:
    where = str(spec.address) if spec.width == 1 else f"{spec.address}-{spec.address + spec.width - 1}"
    if spec.bit is not None:
        return f"{where} bit {spec.bit}"
    if spec.mask is not None:
        return f"{where} mask 0x{spec.mask:04X}"
    if spec.type.endswith("_high"):
        return f"{where} high byte"
    if spec.type.endswith("_low"):
        return f"{where} low byte"
    return where


def format_words(table: Table, words: Sequence[int]) -> str:
    if table in BIT_TABLES:
        return " ".join(str(w) for w in words)
    return " ".join(f"0x{w:04X}" for w in words)


def format_value(spec: RegisterSpec, value: float | str | None) -> str:
    """Readable, and no more digits than the value holds: a float32 as the shortest decimal
    that reads back as the same float32 (1.23, not 1.2300000190734863)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return repr(value)  # quotes show leading spaces; escapes show control characters
    if not math.isfinite(value):
        return str(value)
    if spec.type == "float32":
        return _shortest_float32(value)
    if spec.type == "float64" and spec.scale == 1.0 and spec.offset == 0.0:
        return repr(value)
    if value.is_integer():
        return str(int(value))
    # raw * scale + offset in binary floating point: 3 * 0.1 is 0.30000000000000004.
    return f"{value:.15g}"


def _shortest_float32(value: float) -> str:
    try:
        target = _as_float32(value)
    except OverflowError:  # scaled past the float32 range: the double is all there is
        return f"{value:.15g}"
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        shorter = float(f"{value:.{digits}g}")
        with contextlib.suppress(OverflowError):  # rounded up past the largest float32
            if _as_float32(shorter) == target:
                return repr(shorter)
    return repr(value)


def _as_float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


# --- scan ----------------------------------------------------------------------------------


Outcome = Literal["data", "refused", "garbled", "silent"]


@dataclass(frozen=True, slots=True)
class ScanResult:
    device_id: int
    outcome: Outcome
    words: tuple[int, ...] = ()  # "data"
    error: CollectorError | None = None  # the others

    @property
    def answering(self) -> bool:
        """Replied with data or a Modbus exception of its own: a station is at this id."""
        return self.outcome in ("data", "refused")


class LinkLost(Exception):
    """The connection could not be opened again in the middle of a scan."""

    def __init__(self, after: int, error: CollectorError) -> None:
        super().__init__(error.message)
        self.after = after  # the last unit id asked
        self.error = error


async def scan(connection: ModbusConnection, device_ids: Iterable[int], *, table: Table, address: int,
               timeout_s: float) -> AsyncIterator[ScanResult]:
    """Ask each unit id in turn for one value of ``table`` at ``address``; yield what each did.

    A unit that refuses with a Modbus exception is there ("refused"); a gateway's exceptions
    10 and 11 say the unit behind it is not, like no reply at all ("silent"). After a silence
    the client closes the connection (a late reply must not pass for the next unit's) and
    the next id opens it again; when that fails, LinkLost ends the scan. The first open's
    failure is raised as is (DeviceUnreachable, DeviceTimeout).
    """
    await connection.open(asset_id=_LABEL)
    last: int | None = None
    for device_id in device_ids:
        if not connection.connected:
            try:
                await connection.open(asset_id=_LABEL)
            except (DeviceUnreachable, DeviceTimeout) as error:
                raise LinkLost(last if last is not None else device_id, error) from error
        last = device_id
        try:
            words = await connection.read(table=table, address=address, count=1, device_id=device_id,
                                          timeout_s=timeout_s, asset_id=_LABEL)
        except (DeviceRejected, DeviceBusy) as error:
            yield ScanResult(device_id, "refused", error=error)
        except DecodeError as error:
            # Something answered, unusably: two units on one id, noise, or a baud rate mismatch.
            yield ScanResult(device_id, "garbled", error=error)
        except (DeviceTimeout, DeviceUnreachable) as error:
            yield ScanResult(device_id, "silent", error=error)
        else:
            yield ScanResult(device_id, "data", words=tuple(words))


def format_scan_result(result: ScanResult, *, table: Table, address: int) -> str | None:
    """One line for a unit that answered anything; None for a silent one."""
    what = f"{table} {address}"
    if result.outcome == "data":
        return f"unit {result.device_id}: answers, {what} = {format_words(table, result.words)}"
    if result.outcome == "silent" or result.error is None:
        return None
    if result.outcome == "refused":
        return f"unit {result.device_id}: present, refuses {what}: {result.error.message}"
    return f"unit {result.device_id}: unusable reply: {result.error.message}"


def format_scan_summary(results: Sequence[ScanResult]) -> str:
    answering = [r.device_id for r in results if r.answering]
    garbled = [r.device_id for r in results if r.outcome == "garbled"]
    silent = sum(1 for r in results if r.outcome == "silent")
    lines = [f"answering: {format_ids(answering) or 'none'} ({len(answering)} of {len(results)})"]
    if garbled:
        lines.append(f"unusable replies: {format_ids(garbled)}")
    lines.append(f"silent: {silent}")
    return "\n".join(lines)


def parse_ids(text: str) -> list[int]:
    """``"1-8,10"`` -> [1, 2, ..., 8, 10]: sorted, each once; ValueError says what is wrong."""
    ids: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ValueError(f"{part!r} is not a unit id or a range such as 1-8") from None
        if first > last:
            raise ValueError(f"{part!r}: the range runs backwards")
        if first < MIN_UNIT_ID or last > MAX_UNIT_ID:
            raise ValueError(f"{part!r}: unit ids are {MIN_UNIT_ID}-{MAX_UNIT_ID} (0 is the broadcast address, "
                             "which nobody answers)")
        ids.update(range(first, last + 1))
    return sorted(ids)


def format_ids(ids: Sequence[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> "1-3, 5, 7, 8": runs of three or more as ranges."""
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ids[i]}-{ids[j]}")
        else:
            parts += [str(n) for n in ids[i:j + 1]]
        i = j + 1
    return ", ".join(parts)


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
