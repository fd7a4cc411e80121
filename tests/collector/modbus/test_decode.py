"""Golden cases for register decoding and read planning; register words computed by hand."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from collector.errors import DecodeError
from collector.modbus.config import ModbusProfile, ModbusWorkarounds, RegisterSpec
from collector.modbus.decode import decode_block, plan_reads

EXAMPLE_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "sitewatch.example.toml"

BB, BL, LB, LL = ("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")  # (byte, word)

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
]

# float32 quiet NaN = 0x7FC00000: RTUs send it for "no reading"; it must stay NaN.
NAN_WORDS = [(BB, [0x7FC0, 0x0000]), (BL, [0x0000, 0x7FC0]), (LB, [0xC07F, 0x0000]), (LL, [0x0000, 0xC07F])]


def _profile(*registers: RegisterSpec, byte_order: str = "big", word_order: str = "big", **limits: int) -> ModbusProfile:
    return ModbusProfile(
        name="test",
        byte_order=byte_order,
        word_order=word_order,
        registers=registers,
        workarounds=ModbusWorkarounds(**limits),
    )


def _decode_one(kind: str, orders: tuple[str, str], words: list[int], **spec: float) -> float:
    byte_order, word_order = orders
    profile = _profile(
        RegisterSpec(channel="value", address=0, type=kind, unit="x", **spec),
        byte_order=byte_order,
        word_order=word_order,
    )
    (block,) = plan_reads(profile)
    ((reg, value),) = decode_block(block, words, device_id="rtu")
    assert reg.channel == "value"
    return value


@pytest.mark.parametrize(("kind", "orders", "words", "expected"), GOLDEN)
def test_golden_profile_orders(kind: str, orders: tuple[str, str], words: list[int], expected: float) -> None:
    value = _decode_one(kind, orders, words)
    assert value == expected, f"{kind} byte/word {orders} {[hex(w) for w in words]}: got {value}"


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
    assert value == expected, f"override {orders} ignored: got {value}, expected {expected}"


@pytest.mark.parametrize(("orders", "words"), NAN_WORDS)
def test_float_nan_passes_through(orders: tuple[str, str], words: list[int]) -> None:
    assert math.isnan(_decode_one("float32", orders, words))


def test_scale_and_offset() -> None:
    # Temperature in 0.1 degC: 0xFF29 = -215 -> -21.5
    assert _decode_one("int16", BB, [0xFF29], scale=0.1) == pytest.approx(-21.5, abs=1e-12)
    # A 4-20 mA style channel: 4000 * 0.01 - 20 = 20.0
    assert _decode_one("uint16", BB, [4000], scale=0.01, offset=-20.0) == pytest.approx(20.0, abs=1e-12)
    # Offset alone, on a 32-bit value: 0x00010000 = 65536 -> 65536 + 0.5
    assert _decode_one("uint32", BB, [0x0001, 0x0000], offset=0.5) == 65536.5


def test_mixed_orders_and_gaps_in_one_block() -> None:
    # A big/big profile with one little-word float among plain fields, and holes between.
    profile = _profile(
        RegisterSpec(channel="a", address=10, type="int16", unit="x"),
        RegisterSpec(channel="b", address=12, type="float32", unit="x", word_order="little"),
        RegisterSpec(channel="c", address=14, type="uint32", unit="x"),
        RegisterSpec(channel="d", address=19, type="int16", unit="x", byte_order="little"),
    )
    (block,) = plan_reads(profile)
    assert (block.address, block.count) == (10, 10)
    words = [0xFFFE, 0xDEAD, 0x0000, 0xC148, 0xB2D0, 0x5E00, 0xBEEF, 0xBEEF, 0xBEEF, 0xC7CF]
    decoded = {reg.channel: value for reg, value in decode_block(block, words, device_id="rtu")}
    assert decoded == {"a": -2, "b": -12.5, "c": 3000000000, "d": -12345}


def test_values_come_back_in_address_order_whatever_the_profile_order() -> None:
    profile = _profile(
        RegisterSpec(channel="late", address=3, type="uint16", unit="x"),
        RegisterSpec(channel="early", address=0, type="uint16", unit="x"),
    )
    (block,) = plan_reads(profile)
    decoded = decode_block(block, [7, 0, 0, 9], device_id="rtu")
    assert [(reg.channel, value) for reg, value in decoded] == [("early", 7), ("late", 9)]


def test_wrong_register_count_is_a_decode_error() -> None:
    (block,) = plan_reads(_profile(RegisterSpec(channel="v", address=4, type="float32", unit="x")))
    with pytest.raises(DecodeError) as info:
        decode_block(block, [0x4049], device_id="rtu-7")
    assert info.value.device_id == "rtu-7"
    assert "expected 2 registers, got 1" in str(info.value)
    assert "holding 4-5" in str(info.value)


def test_register_outside_16_bits_is_a_decode_error() -> None:
    (block,) = plan_reads(_profile(RegisterSpec(channel="v", address=0, type="uint16", unit="x")))
    with pytest.raises(DecodeError, match="not 16-bit words"):
        decode_block(block, [70000], device_id="rtu")


# --- plan_reads -----------------------------------------------------------------------------


def test_regulator_v1_is_one_read_of_18_registers() -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    (profile,) = [ModbusProfile.model_validate(p) for p in raw["modbus_profiles"] if p["name"] == "regulator-v1"]
    blocks = plan_reads(profile)
    assert [(b.function, b.address, b.count) for b in blocks] == [("holding", 0, 18)]
    assert [r.channel for r in blocks[0].registers] == [r.channel for r in profile.registers]


def _uint16s(*addresses: int) -> tuple[RegisterSpec, ...]:
    return tuple(RegisterSpec(channel=f"r{a}", address=a, type="uint16", unit="x") for a in addresses)


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


def test_reads_are_split_at_max_registers_and_never_inside_a_value() -> None:
    # Ten 32-bit values back to back; 5 registers per read fits two values, not two and a half.
    registers = tuple(RegisterSpec(channel=f"v{a}", address=a, type="uint32", unit="x") for a in range(0, 20, 2))
    blocks = plan_reads(_profile(*registers, max_registers_per_read=5))
    assert [(b.address, b.count) for b in blocks] == [(0, 4), (4, 4), (8, 4), (12, 4), (16, 4)]
    assert all(len(b.registers) == 2 for b in blocks)


def test_max_registers_counts_the_bridged_gap() -> None:
    blocks = plan_reads(_profile(*_uint16s(0, 5), max_gap_registers=8, max_registers_per_read=5))
    assert [(b.address, b.count) for b in blocks] == [(0, 1), (5, 1)]
    blocks = plan_reads(_profile(*_uint16s(0, 4), max_gap_registers=8, max_registers_per_read=5))
    assert [(b.address, b.count) for b in blocks] == [(0, 5)]


def test_plan_takes_the_profile_function() -> None:
    profile = ModbusProfile(name="t", function="input", registers=_uint16s(3))
    assert [(b.function, b.address, b.count) for b in plan_reads(profile)] == [("input", 3, 1)]


def test_value_wider_than_max_read_is_refused() -> None:
    profile = _profile(RegisterSpec(channel="big", address=0, type="float32", unit="x"), max_registers_per_read=1)
    with pytest.raises(ValueError, match="'big' is 2 registers wide"):
        plan_reads(profile)
