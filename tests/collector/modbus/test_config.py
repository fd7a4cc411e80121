"""The Modbus config models refuse what cannot be polled, and say what is wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sitewatch.collector.modbus.config import (
    ModbusEndpoint,
    ModbusGateway,
    ModbusProfile,
    ModbusWorkarounds,
    RegisterSpec,
    SerialLine,
)


def _spec(**fields: object) -> RegisterSpec:
    return RegisterSpec.model_validate({"channel": "ch", "address": 0, "unit": "x"} | fields)


def _profile(*registers: dict[str, object], **fields: object) -> ModbusProfile:
    regs = [{"unit": "x"} | r for r in registers]
    return ModbusProfile.model_validate({"name": "p", "registers": regs} | fields)


# --- RegisterSpec -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "string", "unit": None}, "'ch': a string needs length_registers"),
        ({"type": "string", "length_registers": 4}, "'ch': a string has no unit, scale or offset"),
        ({"type": "string", "unit": None, "length_registers": 4, "scale": 0.1}, "a string has no unit, scale or offset"),
        ({"type": "string", "unit": None, "length_registers": 4, "offset": 1.0}, "a string has no unit, scale or offset"),
        ({"type": "uint16", "length_registers": 4}, "'ch': length_registers is for strings"),
        ({"type": "float32", "unit": None}, "'ch': a float32 channel needs a unit"),
        ({"type": "bool", "table": "coil", "unit": None}, "a bool channel needs a unit"),
        ({"type": "uint16", "table": "coil"}, "'ch': a coil is one bit: its type is \"bool\""),
        ({"type": "float32", "table": "discrete"}, "a discrete is one bit"),
        ({"type": "bool"}, "\"bool\" is for coils and discrete inputs"),
        ({"type": "bool", "table": "holding"}, "one bit of a register is bit = N on a uint16"),
        ({"type": "uint32", "bit": 3}, "'ch': bit, mask and shift take bits of one 16-bit register"),
        ({"type": "int8_low", "mask": 0x0F}, "bit, mask and shift take bits of one 16-bit register"),
        ({"type": "float32", "shift": 2}, "bit, mask and shift take bits of one 16-bit register"),
        ({"type": "uint16", "bit": 3, "mask": 0x8}, "give either bit or mask (with an optional shift), not both"),
        ({"type": "uint16", "bit": 3, "shift": 3}, "give either bit or mask"),
        ({"type": "uint16", "shift": 3}, "'ch': shift goes with a mask"),
        ({"type": "uint16", "invert": True}, "'ch': invert is for one bit"),
        ({"type": "uint16", "mask": 0x0006, "invert": True}, "invert is for one bit"),
        ({"type": "float32", "invert": True}, "invert is for one bit"),
        ({"type": "uint16", "bit": 2, "word_order": "big"}, "'ch': word_order is for numbers of several registers"),
        ({"type": "uint8_high", "word_order": "big"}, "word_order is for numbers of several registers"),
        ({"type": "bool", "table": "coil", "word_order": "big"}, "word_order is for numbers of several registers"),
        ({"type": "string", "unit": None, "length_registers": 4, "word_order": "little"},
         "word_order is for numbers of several registers"),
        ({"type": "uint16", "mask": 0x00F0, "shift": 8}, "'ch': a shift of 8 drops bits of mask 0x00f0"),
        ({"type": "uint16", "mask": 0x0010, "shift": 0, "invert": True}, "an inverted bit reads 0/1"),
        ({"type": "bool", "table": "coil", "byte_order": "little"}, "'ch': byte_order means nothing for bool"),
        ({"type": "int8_high", "byte_order": "little"}, "byte_order means nothing for int8_high"),
        ({"type": "uint16", "bit": 0, "byte_order": "big"}, "byte_order means nothing for uint16 bits"),
        ({"type": "int16", "mask": 0xF0, "byte_order": "big"}, "byte_order means nothing for int16 bits"),
    ],
)
def test_register_spec_refuses_inconsistent_fields(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _spec(**fields)
    assert message in str(info.value), f"{fields}: {info.value}"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"type": "uint16", "bit": 16}, "bit"),
        ({"type": "uint16", "bit": -1}, "bit"),
        ({"type": "uint16", "mask": 0}, "mask"),
        ({"type": "uint16", "mask": 0x10000}, "mask"),
        ({"type": "uint16", "mask": 0xF0, "shift": 16}, "shift"),
        ({"type": "string", "unit": None, "length_registers": 0}, "length_registers"),
        ({"type": "string", "unit": None, "length_registers": 126}, "length_registers"),
        ({"type": "uint16", "address": 65536}, "address"),
        ({"type": "uint16", "table": "register"}, "table"),
        ({"type": "int24"}, "type"),
        ({"type": "uint16", "channel": "Outlet-kPa"}, "channel"),
        ({"type": "uint16", "unit": ""}, "unit"),
    ],
)
def test_register_spec_field_ranges(fields: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        _spec(**fields)
    assert [e["loc"] for e in info.value.errors()] == [(where,)], info.value


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "bool", "table": "coil", "invert": True, "scale": 1500.0},
        {"type": "bool", "table": "discrete"},
        {"type": "uint16", "bit": 15, "invert": True},
        {"type": "int16", "mask": 0x0100, "invert": True},  # a one-bit mask
        {"type": "uint16", "mask": 0x0F00, "shift": 4, "scale": 0.5},
        {"type": "int8_low", "table": "input", "scale": 0.1},
        {"type": "float64", "word_order": "little", "byte_order": "little"},
        {"type": "uint16", "byte_order": "little"},
        {"type": "int16", "word_order": "little"},  # meaningless, but earlier profiles set it on every register
        {"type": "string", "unit": None, "length_registers": 1},
        {"type": "string", "unit": None, "length_registers": 125, "byte_order": "little"},
    ],
)
def test_register_spec_accepts(fields: dict[str, object]) -> None:
    _spec(**fields)


def test_bit_field_properties() -> None:
    bit = _spec(type="uint16", bit=5)
    assert (bit.is_bit_field, bit.single_bit, bit.bit_mask, bit.bit_shift, bit.width) == (True, True, 0x20, 5, 1)
    mask = _spec(type="uint16", mask=0x0F00)
    assert (mask.is_bit_field, mask.single_bit, mask.bit_mask, mask.bit_shift) == (True, False, 0x0F00, 8)
    assert _spec(type="uint16", mask=0x0F00, shift=4).bit_shift == 4
    assert _spec(type="uint16", mask=0x8000).single_bit
    plain = _spec(type="uint16")
    assert (plain.is_bit_field, plain.single_bit) == (False, False)
    assert _spec(type="bool", table="coil").single_bit


@pytest.mark.parametrize(
    ("fields", "width"),
    [
        ({"type": "bool", "table": "coil"}, 1), ({"type": "uint8_high"}, 1), ({"type": "int16"}, 1),
        ({"type": "uint32"}, 2), ({"type": "float32"}, 2), ({"type": "int64"}, 4), ({"type": "uint64"}, 4),
        ({"type": "float64"}, 4), ({"type": "string", "unit": None, "length_registers": 9}, 9),
    ],
)
def test_width(fields: dict[str, object], width: int) -> None:
    assert _spec(**fields).width == width


# --- ModbusWorkarounds and ModbusProfile ------------------------------------------------------


def test_workaround_limits() -> None:
    assert ModbusWorkarounds().max_bits_per_read == 2000
    for bad in ({"max_bits_per_read": 0}, {"max_bits_per_read": 2001}, {"max_registers_per_read": 126},
                {"max_gap_registers": -1}):
        with pytest.raises(ValidationError):
            ModbusWorkarounds.model_validate(bad)


def test_channel_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="channel names must be unique within a profile"):
        _profile({"channel": "a", "address": 0, "type": "uint16"}, {"channel": "a", "address": 1, "type": "uint16"})


@pytest.mark.parametrize(
    ("registers", "message"),
    [
        (
            [{"channel": "a", "address": 3, "type": "uint16"}, {"channel": "b", "address": 3, "type": "int16"}],
            "holding register 3 is used by both 'a' and 'b'",
        ),
        (
            [{"channel": "f", "address": 0, "type": "float64"}, {"channel": "n", "address": 3, "type": "uint16"}],
            "holding register 3 is used by both 'f' and 'n'",
        ),
        (
            [{"channel": "s", "address": 10, "type": "string", "unit": None, "length_registers": 4},
             {"channel": "n", "address": 13, "type": "uint16"}],
            "holding register 13 is used by both 's' and 'n'",
        ),
        (  # a whole register and one of its bits
            [{"channel": "w", "address": 5, "type": "uint16"}, {"channel": "b", "address": 5, "type": "uint16", "bit": 0}],
            "holding register 5 is used by both 'w' and 'b'",
        ),
        (
            [{"channel": "b", "address": 5, "type": "uint16", "bit": 0}, {"channel": "w", "address": 5, "type": "uint16"}],
            "holding register 5 is used by both 'b' and 'w'",
        ),
        (
            [{"channel": "b", "address": 5, "type": "uint16", "bit": 4},
             {"channel": "m", "address": 5, "type": "uint16", "mask": 0x00F0}],
            "holding register 5: 'm' takes bits b already take",
        ),
        (
            [{"channel": "hi", "address": 5, "type": "uint8_high"}, {"channel": "h2", "address": 5, "type": "int8_high"}],
            "holding register 5: 'h2' takes bits hi already take",
        ),
        (
            [{"channel": "lo", "address": 5, "type": "uint8_low"}, {"channel": "b", "address": 5, "type": "uint16", "bit": 7}],
            "holding register 5: 'b' takes bits lo already take",
        ),
        (
            [{"channel": "lo", "address": 5, "type": "uint8_low"}, {"channel": "w", "address": 5, "type": "int16"}],
            "holding register 5 is used by both 'lo' and 'w'",
        ),
        (
            [{"channel": "w", "address": 4, "type": "float32"}, {"channel": "hi", "address": 5, "type": "int8_high"}],
            "holding register 5 is used by both 'w' and 'hi'",
        ),
        (
            [{"channel": "c", "address": 7, "table": "coil", "type": "bool"},
             {"channel": "d", "address": 7, "table": "coil", "type": "bool"}],
            "coil register 7 is used by both 'c' and 'd'",
        ),
        ([{"channel": "u", "address": 65535, "type": "uint32"}], "'u' runs past the last address 65535"),
        ([{"channel": "s", "address": 65530, "type": "string", "unit": None, "length_registers": 7}],
         "'s' runs past the last address 65535"),
    ],
)
def test_overlaps_are_refused(registers: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _profile(*registers)
    assert message in str(info.value), info.value


def test_a_register_of_the_profile_table_overlaps_one_naming_that_table() -> None:
    with pytest.raises(ValidationError, match="input register 0 is used by both 'a' and 'b'"):
        _profile(
            {"channel": "a", "address": 0, "type": "uint16"},
            {"channel": "b", "address": 0, "table": "input", "type": "uint16"},
            function="input",
        )


def test_bit_fields_share_a_register_and_tables_are_apart() -> None:
    profile = _profile(
        {"channel": "run", "address": 5, "type": "uint16", "bit": 0},
        {"channel": "mode", "address": 5, "type": "int16", "mask": 0x00F0},
        {"channel": "fault", "address": 5, "type": "uint16", "mask": 0x8000, "invert": True},
        {"channel": "hour", "address": 6, "type": "uint8_high"},  # the two bytes of one register
        {"channel": "minute", "address": 6, "type": "uint8_low"},
        {"channel": "code", "address": 7, "type": "int8_high"},  # a byte and bits of the other
        {"channel": "ready", "address": 7, "type": "uint16", "bit": 0},
        {"channel": "mode7", "address": 7, "type": "uint16", "mask": 0x00F0},
        # the same address in each of the four tables
        {"channel": "h", "address": 0, "type": "uint16"},
        {"channel": "i", "address": 0, "table": "input", "type": "uint16"},
        {"channel": "c", "address": 0, "table": "coil", "type": "bool"},
        {"channel": "d", "address": 0, "table": "discrete", "type": "bool"},
        {"channel": "last", "address": 65535, "table": "coil", "type": "bool"},
        {"channel": "end", "address": 65532, "type": "float64"},
    )
    assert [profile.table_of(r) for r in profile.registers[8:12]] == ["holding", "input", "coil", "discrete"]


def test_a_third_bit_field_on_the_bits_of_the_first_is_refused() -> None:
    with pytest.raises(ValidationError, match="holding register 5: 'c' takes bits a, b already take"):
        _profile(
            {"channel": "a", "address": 5, "type": "uint16", "bit": 0},
            {"channel": "b", "address": 5, "type": "uint16", "bit": 1},
            {"channel": "c", "address": 5, "type": "uint16", "mask": 0x0003},
        )


def test_table_of_and_channels() -> None:
    profile = _profile(
        {"channel": "serial", "address": 100, "type": "string", "unit": None, "length_registers": 8},
        {"channel": "outlet_kpa", "address": 0, "type": "float32", "unit": "kPa"},
        {"channel": "door", "address": 0, "table": "discrete", "type": "bool", "unit": "state"},
        function="input",
    )
    assert [profile.table_of(r) for r in profile.registers] == ["input", "input", "discrete"]
    assert profile.channels == {"outlet_kpa": "kPa", "door": "state"}  # strings go to the inventory


def test_profile_fields() -> None:
    for bad in ({"function": "coil"}, {"inventory_interval_s": 0}, {"registers": []}, {"word_order": "middle"}):
        with pytest.raises(ValidationError):
            ModbusProfile.model_validate({"name": "p", "registers": [{"channel": "a", "address": 0, "type": "uint16",
                                                                      "unit": "x"}]} | bad)


# --- ModbusGateway and ModbusEndpoint ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, 'framing = "tcp" needs host (and port), not serial'),
        ({"framing": "rtu_over_tcp"}, 'framing = "rtu_over_tcp" needs host (and port), not serial'),
        ({"host": "10.0.0.1", "serial": {"device": "/dev/ttyUSB0"}}, 'framing = "tcp" needs host (and port), not serial'),
        ({"framing": "rtu"}, 'framing = "rtu" is a serial line: give serial = { device = ... }, not host'),
        ({"framing": "rtu", "host": "10.0.0.1", "serial": {"device": "/dev/ttyUSB0"}}, 'framing = "rtu" is a serial line'),
        ({"framing": "rtu", "port": 4001, "serial": {"device": "/dev/ttyUSB0"}}, "not host or port"),
    ],
)
def test_gateway_refuses(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ModbusGateway.model_validate(fields)
    assert message in str(info.value), info.value


def test_gateway_accepts() -> None:
    tcp = ModbusGateway(host="10.0.0.1")
    assert (tcp.framing, tcp.port, tcp.pause_between_requests_ms) == ("tcp", 502, 0.0)
    ModbusGateway(framing="rtu_over_tcp", host="10.0.0.2", port=4001, pause_between_requests_ms=20)
    rtu = ModbusGateway.model_validate({"framing": "rtu", "serial": {"device": "/dev/ttyUSB0", "parity": "E"}})
    assert rtu.serial == SerialLine(device="/dev/ttyUSB0", baudrate=9600, bytesize=8, parity="E", stopbits=1)
    for bad in ({"baudrate": 299}, {"parity": "X"}, {"stopbits": 3}, {"bytesize": 6}, {"device": ""}):
        with pytest.raises(ValidationError):
            SerialLine.model_validate({"device": "/dev/ttyS0"} | bad)
    for bad in ({"timeout_s": 0}, {"pause_between_requests_ms": -1}, {"port": 0}):
        with pytest.raises(ValidationError):
            ModbusGateway.model_validate({"host": "h"} | bad)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "a Modbus endpoint needs either host (and port) or gateway"),
        ({"host": "10.0.0.7", "gateway": "gw-north"}, "a Modbus endpoint needs either host (and port) or gateway"),
        ({"gateway": "gw-north", "port": 502}, "a station behind gateway 'gw-north' takes its port and framing from the gateway"),
        ({"gateway": "gw-north", "framing": "tcp"}, "takes its port and framing from the gateway"),
    ],
)
def test_endpoint_refuses(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ModbusEndpoint.model_validate({"profile": "p"} | fields)
    assert message in str(info.value), info.value


def test_endpoint_accepts() -> None:
    direct = ModbusEndpoint(host="10.0.0.7", profile="p")
    assert (direct.port, direct.framing, direct.device_id, direct.gateway) == (502, "tcp", 1, None)
    ModbusEndpoint(host="10.0.0.8", port=4001, framing="rtu_over_tcp", device_id=17, profile="p")
    behind = ModbusEndpoint(gateway="gw-north", device_id=12, timeout_s=0.5, profile="p")
    assert (behind.host, behind.device_id) == (None, 12)
    for bad in ({"framing": "rtu"}, {"device_id": 256}, {"timeout_s": 0}, {"port": 65536}):
        with pytest.raises(ValidationError):
            ModbusEndpoint.model_validate({"host": "h", "profile": "p"} | bad)
