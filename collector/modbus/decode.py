"""Registers to engineering values: plan the reads, then decode each block. Pure: no I/O.

Decoding runs on every poll of every station, so all the work that depends only on the
profile (grouping, byte/word order, struct formats, gaps) is done once in ``plan_reads``;
``decode_block`` is then one ``struct.pack`` and one ``struct.unpack_from`` per layout
(normally one layout per block) plus ``raw * scale + offset``.

Byte and word order, for the 32-bit value 0x11223344 (A=11 B=22 C=33 D=44):

    byte_order  word_order  registers as read     bytes on the wire
    big         big         0x1122 0x3344         A B C D
    big         little      0x3344 0x1122         C D A B
    little      big         0x2211 0x4433         B A D C
    little      little      0x4433 0x2211         D C B A

Packing the 16-bit registers back into bytes with endianness P and reading the fields with
endianness R covers all four: P = big when byte order equals word order, else little;
R = the word order. A 16-bit field only has a byte order: R = P when it is big-endian,
the opposite of P when it is little-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from collector.errors import DecodeError
from collector.modbus.config import ByteOrder, ModbusProfile, RegisterSpec

_STRUCT_CODE = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f"}
_ENDIAN = {"big": ">", "little": "<"}
_FLIP = {">": "<", "<": ">"}


@dataclass(frozen=True, slots=True)
class _Layout:
    """The fields of a block that share one (pack, read) endianness pair."""

    pack: struct.Struct  # registers -> bytes
    read: struct.Struct  # bytes -> raw field values, pad bytes over the other fields and gaps
    fields: tuple[tuple[int, float, float], ...]  # (index in block.registers, scale, offset)


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers from ``address``, holding the given channels."""

    function: Literal["holding", "input"]
    address: int  # 0-based wire address
    count: int
    registers: tuple[RegisterSpec, ...]  # by address; unused registers in between are skipped
    layouts: tuple[_Layout, ...]

    @property
    def end(self) -> int:
        """One past the last register read."""
        return self.address + self.count


def plan_reads(profile: ModbusProfile) -> tuple[ReadBlock, ...]:
    """Group the profile's registers into the fewest reads the device's workarounds allow.

    Neighbours go into one read when the hole between them is at most ``max_gap_registers``
    and the read stays within ``max_registers_per_read``. Greedy is optimal here: any part
    of an allowed read is itself allowed.
    """
    limits = profile.workarounds
    ordered = sorted(profile.registers, key=lambda r: r.address)
    for reg in ordered:
        if reg.width > limits.max_registers_per_read:
            raise ValueError(
                f"profile {profile.name!r}: {reg.channel!r} is {reg.width} registers wide but "
                f"max_registers_per_read is {limits.max_registers_per_read}"
            )
    groups: list[list[RegisterSpec]] = []
    for reg in ordered:
        if groups:
            current = groups[-1]
            start = current[0].address
            end = current[-1].address + current[-1].width
            gap = reg.address - end
            if gap <= limits.max_gap_registers and reg.address + reg.width - start <= limits.max_registers_per_read:
                current.append(reg)
                continue
        groups.append([reg])
    return tuple(_block(profile, group) for group in groups)


def _block(profile: ModbusProfile, group: list[RegisterSpec]) -> ReadBlock:
    start = group[0].address
    count = group[-1].address + group[-1].width - start
    default_pack = _pack_endian(profile.byte_order, profile.word_order)
    by_endian: dict[tuple[str, str], list[int]] = {}
    for index, reg in enumerate(group):
        byte_order = reg.byte_order or profile.byte_order
        if reg.width == 1:
            # Word order means nothing for one register: reuse the block's usual packing so
            # 16-bit fields share a layout with the 32-bit ones.
            pack = default_pack
            read = pack if byte_order == "big" else _FLIP[pack]
        else:
            word_order = reg.word_order or profile.word_order
            pack = _pack_endian(byte_order, word_order)
            read = _ENDIAN[word_order]
        by_endian.setdefault((pack, read), []).append(index)
    layouts = []
    for (pack, read), indexes in by_endian.items():
        fmt = read
        position = start
        for index in indexes:
            reg = group[index]
            if reg.address > position:
                fmt += f"{2 * (reg.address - position)}x"
            fmt += _STRUCT_CODE[reg.type]
            position = reg.address + reg.width
        layouts.append(
            _Layout(
                pack=struct.Struct(f"{pack}{count}H"),
                read=struct.Struct(fmt),
                fields=tuple((i, group[i].scale, group[i].offset) for i in indexes),
            )
        )
    return ReadBlock(
        function=profile.function,
        address=start,
        count=count,
        registers=tuple(group),
        layouts=tuple(layouts),
    )


def _pack_endian(byte_order: ByteOrder, word_order: ByteOrder) -> str:
    return ">" if byte_order == word_order else "<"


def decode_block(
    block: ReadBlock, registers: Sequence[int], *, device_id: str
) -> list[tuple[RegisterSpec, float]]:
    """Decode one block's registers into ``(spec, raw * scale + offset)``, in address order.

    ``device_id`` only labels a DecodeError. A float32 NaN or infinity is passed through:
    many RTUs send NaN for "no reading", and the sample's quality says the rest.
    """
    if len(registers) != block.count:
        raise DecodeError(
            device_id=device_id,
            message=f"expected {block.count} registers, got {len(registers)}",
            where=f"{block.function} {block.address}-{block.end - 1}",
        )
    values: list[float] = [0.0] * len(block.registers)
    for layout in block.layouts:
        try:
            raw = layout.read.unpack_from(layout.pack.pack(*registers))
        except struct.error as exc:  # a register outside 0..65535, or not an int
            raise DecodeError(
                device_id=device_id,
                message=f"register values are not 16-bit words: {exc}",
                where=f"{block.function} {block.address}-{block.end - 1}",
            ) from exc
        for (index, scale, offset), value in zip(layout.fields, raw):
            values[index] = value * scale + offset
    return list(zip(block.registers, values))
