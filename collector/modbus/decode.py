"""Registers and bits to values: plan the reads, then decode each block. Pure: no I/O.

Decoding runs on every poll of every station, so all the work that depends only on the
profile (grouping, byte/word order, struct formats, gaps, masks) is done once in
``plan_reads``; ``decode_block`` is then one ``struct.pack`` and one ``struct.unpack_from``
per layout (normally one layout per block) plus ``raw * scale + offset``.

Byte and word order, for the 32-bit value 0x11223344 (A=11 B=22 C=33 D=44):

    byte_order  word_order  registers as read     bytes on the wire
    big         big         0x1122 0x3344         A B C D
    big         little      0x3344 0x1122         C D A B
    little      big         0x2211 0x4433         B A D C
    little      little      0x4433 0x2211         D C B A

Packing the 16-bit registers back into bytes with endianness P and reading the fields with
endianness R covers all four: P = big when byte order equals word order, else little;
R = the word order. The same holds for 64-bit values, whose "little" word order puts the
least significant of the four words first. A 16-bit field only has a byte order: R = P
when it is big-endian, the opposite of P when it is little-endian.

A byte of a register (int8/uint8 ``_high``/``_low``: high = bits 8-15, the first byte on
the wire) and the bits of a status word (``bit``, ``mask``) are taken from the register as
read: byte order does not apply to them (the config refuses it on the register).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.modbus.config import BIT_TABLES, ModbusProfile, RegisterSpec, Table

_STRUCT_CODE = {
    "int8_high": "b", "int8_low": "b", "uint8_high": "B", "uint8_low": "B",
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f",
    "int64": "q", "uint64": "Q", "float64": "d",
}
_ENDIAN = {"big": ">", "little": "<"}
_FLIP = {">": "<", "<": ">"}
# Reads go out in function-code order: coils (FC1), discrete inputs (2), holding (3), input (4).
_TABLE_ORDER = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_BITS = frozenset({0, 1})
# Printable ASCII stays; anything else becomes 0xFF, which decode("ascii", "replace") turns
# into U+FFFD: a garbled serial number shows as garbled, it never stops a poll.
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0xFF for b in range(256))


class _Layout(NamedTuple):
    """The numeric fields of a block that share one (pack, read) endianness pair."""

    pack: Callable[..., bytes]  # registers -> bytes
    read: Callable[[bytes], tuple[int | float, ...]]  # bytes -> raw values, skipping other fields
    fields: tuple[tuple[int, float, float], ...]  # (index in block.registers, scale, offset)


@dataclass(frozen=True, slots=True)
class _RegisterPlan:
    """Numbers, bytes and bit fields of holding or input registers."""

    size: int
    layouts: tuple[_Layout, ...]  # never empty: packing is also what checks the words
    # (index, word in block, xor, mask, shift, scale, offset): ((word ^ xor) & mask) >> shift
    bit_fields: tuple[tuple[int, int, int, int, int, float, float], ...]
    # The usual block, one layout whose fields are the block's registers in order and no bit
    # field: (scale, offset) per value, so values come out in order without placing each.
    in_order: tuple[tuple[float, float], ...] | None = None

    def decode(self, words: Sequence[int]) -> list[float | str]:
        if self.in_order is not None:
            pack, read, _ = self.layouts[0]
            return [raw * scale + offset for (scale, offset), raw in zip(self.in_order, read(pack(*words)))]
        values: list[float | str] = [0.0] * self.size
        for pack, read, fields in self.layouts:
            for (index, scale, offset), raw in zip(fields, read(pack(*words))):
                values[index] = raw * scale + offset
        for index, word, xor, mask, shift, scale, offset in self.bit_fields:
            values[index] = (((words[word] ^ xor) & mask) >> shift) * scale + offset
        return values


@dataclass(frozen=True, slots=True)
class _BitPlan:
    """Coils or discrete inputs: each channel's two possible values, worked out beforehand."""

    fields: tuple[tuple[int, tuple[float, float]], ...]  # (bit in block, (value at 0, value at 1))

    def decode(self, words: Sequence[int]) -> list[float | str]:
        if not _BITS.issuperset(words):
            raise ValueError(f"got {[w for w in words if w not in _BITS][:8]!r}")
        return [values[words[bit]] for bit, values in self.fields]


@dataclass(frozen=True, slots=True)
class _StringPlan:
    """ASCII strings, two characters a register; grouped by byte order (one pack each)."""

    size: int
    groups: tuple[tuple[Callable[..., bytes], tuple[tuple[int, int, int], ...]], ...]  # pack, (index, from, to)

    def decode(self, words: Sequence[int]) -> list[float | str]:
        values: list[float | str] = [""] * self.size
        for pack, fields in self.groups:
            data = pack(*words)
            for index, start, stop in fields:
                values[index] = data[start:stop].strip(b"\0 ").translate(_PRINTABLE).decode("ascii", "replace")
        return values


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers (or bits) of ``table`` from ``address``."""

    table: Table
    address: int  # 0-based wire address
    count: int  # registers, or bits for coils and discrete inputs
    registers: tuple[RegisterSpec, ...]  # by address; unused registers in between are skipped
    # How to decode, worked out by plan_reads; blocks compare by what they read.
    _plan: _RegisterPlan | _BitPlan | _StringPlan = field(repr=False, compare=False)

    @property
    def end(self) -> int:
        """One past the last register (or bit) read."""
        return self.address + self.count


def plan_reads(profile: ModbusProfile, *, strings: bool = False) -> tuple[ReadBlock, ...]:
    """Group the profile's channels into the fewest reads the device's workarounds allow.

    ``strings=False`` plans every channel but the strings (read at every poll), ``strings=True``
    only the strings (read now and then for the inventory). Each table is read apart, in
    function-code order. Neighbours go into one read when the hole between them is at most
    ``max_gap_registers`` (bits, in the bit tables) and the read stays within
    ``max_registers_per_read`` (``max_bits_per_read``). Greedy is optimal here: any part of
    an allowed read is itself allowed. Bit fields of one status word share its read.

    Raises ValueError when a value is wider than a read may be, whichever half is planned:
    the profile cannot be polled whole.
    """
    limits = profile.workarounds
    by_table: dict[Table, list[RegisterSpec]] = {}
    for reg in profile.registers:
        table = profile.table_of(reg)
        # A bit is never wider than max_bits_per_read (at least 1).
        if table not in BIT_TABLES and reg.width > limits.max_registers_per_read:
            raise ValueError(
                f"profile {profile.name!r}: {reg.channel!r} is {reg.width} registers wide but "
                f"max_registers_per_read is {limits.max_registers_per_read}"
            )
        if (reg.type == "string") == strings:
            by_table.setdefault(table, []).append(reg)
    blocks: list[ReadBlock] = []
    for table in sorted(by_table, key=_TABLE_ORDER.__getitem__):
        is_bits = table in BIT_TABLES
        limit = limits.max_bits_per_read if is_bits else limits.max_registers_per_read
        ordered = sorted(by_table[table], key=lambda r: r.address)
        for group in _groups(ordered, limit=limit, max_gap=limits.max_gap_registers):
            start = group[0].address
            count = group[-1].address + group[-1].width - start
            if is_bits:
                plan: _RegisterPlan | _BitPlan | _StringPlan = _bit_plan(start, group)
            elif strings:
                plan = _string_plan(profile, start, count, group)
            else:
                plan = _register_plan(profile, start, count, group)
            blocks.append(ReadBlock(table=table, address=start, count=count, registers=tuple(group), _plan=plan))
    return tuple(blocks)


def _groups(ordered: list[RegisterSpec], *, limit: int, max_gap: int) -> list[list[RegisterSpec]]:
    groups: list[list[RegisterSpec]] = []
    for reg in ordered:
        if groups:
            current = groups[-1]
            # Channels do not overlap (the config refuses it) but for the bit fields and bytes
            # of one register, which sit side by side in ``ordered``: the last one ends the group.
            end = current[-1].address + current[-1].width
            if reg.address - end <= max_gap and reg.address + reg.width - current[0].address <= limit:
                current.append(reg)
                continue
        groups.append([reg])
    return groups


def _bit_plan(start: int, group: list[RegisterSpec]) -> _BitPlan:
    fields = []
    for reg in group:
        off, on = reg.offset, reg.scale + reg.offset  # 0 * scale + offset, 1 * scale + offset
        fields.append((reg.address - start, (on, off) if reg.invert else (off, on)))
    return _BitPlan(fields=tuple(fields))


def _register_plan(profile: ModbusProfile, start: int, count: int, group: list[RegisterSpec]) -> _RegisterPlan:
    default_pack = _pack_endian(profile.byte_order, profile.word_order)
    # (pack, read) endianness -> [(byte offset in the packed block, struct code, index)]
    by_endian: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    byte_fields: list[tuple[int, str, int]] = []
    bit_fields = []
    for index, reg in enumerate(group):
        word = reg.address - start
        if reg.is_bit_field:
            xor = reg.bit_mask if reg.invert else 0  # flips the field's one bit: 1 - v
            bit_fields.append((index, word, xor, reg.bit_mask, reg.bit_shift, reg.scale, reg.offset))
        elif reg.type.endswith(("_high", "_low")):
            # One byte: any layout packed the block's usual way can read it. The high byte
            # is the first of the register's two when packed big-endian.
            high_first = default_pack == ">"
            byte_fields.append((2 * word + (reg.type.endswith("_high") != high_first), _STRUCT_CODE[reg.type], index))
        else:
            byte_order = reg.byte_order or profile.byte_order
            if reg.width == 1:
                # Word order means nothing for one register: reuse the block's usual packing so
                # 16-bit fields share a layout with the wider ones.
                pack = default_pack
                read = pack if byte_order == "big" else _FLIP[pack]
            else:
                word_order = reg.word_order or profile.word_order
                pack = _pack_endian(byte_order, word_order)
                read = _ENDIAN[word_order]
            by_endian.setdefault((pack, read), []).append((2 * word, _STRUCT_CODE[reg.type], index))
    if byte_fields or not by_endian:
        # Bytes join a layout packed default_pack if there is one; a block of bit fields only
        # still gets an (empty) layout, whose packing checks the words are 16-bit.
        key = next((k for k in by_endian if k[0] == default_pack), (default_pack, default_pack))
        by_endian.setdefault(key, []).extend(byte_fields)
    layouts = []
    for (pack, read), entries in by_endian.items():
        fmt = read
        position = 0  # bytes
        for offset, code, _ in sorted(entries):
            if offset > position:
                fmt += f"{offset - position}x"
            fmt += code
            position = offset + struct.calcsize(code)
        layouts.append(
            _Layout(
                pack=struct.Struct(f"{pack}{count}H").pack,
                read=struct.Struct(fmt).unpack_from,
                fields=tuple((index, group[index].scale, group[index].offset) for _, _, index in sorted(entries)),
            )
        )
    in_order = None
    if len(layouts) == 1 and not bit_fields and [i for i, _, _ in layouts[0].fields] == list(range(len(group))):
        in_order = tuple((scale, offset) for _, scale, offset in layouts[0].fields)
    return _RegisterPlan(size=len(group), layouts=tuple(layouts), bit_fields=tuple(bit_fields), in_order=in_order)


def _string_plan(profile: ModbusProfile, start: int, count: int, group: list[RegisterSpec]) -> _StringPlan:
    # Packing big-endian gives the characters high byte first; little-endian swaps each pair.
    by_endian: dict[str, list[tuple[int, int, int]]] = {}
    for index, reg in enumerate(group):
        first = 2 * (reg.address - start)
        by_endian.setdefault(_ENDIAN[reg.byte_order or profile.byte_order], []).append(
            (index, first, first + 2 * reg.width)
        )
    groups = tuple((struct.Struct(f"{endian}{count}H").pack, tuple(fields)) for endian, fields in by_endian.items())
    return _StringPlan(size=len(group), groups=groups)


def _pack_endian(byte_order: str, word_order: str) -> str:
    return ">" if byte_order == word_order else "<"


def decode_block(block: ReadBlock, words: Sequence[int], *, device_id: str) -> list[tuple[RegisterSpec, float | str]]:
    """Decode one read into ``(spec, value)`` pairs, in address order.

    ``words`` are the registers (0..65535) of a register table, or the 0/1 bits of a coil or
    discrete-input read. Numbers come out as ``raw * scale + offset`` (floats), strings as
    ``str``. ``device_id`` only labels a DecodeError. A float NaN or infinity is passed
    through: many RTUs send NaN for "no reading", and the sample's quality says the rest.
    """
    return list(zip(block.registers, decode_values(block, words, device_id=device_id)))


def decode_values(block: ReadBlock, words: Sequence[int], *, device_id: str) -> list[float | str]:
    """``decode_block`` without the specs: the values alone, in ``block.registers`` order
    (the poller's path, which pairs them with labels it worked out once)."""
    if len(words) != block.count:
        raise DecodeError(
            device_id=device_id,
            message=f"expected {block.count} {'bits' if block.table in BIT_TABLES else 'registers'}, got {len(words)}",
            where=f"{block.table} {block.address}-{block.end - 1}",
        )
    try:
        return block._plan.decode(words)
    except (struct.error, TypeError, ValueError) as exc:  # a word outside 0..65535 (or 0/1), or not an int
        what = "bit values are not 0 or 1" if block.table in BIT_TABLES else "register values are not 16-bit words"
        raise DecodeError(
            device_id=device_id, message=f"{what}: {exc}", where=f"{block.table} {block.address}-{block.end - 1}"
        ) from exc
