"""Issue 13 acceptance: the product's ModbusPoller reads one profile mixing every table and
every new type from servers we did not write, each reached the way the product reaches it:

- pyModbusTCP and umodbus over Modbus TCP (a station with its own address);
- umodbus' RTU server on a socat serial line, read through a ``modbus_gateway`` of framing
  "rtu" (the product opens the line itself);
- the same RTU server through a transparent TCP converter (RtuBridge), framing
  "rtu_over_tcp".

The registers the servers hold are built by hand (``encode``, ``encode_string``, shifts and
masks below), not by our decoder, and the expected values from the same Python numbers.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from sitewatch.collector.modbus.client import Link, ModbusClient, ModbusConnections
from sitewatch.collector.modbus.config import (
    ModbusEndpoint,
    ModbusGateway,
    ModbusProfile,
    RegisterSpec,
    SerialLine,
)
from sitewatch.collector.modbus.poller import ModbusPoller
from sitewatch.domain.samples import Quality

from .peer_tools import umodbus_tcp_tables
from .serial_line import RtuBridge, Table, pty_pair, umodbus_rtu_server
from .servers import HOST, encode, encode_string, pymodbustcp_server

TS = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)
ASSET = "rs-types-01"
BAUDRATE = 115200  # the RTU devices' end-of-frame silence: 0.3 ms (at 9600 it is 4 ms a reply)
ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]

# Every byte different, below 2**53 (exact as a float), so a swapped byte or word shows.
INT64 = -0x0011223344556677
UINT64 = 0xF0E1D2C3B4A59800  # above 2**63: read as signed it would come out negative
FLOAT64 = -27182818284.59045
STATUS_WORD = 0xA5C3  # bits 0..15, one channel each
MASKED_WORD = 0x8B68  # bits 8-11 = 0xB, bits 4-7 = 0x6, bits 2-3 = 0b10, bit 0 = 0, bit 15 = 1
BYTES_A = (-100, 200)  # int8_high, uint8_low of one register
BYTES_B = (241, -123)  # uint8_high, int8_low of the next
COILS = [1, 0, 1, 1, 0, 0, 1, 0, 0, 0]
DISCRETE = [0, 1, 0, 1, 1, 0]
FIRMWARE, MODEL, SERIAL = "RTU-X 2.14.7", "GW-485", "SN0042-77"


def _byte(value: int) -> int:
    return value & 0xFF


def _mixed() -> tuple[ModbusProfile, dict[tuple[Table, int], int], dict[str, float], dict[str, str]]:
    """One profile over coils, discrete inputs, input and holding registers with every type;
    the tables a server must hold for it (dense: reads span the unused addresses between
    channels); the value of each channel; the strings for the inventory.

    The profile's own orders are little/little, so registers that name none decode that way
    (and bytes and bits of a register, which byte order does not touch, must not).
    """
    specs: list[RegisterSpec] = []
    tables: dict[tuple[Table, int], int] = {}
    expected: dict[str, float] = {}

    def put(table: Table, address: int, words: list[int]) -> None:
        for i, word in enumerate(words):
            tables[(table, address + i)] = word

    def add(spec: RegisterSpec, value: float) -> None:
        specs.append(spec)
        expected[spec.channel] = value * spec.scale + spec.offset

    # Holding 0-47: the 64-bit types in every byte and word order; 48-51 one with the profile's.
    address = 0
    for kind, value, scale, offset in (("int64", INT64, 0.5, -3.0), ("uint64", UINT64, 1.0, 0.0),
                                       ("float64", FLOAT64, 1.0, 0.0)):
        for byte_order, word_order in ORDERS:
            add(RegisterSpec(channel=f"{kind}_{byte_order[0]}{word_order[0]}", address=address, type=kind,
                             unit="Nm3", scale=scale, offset=offset, byte_order=byte_order, word_order=word_order),
                value)
            put("holding", address, encode(kind, value, byte_order=byte_order, word_order=word_order))
            address += 4
    add(RegisterSpec(channel="energy_kwh", address=48, type="float64", unit="kWh"), FLOAT64)
    put("holding", 48, encode("float64", FLOAT64, byte_order="little", word_order="little"))
    # Holding 52-53: bytes of a register, high = the first on the wire.
    add(RegisterSpec(channel="pressure_dev", address=52, type="int8_high", unit="kPa"), BYTES_A[0])
    add(RegisterSpec(channel="battery_pct", address=52, type="uint8_low", unit="%"), BYTES_A[1])
    add(RegisterSpec(channel="signal_csq", address=53, type="uint8_high", unit="CSQ"), BYTES_B[0])
    add(RegisterSpec(channel="temp_offset", address=53, type="int8_low", unit="degC", scale=0.5), BYTES_B[1])
    put("holding", 52, [_byte(BYTES_A[0]) << 8 | _byte(BYTES_A[1]), _byte(BYTES_B[0]) << 8 | _byte(BYTES_B[1])])
    # Holding 54: a status word, one channel per bit.
    for bit in range(16):
        add(RegisterSpec(channel=f"status_b{bit:02d}", address=54, type="uint16", bit=bit, unit="state"),
            STATUS_WORD >> bit & 1)
    put("holding", 54, [STATUS_WORD])
    # Holding 55: masks (default and explicit shift), an inverted bit, an inverted one-bit mask.
    add(RegisterSpec(channel="run_mode", address=55, type="uint16", mask=0x0F00, unit="state"), 0xB)
    add(RegisterSpec(channel="valve_step", address=55, type="uint16", mask=0x00F0, shift=4, unit="state"), 0x6)
    # shift 1 below the mask's lowest bit (2): the field comes out doubled, 0b10 -> 4.
    add(RegisterSpec(channel="pair_x2", address=55, type="uint16", mask=0x000C, shift=1, unit="state"), 4)
    add(RegisterSpec(channel="fuse_ok", address=55, type="uint16", bit=0, invert=True, unit="state"), 1)
    add(RegisterSpec(channel="heater_ok", address=55, type="uint16", mask=0x8000, invert=True, unit="state"), 0)
    put("holding", 55, [MASKED_WORD])
    # Input 0-4: 16- and 32-bit types in the profile's orders, and one word order of its own.
    add(RegisterSpec(channel="temperature_c", address=0, table="input", type="int16", unit="degC", scale=0.1), -215)
    put("input", 0, encode("int16", -215, byte_order="little", word_order="little"))
    float32 = struct.unpack(">f", struct.pack(">f", 0.4))[0]
    add(RegisterSpec(channel="inlet_mpa", address=1, table="input", type="float32", unit="MPa"), float32)
    put("input", 1, encode("float32", 0.4, byte_order="little", word_order="little"))
    add(RegisterSpec(channel="flow_nm3h", address=3, table="input", type="uint32", unit="Nm3/h", scale=0.01,
                     word_order="big"), 3_000_000_123)
    put("input", 3, encode("uint32", 3_000_000_123, byte_order="little", word_order="big"))
    # Coils 0-9 and discrete inputs 0-5, some active-low.
    for name, table, bit, invert, bits in (("valve_open", "coil", 0, False, COILS),
                                           ("vent_closed_n", "coil", 3, True, COILS),
                                           ("pump_on", "coil", 9, False, COILS),
                                           ("relief_open", "discrete", 1, False, DISCRETE),
                                           ("door_closed_n", "discrete", 3, True, DISCRETE),
                                           ("flood", "discrete", 5, False, DISCRETE)):
        add(RegisterSpec(channel=name, address=bit, table=table, type="bool", invert=invert, unit="state"),
            1 - bits[bit] if invert else bits[bit])
    put("coil", 0, COILS)
    put("discrete", 0, DISCRETE)
    # Strings: the firmware high byte first, the others in the profile's (little) byte order.
    specs += [RegisterSpec(channel="firmware", address=100, type="string", length_registers=8, byte_order="big"),
              RegisterSpec(channel="model", address=108, type="string", length_registers=4),
              RegisterSpec(channel="serial_number", address=200, table="input", type="string", length_registers=6)]
    put("holding", 100, encode_string(FIRMWARE, 8))
    put("holding", 108, encode_string(MODEL, 4, "little", pad=b" "))
    put("input", 200, encode_string(SERIAL, 6, "little", pad=b" "))
    # Fill the holes: umodbus refuses a read that spans an address it does not hold.
    for table in ("holding", "input"):
        for hole in range(max(a for t, a in tables if t == table)):
            tables.setdefault((table, hole), 0)
    profile = ModbusProfile(name="mixed", function="holding", byte_order="little", word_order="little",
                            registers=tuple(specs))
    return profile, tables, expected, {"firmware": FIRMWARE, "model": MODEL, "serial_number": SERIAL}


PROFILE, TABLES, EXPECTED, STRINGS = _mixed()
# Another unit on the same serial line holding other values: a reply from it would show.
OTHER_UNIT = {key: 0 if key[0] in ("coil", "discrete") else 0x5A5A for key in TABLES}


def _station(device_id: int, **where: object) -> ModbusEndpoint:
    return ModbusEndpoint(device_id=device_id, profile=PROFILE.name, timeout_s=1.0, **where)  # type: ignore[arg-type]


def _poller(endpoint: ModbusEndpoint, gateway: ModbusGateway | None = None) -> ModbusPoller:
    """As sitewatch/jobs.py builds it: a station behind a gateway uses the gateway's link."""
    connection = None
    if gateway is not None:
        connection = ModbusConnections().get(Link.of_gateway(gateway), name="gw-test")
    client = ModbusClient(endpoint=endpoint, asset_id=ASSET, connection=connection)
    return ModbusPoller(asset_id=ASSET, endpoint=endpoint, profile=PROFILE, client=client)


def _split(tables: dict[tuple[Table, int], int]) -> dict[str, dict[int, int]]:
    by_table: dict[str, dict[int, int]] = {"holding": {}, "inputs": {}, "coils": {}, "discrete_inputs": {}}
    names = {"holding": "holding", "input": "inputs", "coil": "coils", "discrete": "discrete_inputs"}
    for (table, address), value in tables.items():
        by_table[names[table]][address] = value
    return by_table


@contextlib.asynccontextmanager
async def _pymodbustcp() -> AsyncIterator[ModbusPoller]:
    with pymodbustcp_server(**_split(TABLES)) as port:
        yield _poller(_station(1, host=HOST, port=port))


@contextlib.asynccontextmanager
async def _umodbus_tcp() -> AsyncIterator[ModbusPoller]:
    with umodbus_tcp_tables({7: TABLES, 8: OTHER_UNIT}) as (port, _):
        yield _poller(_station(7, host=HOST, port=port))


@contextlib.asynccontextmanager
async def _umodbus_rtu_serial() -> AsyncIterator[ModbusPoller]:
    with pty_pair() as (device_end, our_end), \
            umodbus_rtu_server(device_end, units={5: TABLES, 6: OTHER_UNIT}, baudrate=BAUDRATE):
        line = SerialLine(device=our_end, baudrate=BAUDRATE)
        yield _poller(_station(5, gateway="gw-test"), ModbusGateway(framing="rtu", serial=line))


@contextlib.asynccontextmanager
async def _umodbus_rtu_over_tcp() -> AsyncIterator[ModbusPoller]:
    with pty_pair() as (device_end, converter_end), \
            umodbus_rtu_server(device_end, units={5: TABLES, 6: OTHER_UNIT}, baudrate=BAUDRATE):
        async with RtuBridge(converter_end, baudrate=BAUDRATE) as bridge:
            gateway = ModbusGateway(framing="rtu_over_tcp", host=HOST, port=bridge.port)
            yield _poller(_station(5, gateway="gw-test"), gateway)


PEERS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[ModbusPoller]]] = {
    "pyModbusTCP": _pymodbustcp,
    "umodbus-tcp": _umodbus_tcp,
    "umodbus-rtu-serial": _umodbus_rtu_serial,
    "umodbus-rtu-over-tcp": _umodbus_rtu_over_tcp,
}


def test_the_profile_mixes_every_table_and_type() -> None:
    # The test's own premise: if the profile lost a table or type, the peers would prove less.
    tables = {PROFILE.table_of(r) for r in PROFILE.registers}
    types = {r.type for r in PROFILE.registers}
    assert tables == {"coil", "discrete", "input", "holding"}
    assert {"int64", "uint64", "float64", "int8_high", "int8_low", "uint8_high", "uint8_low", "string",
            "bool"} <= types
    assert sorted(r.bit for r in PROFILE.registers if r.address == 54 and r.table is None) == list(range(16))


@pytest.mark.parametrize("peer", list(PEERS))
async def test_every_type_and_table_decodes_from_a_peer(peer: str) -> None:
    async with PEERS[peer]() as poller:
        try:
            result = await poller.poll(TS)
        finally:
            await poller.close()
    assert result.errors == (), f"{peer}: {[str(e) for e in result.errors]}"
    got = {s.channel: s.value for s in result.samples}
    wrong = {channel: (got.get(channel), value) for channel, value in EXPECTED.items() if got.get(channel) != value}
    assert not wrong, f"{peer}: channel: (decoded, expected): {wrong}"
    assert set(got) == set(EXPECTED), f"{peer}: channels not expected: {set(got) - set(EXPECTED)}"
    assert all(s.quality is Quality.GOOD and s.ts == TS and s.asset_id == ASSET for s in result.samples)
    units = {r.channel: r.unit for r in PROFILE.registers if r.unit is not None}
    assert {s.channel: s.unit for s in result.samples} == units
    assert poller.reported == STRINGS, f"{peer}: strings for the inventory"
