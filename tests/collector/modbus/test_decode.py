"""Golden cases for register decoding and read planning; register words computed by hand."""

from __future__ import annotations

import math
import struct
import tomllib
from pathlib import Path

import pytest

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.modbus.config import ModbusProfile, ModbusWorkarounds, RegisterSpec
from sitewatch.collector.modbus.decode import ReadBlock, decode_block, plan_reads

EXAMPLE_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "sitewatch.example.toml"

BB, BL, LB, LL = ("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")  # (byte, word)
ORDERS = [BB, BL, LB, LL]

# (type, (byte_order, word_order), registers as read off the wire, expected raw value).
# 0x11223344 is read as 0x1122 0x3344 (big/big), 0x3344 0x1122 (word little),
# 0x2211 0x4433 (byte little), 0x4433 0x2211 (both little).
GOLDEN = [
    # int16 -12345 = 0xCFC7; word order does not apply to one register
    ("int16", BB, [0xCFC7], -12345),
    ("int16", BL, [0xCFC7], -12345),
    ("int16", LB, [0xC7CF], -12345),
    ("int16", LL, [0xC7CF], -12345),
    ("int16", BB, [0x04D2], 1234),
    ("int16", LL, [0xD204], 1234),
    # uint16 43981 = 0xABCD: would be negative if read as signed
    ("uint16", BB, [0xABCD], 43981),
    ("uint16", BL, [0xABCD], 43981),
    ("uint16", LB, [0xCDAB], 43981),
    ("uint16", LL, [0xCDAB], 43981),
    ("uint16", BB, [0xFFFF], 65535),
    # int32 -123456789 = 0xF8A432EB
    ("int32", BB, [0xF8A4, 0x32EB], -123456789),
    ("int32", BL, [0x32EB, 0xF8A4], -123456789),
    ("int32", LB, [0xA4F8, 0xEB32], -123456789),
    ("int32", LL, [0xEB32, 0xA4F8], -123456789),
    # int32 305419896 = 0x12345678
    ("int32", BB, [0x1234, 0x5678], 305419896),
    ("int32", BL, [0x5678, 0x1234], 305419896),
    ("int32", LB, [0x3412, 0x7856], 305419896),
    ("int32", LL, [0x7856, 0x3412], 305419896),
    # uint32 3000000000 = 0xB2D05E00: above 2**31
    ("uint32", BB, [0xB2D0, 0x5E00], 3000000000),
    ("uint32", BL, [0x5E00, 0xB2D0], 3000000000),
    ("uint32", LB, [0xD0B2, 0x005E], 3000000000),
    ("uint32", LL, [0x005E, 0xD0B2], 3000000000),
    # float32 -12.5 = 0xC1480000
    ("float32", BB, [0xC148, 0x0000], -12.5),
    ("float32", BL, [0x0000, 0xC148], -12.5),
    ("float32", LB, [0x48C1, 0x0000], -12.5),
    ("float32", LL, [0x0000, 0x48C1], -12.5),
    # float32 pi = 0x40490FDB (3.1415927410125732 once widened to a double)
    ("float32", BB, [0x4049, 0x0FDB], 3.1415927410125732),
    ("float32", BL, [0x0FDB, 0x4049], 3.1415927410125732),
    ("float32", LB, [0x4940, 0xDB0F], 3.1415927410125732),
    ("float32", LL, [0xDB0F, 0x4940], 3.1415927410125732),
    # float32 -inf = 0xFF800000
    ("float32", BB, [0xFF80, 0x0000], -math.inf),
    ("float32", LL, [0x0000, 0x80FF], -math.inf),
    # int64 0x1122334455667788; word order "little" puts the least significant word first
    ("int64", BB, [0x1122, 0x3344, 0x5566, 0x7788], 0x1122334455667788),
    ("int64", BL, [0x7788, 0x5566, 0x3344, 0x1122], 0x1122334455667788),
    ("int64", LB, [0x2211, 0x4433, 0x6655, 0x8877], 0x1122334455667788),
    ("int64", LL, [0x8877, 0x6655, 0x4433, 0x2211], 0x1122334455667788),
    # int64 -2 = 0xFFFFFFFFFFFFFFFE
    ("int64", BB, [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], -2),
    ("int64", BL, [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], -2),
    ("int64", LB, [0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF], -2),
    ("int64", LL, [0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF], -2),
    # uint64 0xF000000000000000 = 15 * 2**60: negative if read as signed, exact as a double
    ("uint64", BB, [0xF000, 0x0000, 0x0000, 0x0000], 15 * 2**60),
    ("uint64", BL, [0x0000, 0x0000, 0x0000, 0xF000], 15 * 2**60),
    ("uint64", LB, [0x00F0, 0x0000, 0x0000, 0x0000], 15 * 2**60),
    ("uint64", LL, [0x0000, 0x0000, 0x0000, 0x00F0], 15 * 2**60),
    # float64 pi = 0x400921FB54442D18
    ("float64", BB, [0x4009, 0x21FB, 0x5444, 0x2D18], math.pi),
    ("float64", BL, [0x2D18, 0x5444, 0x21FB, 0x4009], math.pi),
    ("float64", LB, [0x0940, 0xFB21, 0x4454, 0x182D], math.pi),
    ("float64", LL, [0x182D, 0x4454, 0xFB21, 0x0940], math.pi),
    # float64 -12.5 = 0xC029000000000000, +inf = 0x7FF0000000000000
    ("float64", BB, [0xC029, 0x0000, 0x0000, 0x0000], -12.5),
    ("float64", LL, [0x0000, 0x0000, 0x0000, 0x29C0], -12.5),
    ("float64", BL, [0x0000, 0x0000, 0x0000, 0x7FF0], math.inf),
]

# Quiet NaNs (float32 0x7FC00000, float64 0x7FF8000000000000): RTUs send them for "no
# reading"; they must stay NaN.
NAN_WORDS = [
    ("float32", BB, [0x7FC0, 0x0000]), ("float32", BL, [0x0000, 0x7FC0]),
    ("float32", LB, [0xC07F, 0x0000]), ("float32", LL, [0x0000, 0xC07F]),
    ("float64", BB, [0x7FF8, 0, 0, 0]), ("float64", BL, [0, 0, 0, 0x7FF8]),
    ("float64", LB, [0xF87F, 0, 0, 0]), ("float64", LL, [0, 0, 0, 0xF87F]),
]

_CODES = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f",
          "int64": "q", "uint64": "Q", "float64": "d"}


def _wire_words(kind: str, value: float, orders: tuple[str, str]) -> list[int]:
    """The registers a device sends for ``value``, built from the README's definitions.

    The value's big-endian bytes, two to a register (high word first); "little" word order
    sends the registers in reverse, "little" byte order swaps the two bytes of each.
    """
    byte_order, word_order = orders
    data = struct.pack(">" + _CODES[kind], value)
    pairs = [data[i:i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        pairs.reverse()
    if byte_order == "little":
        pairs = [pair[::-1] for pair in pairs]
    return [pair[0] << 8 | pair[1] for pair in pairs]


# Extremes and a middle value of every numeric type, floats as the type holds them.
EXTREMES = {
    "int16": [-(2**15), -1, 2**15 - 1, 0x1234],
    "uint16": [0, 2**16 - 1, 0x8001],
    "int32": [-(2**31), -1, 2**31 - 1, 0x01020304],
    "uint32": [0, 2**32 - 1, 0x80000001],
    "float32": [-1.5, struct.unpack(">f", struct.pack(">f", 1e-40))[0], 3.4028234663852886e38],
    "int64": [-(2**63), -1, 2**63 - 1, 0x0102030405060708],
    "uint64": [0, 2**64 - 1, 0x0102030405060708],
    "float64": [-1.5, 5e-324, 1.7976931348623157e308, 0.1],
}


def _profile(*registers: RegisterSpec, byte_order: str = "big", word_order: str = "big", **limits: int) -> ModbusProfile:
    return ModbusProfile(
        name="test",
        byte_order=byte_order,
        word_order=word_order,
        registers=registers,
        workarounds=ModbusWorkarounds(**limits),
    )


def _decode_one(kind: str, orders: tuple[str, str], words: list[int], **spec: object) -> float | str:
    byte_order, word_order = orders
    unit = None if kind == "string" else "x"
    profile = _profile(
        RegisterSpec(channel="value", address=0, type=kind, unit=unit, **spec),
        byte_order=byte_order,
        word_order=word_order,
    )
    (block,) = plan_reads(profile, strings=kind == "string")
    ((reg, value),) = decode_block(block, words, device_id="rtu")
    assert reg.channel == "value"
    return value


def _decoded(profile: ModbusProfile, *words_per_block: list[int], strings: bool = False) -> dict[str, float | str]:
    blocks = plan_reads(profile, strings=strings)
    assert len(blocks) == len(words_per_block), f"planned {[(b.table, b.address, b.count) for b in blocks]}"
    return {
        reg.channel: value
        for block, words in zip(blocks, words_per_block)
        for reg, value in decode_block(block, words, device_id="rtu")
    }


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "orders", "words", "expected"), GOLDEN)
def test_golden_profile_orders(kind: str, orders: tuple[str, str], words: list[int], expected: float) -> None:
    value = _decode_one(kind, orders, words)
    # Values come out as floats: an int64 beyond 2**53 is rounded like float(raw).
    assert value == float(expected), f"{kind} byte/word {orders} {[hex(w) for w in words]}: got {value}"


@pytest.mark.parametrize(("kind", "orders", "words", "expected"), GOLDEN)
def test_golden_per_register_override(kind: str, orders: tuple[str, str], words: list[int], expected: float) -> None:
    # The profile says the opposite of the register: the register's own order must win.
    byte_order, word_order = orders
    flip = {"big": "little", "little": "big"}
    profile = _profile(
        RegisterSpec(channel="value", address=0, type=kind, unit="x", byte_order=byte_order, word_order=word_order),
        byte_order=flip[byte_order],
        word_order=flip[word_order],
    )
    (block,) = plan_reads(profile)
    ((_, value),) = decode_block(block, words, device_id="rtu")
    assert value == float(expected), f"override {orders} ignored: got {value}, expected {expected}"


@pytest.mark.parametrize("orders", ORDERS, ids=lambda o: "/".join(o))
@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, values in EXTREMES.items() for v in values])
def test_every_type_and_order_against_hand_built_bytes(kind: str, value: float, orders: tuple[str, str]) -> None:
    words = _wire_words(kind, value, orders)
    decoded = _decode_one(kind, orders, words)
    assert type(decoded) is float
    assert decoded == float(value), f"{kind} {value!r} byte/word {orders} as {[hex(w) for w in words]}: got {decoded!r}"


def test_hand_built_words_match_the_golden_table() -> None:
    # The helper above is checked against the hand-written rows, so neither can drift alone.
    for kind, orders, words, expected in GOLDEN:
        if kind in ("int16", "uint16", "int32", "uint32", "int64", "uint64", "float64"):
            assert _wire_words(kind, expected, orders) == words, (kind, orders, expected)


@pytest.mark.parametrize(("kind", "orders", "words"), NAN_WORDS)
def test_float_nan_passes_through(kind: str, orders: tuple[str, str], words: list[int]) -> None:
    assert math.isnan(_decode_one(kind, orders, words))


def test_scale_and_offset() -> None:
    # Temperature in 0.1 degC: 0xFF29 = -215 -> -21.5
    assert _decode_one("int16", BB, [0xFF29], scale=0.1) == pytest.approx(-21.5, abs=1e-12)
    # A 4-20 mA style channel: 4000 * 0.01 - 20 = 20.0
    assert _decode_one("uint16", BB, [4000], scale=0.01, offset=-20.0) == pytest.approx(20.0, abs=1e-12)
    # Offset alone, on a 32-bit value: 0x00010000 = 65536 -> 65536 + 0.5
    assert _decode_one("uint32", BB, [0x0001, 0x0000], offset=0.5) == 65536.5
    # A 64-bit energy counter in Wh read as kWh
    assert _decode_one("uint64", BL, [0x86A0, 0x0001, 0, 0], scale=0.001) == pytest.approx(100.0, abs=1e-12)


def test_mixed_orders_and_gaps_in_one_block() -> None:
    # A big/big profile with one little-word float among plain fields, and holes between.
    profile = _profile(
        RegisterSpec(channel="a", address=10, type="int16", unit="x"),
        RegisterSpec(channel="b", address=12, type="float32", unit="x", word_order="little"),
        RegisterSpec(channel="c", address=14, type="uint32", unit="x"),
        RegisterSpec(channel="d", address=19, type="int16", unit="x", byte_order="little"),
        RegisterSpec(channel="e", address=20, type="float64", unit="x", word_order="little", byte_order="little"),
    )
    (block,) = plan_reads(profile)
    assert (block.address, block.count) == (10, 14)
    words = [0xFFFE, 0xDEAD, 0x0000, 0xC148, 0xB2D0, 0x5E00, 0xBEEF, 0xBEEF, 0xBEEF, 0xC7CF,
             0x0000, 0x0000, 0x0000, 0x29C0]
    assert _decoded(profile, words) == {"a": -2, "b": -12.5, "c": 3000000000, "d": -12345, "e": -12.5}


def test_values_come_back_in_address_order_whatever_the_profile_order() -> None:
    profile = _profile(
        RegisterSpec(channel="late", address=3, type="uint16", unit="x"),
        RegisterSpec(channel="flag", address=2, type="uint16", unit="x", bit=0),
        RegisterSpec(channel="early", address=0, type="uint16", unit="x"),
    )
    (block,) = plan_reads(profile)
    decoded = decode_block(block, [7, 0, 1, 9], device_id="rtu")
    assert [(reg.channel, value) for reg, value in decoded] == [("early", 7), ("flag", 1), ("late", 9)]


# --- bytes of a register ----------------------------------------------------------------------

# 0x80FF: high byte 0x80 (-128 signed), low byte 0xFF (-1 signed); 0x7F01: 127 and 1.
BYTE_CASES = [
    ("int8_high", 0x80FF, -128), ("uint8_high", 0x80FF, 128), ("int8_low", 0x80FF, -1), ("uint8_low", 0x80FF, 255),
    ("int8_high", 0x7F01, 127), ("uint8_high", 0x7F01, 127), ("int8_low", 0x7F01, 1), ("uint8_low", 0x7F01, 1),
]


@pytest.mark.parametrize("orders", ORDERS, ids=lambda o: "/".join(o))
@pytest.mark.parametrize(("kind", "word", "expected"), BYTE_CASES)
def test_byte_of_a_register_ignores_the_profile_orders(kind: str, word: int, expected: int, orders: tuple[str, str]) -> None:
    # High is bits 8-15 of the register as read (the first byte on the wire), whatever the profile says.
    assert _decode_one(kind, orders, [word]) == expected


@pytest.mark.parametrize("orders", ORDERS, ids=lambda o: "/".join(o))
def test_bytes_among_wider_fields(orders: tuple[str, str]) -> None:
    # Bytes share the block's read with 16- and 32-bit fields packed either way round.
    profile = _profile(
        RegisterSpec(channel="hi", address=0, type="int8_high", unit="x"),
        RegisterSpec(channel="n", address=1, type="uint16", unit="x"),
        RegisterSpec(channel="f", address=2, type="float32", unit="x"),
        RegisterSpec(channel="lo", address=4, type="uint8_low", unit="x", scale=0.5),
        RegisterSpec(channel="lo2", address=5, type="int8_low", unit="x"),
        byte_order=orders[0],
        word_order=orders[1],
    )
    words = [0xFE01, *_wire_words("uint16", 4660, orders), *_wire_words("float32", -1.5, orders), 0x01C8, 0x00F6]
    assert _decoded(profile, words) == {"hi": -2, "n": 4660, "f": -1.5, "lo": 100.0, "lo2": -10}


@pytest.mark.parametrize("orders", ORDERS, ids=lambda o: "/".join(o))
def test_both_bytes_and_bits_of_registers_share_them(orders: tuple[str, str]) -> None:
    # A clock register (hour high, minute low) and a register with a code byte and status bits.
    profile = _profile(
        RegisterSpec(channel="minute", address=0, type="uint8_low", unit="min"),
        RegisterSpec(channel="hour", address=0, type="uint8_high", unit="h"),
        RegisterSpec(channel="total", address=1, type="int32", unit="x"),
        RegisterSpec(channel="ready", address=3, type="uint16", unit="state", bit=0),
        RegisterSpec(channel="code", address=3, type="int8_high", unit="x"),
        RegisterSpec(channel="mode", address=3, type="uint16", unit="state", mask=0x00F0),
        byte_order=orders[0],
        word_order=orders[1],
    )
    (block,) = plan_reads(profile)
    assert (block.address, block.count) == (0, 4)
    assert [r.channel for r in block.registers] == ["minute", "hour", "total", "ready", "code", "mode"]
    words = [0x172B, *_wire_words("int32", -70000, orders), 0xF531]
    assert _decoded(profile, words) == {"hour": 23, "minute": 43, "total": -70000, "code": -11, "ready": 1, "mode": 3}


# --- bits of a register -----------------------------------------------------------------------


def _bits(*fields: dict[str, object], byte_order: str = "big") -> ModbusProfile:
    return _profile(
        *(RegisterSpec(channel=f"f{i}", address=0, type="uint16", unit="state", **spec) for i, spec in enumerate(fields)),
        byte_order=byte_order,
    )


@pytest.mark.parametrize("word", [0xA5C3, 0x5A3C, 0x0001, 0x8000, 0xFFFF, 0x0000])
def test_bits_0_to_15_of_one_register_in_one_read(word: int) -> None:
    profile = _bits(*({"bit": b} for b in range(16)))
    (block,) = plan_reads(profile)
    assert (block.address, block.count, len(block.registers)) == (0, 1, 16)
    decoded = [value for _, value in decode_block(block, [word], device_id="rtu")]
    assert decoded == [float(word >> b & 1) for b in range(16)], f"bits of {word:#06x}"


@pytest.mark.parametrize(
    ("spec", "word", "expected"),
    [
        ({"mask": 0x0F00}, 0x5A3C, 0xA),  # shifted down to the mask's lowest bit by default
        ({"mask": 0x0F00, "shift": 4}, 0x5A3C, 0xA0),  # an explicit shift wins
        ({"mask": 0x0F00, "shift": 0}, 0x5A3C, 0x0A00),
        ({"mask": 0x00F0}, 0x5A3C, 0x3),
        ({"mask": 0x0006}, 0xFFFF, 3),  # bits 1-2
        ({"mask": 0xFFFF}, 0xFFFF, 65535),
        ({"mask": 0xC000}, 0x8000, 2),
        ({"mask": 0x0F00, "scale": 10.0, "offset": -5.0}, 0x0300, 25.0),
        ({"bit": 15, "scale": 2.0, "offset": 1.0}, 0x8000, 3.0),
    ],
)
def test_masks_with_and_without_shift(spec: dict[str, object], word: int, expected: float) -> None:
    assert _decode_one("uint16", BB, [word], **spec) == expected


def test_bit_fields_of_an_int16_take_the_register_unsigned() -> None:
    assert _decode_one("int16", BB, [0x8000], bit=15) == 1
    assert _decode_one("int16", BB, [0xFF00], mask=0xFF00) == 255
    assert _decode_one("int16", BB, [0xFFFF], mask=0xFFFF) == 65535


@pytest.mark.parametrize(("spec", "word", "expected"), [
    ({"bit": 3}, 0x0008, 0.0), ({"bit": 3}, 0xFFF7, 1.0),
    ({"mask": 0x0100}, 0x0100, 0.0), ({"mask": 0x0100}, 0xFEFF, 1.0),
    ({"bit": 0, "scale": 5.0, "offset": 1.0}, 0x0000, 6.0), ({"bit": 0, "scale": 5.0, "offset": 1.0}, 0x0001, 1.0),
])
def test_invert_flips_one_bit_before_scaling(spec: dict[str, object], word: int, expected: float) -> None:
    assert _decode_one("uint16", BB, [word], invert=True, **spec) == expected


@pytest.mark.parametrize("byte_order", ["big", "little"])
def test_several_bit_channels_on_one_register_among_others(byte_order: str) -> None:
    # A status word at 5 between a counter and a float: one read; the bits are those of the
    # register as read, whatever the profile's byte order (the config refuses one on bits).
    profile = _profile(
        RegisterSpec(channel="count", address=4, type="uint16", unit="x"),
        RegisterSpec(channel="door_open", address=5, type="uint16", unit="state", bit=0),
        RegisterSpec(channel="mains_ok", address=5, type="uint16", unit="state", bit=1, invert=True),
        RegisterSpec(channel="mode", address=5, type="uint16", unit="state", mask=0x00F0),
        RegisterSpec(channel="alarm", address=5, type="int16", unit="state", bit=15),
        RegisterSpec(channel="level", address=6, type="float32", unit="x"),
        byte_order=byte_order,
    )
    (block,) = plan_reads(profile)
    assert (block.address, block.count) == (4, 4)
    words = [*_wire_words("uint16", 300, (byte_order, "big")), 0x8071, *_wire_words("float32", 2.5, (byte_order, "big"))]
    assert _decoded(profile, words) == {"count": 300, "door_open": 1, "mains_ok": 1, "mode": 7, "alarm": 1, "level": 2.5}


# --- coils and discrete inputs ----------------------------------------------------------------


def test_coils_and_discrete_inputs_decode_each_bit() -> None:
    profile = _profile(
        RegisterSpec(channel="pump_on", address=0, table="coil", type="bool", unit="state"),
        RegisterSpec(channel="valve_shut", address=1, table="coil", type="bool", unit="state", invert=True),
        RegisterSpec(channel="heater_w", address=3, table="coil", type="bool", unit="W", scale=1500.0, offset=10.0),
        RegisterSpec(channel="door", address=10, table="discrete", type="bool", unit="state"),
        RegisterSpec(channel="mains_ok", address=11, table="discrete", type="bool", unit="state", invert=True),
    )
    coils, discrete = plan_reads(profile)
    assert (coils.table, coils.address, coils.count) == ("coil", 0, 4)
    assert (discrete.table, discrete.address, discrete.count) == ("discrete", 10, 2)
    assert _decoded(profile, [1, 1, 0, 1], [0, 0]) == {
        "pump_on": 1.0, "valve_shut": 0.0, "heater_w": 1510.0, "door": 0.0, "mains_ok": 1.0,
    }
    # pymodbus hands bits over as bools
    assert _decoded(profile, [False, False, True, False], [True, True]) == {
        "pump_on": 0.0, "valve_shut": 1.0, "heater_w": 10.0, "door": 1.0, "mains_ok": 0.0,
    }
    assert all(type(v) is float for v in _decoded(profile, [0, 1, 0, 1], [1, 0]).values())


@pytest.mark.parametrize("bad", [2, -1, 1.0, "1", None])
def test_a_bit_that_is_not_0_or_1_is_a_decode_error(bad: object) -> None:
    (block,) = plan_reads(_profile(*(RegisterSpec(channel=f"c{i}", address=i, table="discrete", type="bool",
                                                  unit="state") for i in range(3))))
    with pytest.raises(DecodeError) as info:
        decode_block(block, [0, bad, 1], device_id="rtu-3")
    assert "bit values are not 0 or 1" in str(info.value)
    assert "discrete 0-2" in str(info.value)


def test_wrong_bit_count_is_a_decode_error() -> None:
    (block,) = plan_reads(_profile(RegisterSpec(channel="c", address=7, table="coil", type="bool", unit="state")))
    with pytest.raises(DecodeError, match=r"expected 1 bits, got 8 \[coil 7-7\]"):
        decode_block(block, [1, 0, 0, 0, 0, 0, 0, 0], device_id="rtu")


# --- strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "spec", "expected"),
    [
        ([0x4142, 0x4300], {}, "ABC"),  # odd length, NUL after the last character
        ([0x4142, 0x4320], {}, "ABC"),  # ... or a space
        ([0x5631, 0x2E32, 0x0000, 0x0000], {}, "V1.2"),  # NUL padded
        ([0x0020, 0x5631, 0x2032, 0x2020], {}, "V1 2"),  # leading NUL and space; inner space kept
        ([0x3156, 0x322E, 0x0000], {"byte_order": "little"}, "V1.2"),  # each pair swapped
        ([0x4241, 0x0043], {"byte_order": "little"}, "ABC"),
        ([0x41E9, 0x0142], {}, "A\ufffd\ufffdB"),  # Latin-1 e-acute and a control character
        ([0x41FF, 0x7F42], {}, "A\ufffd\ufffdB"),  # 0xFF and DEL
        ([0x0000, 0x0000], {}, ""),
    ],
)
def test_strings(words: list[int], spec: dict[str, object], expected: str) -> None:
    assert _decode_one("string", BB, words, length_registers=len(words), **spec) == expected


def test_a_little_endian_profile_swaps_its_strings_unless_the_register_says_big() -> None:
    profile = _profile(
        RegisterSpec(channel="serial", address=0, type="string", length_registers=2),
        RegisterSpec(channel="model", address=3, type="string", length_registers=2, byte_order="big"),
        RegisterSpec(channel="flow", address=2, type="uint16", unit="x"),
        byte_order="little",
    )
    (block,) = plan_reads(profile, strings=True)
    assert (block.address, block.count, [r.channel for r in block.registers]) == (0, 5, ["serial", "model"])
    assert _decoded(profile, [0x3231, 0x3433, 0xFFFF, 0x5258, 0x3100], strings=True) == {"serial": "1234", "model": "RX1"}


def test_a_string_register_outside_16_bits_is_a_decode_error() -> None:
    (block,) = plan_reads(_profile(RegisterSpec(channel="s", address=0, type="string", length_registers=2)), strings=True)
    with pytest.raises(DecodeError, match="not 16-bit words"):
        decode_block(block, [0x4142, -1], device_id="rtu")


# --- errors -----------------------------------------------------------------------------------


def test_wrong_register_count_is_a_decode_error() -> None:
    (block,) = plan_reads(_profile(RegisterSpec(channel="v", address=4, type="float32", unit="x")))
    with pytest.raises(DecodeError) as info:
        decode_block(block, [0x4049], device_id="rtu-7")
    assert info.value.device_id == "rtu-7"
    assert "expected 2 registers, got 1" in str(info.value)
    assert "holding 4-5" in str(info.value)


@pytest.mark.parametrize("bad", [70000, -1, 1.5, "1", None])
def test_register_outside_16_bits_is_a_decode_error(bad: object) -> None:
    (block,) = plan_reads(_profile(RegisterSpec(channel="v", address=0, type="uint16", unit="x")))
    with pytest.raises(DecodeError, match="not 16-bit words"):
        decode_block(block, [bad], device_id="rtu")


def test_a_block_of_bit_fields_only_still_checks_its_words() -> None:
    (block,) = plan_reads(_bits({"bit": 0}, {"bit": 1}))
    with pytest.raises(DecodeError, match="not 16-bit words"):
        decode_block(block, [0x10001], device_id="rtu")


# --- plan_reads -------------------------------------------------------------------------------


def test_regulator_v1_is_one_read_of_18_registers() -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    (profile,) = [ModbusProfile.model_validate(p) for p in raw["modbus_profiles"] if p["name"] == "regulator-v1"]
    blocks = plan_reads(profile)
    assert [(b.table, b.address, b.count) for b in blocks] == [("holding", 0, 18)]
    assert [r.channel for r in blocks[0].registers] == [r.channel for r in profile.registers]
    assert plan_reads(profile, strings=True) == ()


def _uint16s(*addresses: int) -> tuple[RegisterSpec, ...]:
    return tuple(RegisterSpec(channel=f"r{a}", address=a, type="uint16", unit="x") for a in addresses)


def _coils(*addresses: int, table: str = "coil") -> tuple[RegisterSpec, ...]:
    return tuple(RegisterSpec(channel=f"{table}{a}", address=a, table=table, type="bool", unit="state") for a in addresses)


@pytest.mark.parametrize(
    ("max_gap", "expected"),
    [
        (0, [(0, 2), (4, 1), (8, 1)]),  # contiguous only
        (1, [(0, 2), (4, 1), (8, 1)]),  # the hole 2-3 is 2 registers
        (2, [(0, 5), (8, 1)]),  # ... bridged; the hole 5-7 is 3 registers
        (3, [(0, 9)]),  # both bridged
    ],
)
def test_gaps_are_bridged_up_to_max_gap(max_gap: int, expected: list[tuple[int, int]]) -> None:
    blocks = plan_reads(_profile(*_uint16s(0, 1, 4, 8), max_gap_registers=max_gap))
    assert [(b.address, b.count) for b in blocks] == expected
    # The same holes between coils count bits.
    blocks = plan_reads(_profile(*_coils(0, 1, 4, 8), max_gap_registers=max_gap))
    assert [(b.table, b.address, b.count) for b in blocks] == [("coil", a, c) for a, c in expected]


def test_reads_are_split_at_max_registers_and_never_inside_a_value() -> None:
    # Ten 32-bit values back to back; 5 registers per read fits two values, not two and a half.
    registers = tuple(RegisterSpec(channel=f"v{a}", address=a, type="uint32", unit="x") for a in range(0, 20, 2))
    blocks = plan_reads(_profile(*registers, max_registers_per_read=5))
    assert [(b.address, b.count) for b in blocks] == [(0, 4), (4, 4), (8, 4), (12, 4), (16, 4)]
    assert all(len(b.registers) == 2 for b in blocks)
    # 64-bit values: 7 registers per read fits one.
    registers = tuple(RegisterSpec(channel=f"v{a}", address=a, type="float64", unit="x") for a in range(0, 12, 4))
    blocks = plan_reads(_profile(*registers, max_registers_per_read=7))
    assert [(b.address, b.count) for b in blocks] == [(0, 4), (4, 4), (8, 4)]


def test_max_registers_counts_the_bridged_gap() -> None:
    blocks = plan_reads(_profile(*_uint16s(0, 5), max_gap_registers=8, max_registers_per_read=5))
    assert [(b.address, b.count) for b in blocks] == [(0, 1), (5, 1)]
    blocks = plan_reads(_profile(*_uint16s(0, 4), max_gap_registers=8, max_registers_per_read=5))
    assert [(b.address, b.count) for b in blocks] == [(0, 5)]


def test_bit_reads_are_split_at_max_bits_not_max_registers() -> None:
    profile = _profile(*_coils(*range(10)), *_uint16s(0, 1, 2), max_bits_per_read=4, max_registers_per_read=2)
    assert [(b.table, b.address, b.count) for b in plan_reads(profile)] == [
        ("coil", 0, 4), ("coil", 4, 4), ("coil", 8, 2), ("holding", 0, 2), ("holding", 2, 1),
    ]
    profile = _profile(*_coils(*range(0, 2000, 100), table="discrete"), max_gap_registers=100, max_registers_per_read=1)
    assert [(b.table, b.address, b.count) for b in plan_reads(profile)] == [("discrete", 0, 1901)]


def test_bit_fields_sharing_a_register_take_one_register_of_the_read() -> None:
    profile = _profile(
        *(RegisterSpec(channel=f"s{b}", address=5, type="uint16", unit="state", bit=b) for b in (0, 7, 15)),
        *_uint16s(6, 7),
        max_registers_per_read=2,
        max_gap_registers=0,
    )
    blocks = plan_reads(profile)
    assert [(b.address, b.count) for b in blocks] == [(5, 2), (7, 1)]
    assert [r.channel for r in blocks[0].registers] == ["s0", "s7", "s15", "r6"]


def test_a_mixed_profile_plans_one_table_per_read_and_strings_apart() -> None:
    profile = ModbusProfile(
        name="mixed",
        function="input",
        registers=(
            RegisterSpec(channel="serial", address=100, table="holding", type="string", length_registers=8),
            RegisterSpec(channel="firmware", address=110, table="holding", type="string", length_registers=2),
            RegisterSpec(channel="setpoint_kpa", address=0, table="holding", type="float32", unit="kPa"),
            RegisterSpec(channel="outlet_kpa", address=0, type="float32", unit="kPa"),  # the profile's input table
            RegisterSpec(channel="status_run", address=2, type="uint16", unit="state", bit=0),
            RegisterSpec(channel="model", address=3, type="string", length_registers=4),
            *_coils(0, 1, 3),
            *_coils(0, 2, table="discrete"),
        ),
    )
    numbers = plan_reads(profile)
    assert [(b.table, b.address, b.count, [r.channel for r in b.registers]) for b in numbers] == [
        ("coil", 0, 4, ["coil0", "coil1", "coil3"]),
        ("discrete", 0, 3, ["discrete0", "discrete2"]),
        ("holding", 0, 2, ["setpoint_kpa"]),
        ("input", 0, 3, ["outlet_kpa", "status_run"]),
    ]
    strings = plan_reads(profile, strings=True)
    assert [(b.table, b.address, b.count, [r.channel for r in b.registers]) for b in strings] == [
        ("holding", 100, 12, ["serial", "firmware"]),
        ("input", 3, 4, ["model"]),
    ]
    assert all(isinstance(b, ReadBlock) and b.end == b.address + b.count for b in numbers + strings)


def test_strings_honour_max_registers_and_gaps() -> None:
    profile = _profile(
        RegisterSpec(channel="a", address=0, type="string", length_registers=4),
        RegisterSpec(channel="b", address=4, type="string", length_registers=4),
        RegisterSpec(channel="c", address=10, type="string", length_registers=2),
        max_registers_per_read=8,
        max_gap_registers=1,
    )
    assert [(b.address, b.count) for b in plan_reads(profile, strings=True)] == [(0, 8), (10, 2)]


def test_plan_takes_the_profile_function() -> None:
    profile = ModbusProfile(name="t", function="input", registers=_uint16s(3))
    assert [(b.table, b.address, b.count) for b in plan_reads(profile)] == [("input", 3, 1)]


@pytest.mark.parametrize("strings", [False, True])
def test_value_wider_than_max_read_is_refused(strings: bool) -> None:
    profile = _profile(RegisterSpec(channel="big", address=0, type="float32", unit="x"), max_registers_per_read=1)
    with pytest.raises(ValueError, match="profile 'test': 'big' is 2 registers wide but max_registers_per_read is 1"):
        plan_reads(profile)
    profile = _profile(RegisterSpec(channel="total", address=0, type="uint64", unit="x"), max_registers_per_read=3)
    with pytest.raises(ValueError, match="'total' is 4 registers wide"):
        plan_reads(profile)
    # A too-long string spoils either half of the plan: the profile cannot be polled whole.
    profile = _profile(
        *_uint16s(0),
        RegisterSpec(channel="serial", address=10, type="string", length_registers=10),
        max_registers_per_read=8,
    )
    with pytest.raises(ValueError, match="'serial' is 10 registers wide but max_registers_per_read is 8"):
        plan_reads(profile, strings=strings)
