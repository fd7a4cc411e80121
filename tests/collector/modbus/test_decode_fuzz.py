"""Property tests of register decoding and of the client's own parsing of register replies.

- Round trip: any profile (every type, byte and word order, per-register overrides, gaps, bit
  fields, bytes, strings) planned and decoded from the registers a device would send for any
  bit pattern gives each channel the value the README's definitions give.
- Whatever a device sends (words of any size or type, any count), decoding raises nothing but
  DecodeError.
- ``_RegisterReplies`` gives what pymodbus' own decoder gives, for any frame, and never raises.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from hypothesis import example, given
from hypothesis import strategies as st
from pymodbus.pdu import DecodePDU

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.modbus.client import _RegisterReplies
from sitewatch.collector.modbus.config import BIT_TABLES, ModbusProfile, ModbusWorkarounds, RegisterSpec
from sitewatch.collector.modbus.decode import decode_block, decode_values, plan_reads
from tests.corpus import fuzz_settings

ORDERS = st.sampled_from(["big", "little"])
# struct code and register width of each number type.
NUMBERS = {"int16": ("h", 1), "uint16": ("H", 1), "int32": ("i", 2), "uint32": ("I", 2), "float32": ("f", 2),
           "int64": ("q", 4), "uint64": ("Q", 4), "float64": ("d", 4)}
SCALES = st.one_of(st.just((1.0, 0.0)), st.tuples(st.floats(-1e6, 1e6, allow_subnormal=False),
                                                   st.floats(-1e6, 1e6, allow_subnormal=False)))


@dataclass
class Layout:
    """A drawn profile, the registers a device holds, and each channel's expected value."""

    profile: ModbusProfile
    words: dict[int, int]  # address -> register as read
    expected: dict[str, float | str]


def wire_words(data: bytes, *, byte_order: str, word_order: str) -> list[int]:
    """Registers for a value whose big-endian bytes are ``data`` (README: byte and word order)."""
    words = list(struct.unpack(f">{len(data) // 2}H", data))  # both orders big: the bytes as they are
    if word_order == "little":
        words.reverse()
    return [(w & 0xFF) << 8 | w >> 8 for w in words] if byte_order == "little" else words


def string_of(words: list[int], *, byte_order: str) -> str:
    """README: two characters a register, high byte first unless the byte order is little;
    NULs and spaces at the ends dropped, anything not printable ASCII shown as U+FFFD."""
    data = b"".join(w.to_bytes(2, "little" if byte_order == "little" else "big") for w in words).strip(b"\0 ")
    return "".join(chr(b) if 0x20 <= b < 0x7F else "\ufffd" for b in data)


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    profile_bytes, profile_words = draw(ORDERS), draw(ORDERS)
    address = draw(st.integers(0, 200))
    registers: list[dict[str, object]] = []
    words: dict[int, int] = {}
    expected: dict[str, float | str] = {}
    for n in range(draw(st.integers(1, 12))):
        address += draw(st.integers(0, 12))  # a hole, bridged or not by the planner
        kind = draw(st.sampled_from([*NUMBERS, "bytes", "bits", "mask", "string"]))
        name = f"c{n}"
        before = len(registers)
        if kind in NUMBERS:
            code, width = NUMBERS[kind]
            spec: dict[str, object] = {"channel": name, "address": address, "type": kind, "unit": "kPa"}
            byte_order = draw(st.sampled_from([None, "big", "little"]))
            word_order = draw(st.sampled_from([None, "big", "little"])) if width > 1 else None
            spec |= {k: v for k, v in (("byte_order", byte_order), ("word_order", word_order)) if v}
            scale, offset = draw(SCALES)
            spec |= {"scale": scale, "offset": offset}
            data = draw(st.binary(min_size=2 * width, max_size=2 * width))  # any bit pattern, NaNs included
            words |= dict(enumerate(wire_words(data, byte_order=byte_order or profile_bytes,
                                               word_order=word_order or profile_words), start=address))
            (raw,) = struct.unpack(">" + code, data)
            expected[name] = raw * scale + offset
            registers.append(spec)
        elif kind == "bytes":
            word = draw(st.integers(0, 0xFFFF))
            words[address] = word
            for half, byte in (("high", word >> 8), ("low", word & 0xFF)):
                signed = draw(st.booleans())
                if draw(st.booleans()):
                    registers.append({"channel": f"{name}_{half}", "address": address,
                                      "type": f"{'int8' if signed else 'uint8'}_{half}", "unit": "state"})
                    expected[f"{name}_{half}"] = float(byte - 256 if signed and byte > 127 else byte)
            width = 1
        elif kind == "bits":
            word = draw(st.integers(0, 0xFFFF))
            words[address] = word
            for bit in draw(st.sets(st.integers(0, 15), min_size=1, max_size=4)):
                invert = draw(st.booleans())
                registers.append({"channel": f"{name}_b{bit}", "address": address, "type": "uint16", "unit": "state",
                                  "bit": bit, "invert": invert})
                expected[f"{name}_b{bit}"] = float((word >> bit & 1) ^ invert)
            width = 1
        elif kind == "mask":
            word, mask = draw(st.integers(0, 0xFFFF)), draw(st.integers(1, 0xFFFF))
            words[address] = word
            low = (mask & -mask).bit_length() - 1
            shift = draw(st.one_of(st.none(), st.integers(0, low)))
            spec = {"channel": name, "address": address, "type": draw(st.sampled_from(["uint16", "int16"])),
                    "unit": "state", "mask": mask}
            if shift is not None:
                spec["shift"] = shift
            registers.append(spec)
            expected[name] = float((word & mask) >> (low if shift is None else shift))
            width = 1
        else:
            width = draw(st.integers(1, 8))
            byte_order = draw(st.sampled_from([None, "big", "little"]))
            text = draw(st.lists(st.integers(0, 0xFFFF), min_size=width, max_size=width))
            words |= dict(enumerate(text, start=address))
            spec = {"channel": name, "address": address, "type": "string", "length_registers": width}
            if byte_order:
                spec["byte_order"] = byte_order
            registers.append(spec)
            expected[name] = string_of(text, byte_order=byte_order or profile_bytes)
        if len(registers) == before:  # a register of bytes drew neither half
            registers.append({"channel": name, "address": address, "type": "uint8_low", "unit": "state"})
            expected[name] = float(words[address] & 0xFF)
        address += width
    limits = ModbusWorkarounds(max_registers_per_read=draw(st.integers(1, 125)),
                               max_gap_registers=draw(st.integers(0, 20)))
    profile = ModbusProfile(name="fuzz", byte_order=profile_bytes, word_order=profile_words,
                            registers=tuple(RegisterSpec(**r) for r in registers), workarounds=limits,
                            function=draw(st.sampled_from(["holding", "input"])))
    return Layout(profile=profile, words=words, expected=expected)


def same(got: float | str, want: float | str) -> bool:
    if isinstance(want, str):
        return got == want
    if math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


@fuzz_settings(150)
@given(layouts(), st.data())
def test_any_profile_decodes_what_its_registers_encode(layout: Layout, data: st.DataObject):
    got: dict[str, float | str] = {}
    limit = layout.profile.workarounds.max_registers_per_read
    try:
        plans = [plan_reads(layout.profile, strings=strings) for strings in (False, True)]
    except ValueError:
        # Documented: a value wider than a read may be cannot be polled at all.
        assert any(r.width > limit for r in layout.profile.registers)
        return
    assert all(r.width <= limit for r in layout.profile.registers), "planned a value wider than a read"
    for blocks in plans:
        for block in blocks:
            assert block.count <= limit
            # Unused registers inside a read hold whatever the device has there.
            words = [layout.words.get(a) if a in layout.words else data.draw(st.integers(0, 0xFFFF))
                     for a in range(block.address, block.end)]
            for spec, value in decode_block(block, words, device_id="rtu"):
                assert spec.channel not in got, f"{spec.channel} decoded twice"
                assert block.address <= spec.address and spec.address + spec.width <= block.end
                assert (spec.unit is None) == (spec.type == "string"), "numbers carry a unit, strings go to inventory"
                got[spec.channel] = value
    assert got.keys() == layout.expected.keys()
    wrong = {k: (got[k], v) for k, v in layout.expected.items() if not same(got[k], v)}
    assert not wrong, f"decoded (got, expected): {wrong}"
    for value in got.values():
        assert isinstance(value, str | float), f"{value!r} is neither a number nor text"


# Anything a device (or a broken gateway) could make the client hand over: wrong sizes,
# negative numbers, bools, floats, None, text.
ANY_WORD = st.one_of(st.integers(0, 0xFFFF), st.integers(-(2**70), 2**70), st.booleans(), st.floats(),
                     st.none(), st.text(max_size=3), st.binary(max_size=3))


@fuzz_settings(150)
@given(layouts(), st.sampled_from([False, True]), st.data())
def test_whatever_the_device_sends_decoding_raises_only_decode_error(layout: Layout, strings: bool,
                                                                     data: st.DataObject):
    try:
        blocks = plan_reads(layout.profile, strings=strings)
    except ValueError:
        return  # a profile that cannot be polled (the property above)
    for block in blocks:
        words = data.draw(st.one_of(
            st.lists(ANY_WORD, min_size=block.count, max_size=block.count),
            st.lists(st.integers(-1, 0x10000), max_size=block.count + 2),
        ))
        try:
            values = decode_values(block, words, device_id="rtu")
        except DecodeError as error:
            assert str(error).startswith("rtu: ") and block.table in error.where
            continue
        assert len(values) == len(block.registers)


@st.composite
def bit_profiles(draw: st.DrawFn) -> ModbusProfile:
    addresses = draw(st.sets(st.integers(0, 3000), min_size=1, max_size=20))
    table = draw(st.sampled_from(sorted(BIT_TABLES)))
    return ModbusProfile(name="bits", registers=tuple(
        RegisterSpec(channel=f"b{a}", address=a, table=table, type="bool", unit="state", invert=draw(st.booleans()),
                     scale=draw(st.sampled_from([1.0, 2.5])))
        for a in sorted(addresses)), workarounds=ModbusWorkarounds(max_gap_registers=draw(st.integers(0, 100))))


@fuzz_settings(150)
@given(bit_profiles(), st.data())
def test_coils_decode_each_bit_and_refuse_anything_but_0_and_1(profile: ModbusProfile, data: st.DataObject):
    for block in plan_reads(profile):
        bits = data.draw(st.lists(st.integers(0, 1), min_size=block.count, max_size=block.count))
        for spec, value in decode_block(block, bits, device_id="rtu"):
            bit = bits[spec.address - block.address] ^ spec.invert
            assert value == bit * spec.scale + spec.offset
        noise = data.draw(st.lists(ANY_WORD, min_size=block.count, max_size=block.count))
        try:
            decode_values(block, noise, device_id="rtu")
        except DecodeError:
            continue


# --- the client's reply parsing -------------------------------------------------------------

def register_frame(function_code: int, byte_count: int, data: bytes) -> bytes:
    return bytes([function_code, byte_count]) + data


FRAMES = st.one_of(
    st.binary(max_size=260),
    # The grammar of a register reply, with every field free: function code, byte count, data.
    st.builds(register_frame, st.sampled_from([3, 4, 0x83, 0x84, 1, 2, 23]), st.integers(0, 255),
              st.binary(max_size=256)),
    # Well-formed register replies of any size, the protocol's 125 registers and past it.
    st.builds(lambda fc, words: register_frame(fc, 2 * len(words) % 256, struct.pack(f">{len(words)}H", *words)),
              st.sampled_from([3, 4]), st.lists(st.integers(0, 0xFFFF), max_size=127)),
)


@fuzz_settings(500)
@given(FRAMES)
@example(b"")
@example(b"\x03")
@example(b"\x03\x00")
@example(b"\x03\x01\x00")
@example(register_frame(3, 250, bytes(250)))
@example(register_frame(4, 254, bytes(254)))  # 127 registers: more than a read may ask for
def test_reply_parsing_is_pymodbus_own_for_any_frame(frame: bytes):
    theirs = DecodePDU(False).decode(frame)
    ours = _RegisterReplies(DecodePDU(False)).decode(frame)
    assert type(ours) is type(theirs)
    if theirs is not None:
        assert ours.function_code == theirs.function_code
        assert ours.registers == theirs.registers and ours.bits == theirs.bits
        assert all(0 <= w <= 0xFFFF for w in ours.registers)
