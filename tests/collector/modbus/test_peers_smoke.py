"""The test peers themselves, checked with pymodbus' own clients (not ours, which they exist
to test): RTU devices on a virtual serial line, the same line through a transparent TCP
converter, coils and discrete inputs on the TCP servers, and the register encoders."""

from __future__ import annotations

import struct
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from pymodbus import FramerType
from pymodbus.client import (
    AsyncModbusSerialClient,
    AsyncModbusTcpClient,
    ModbusTcpClient,
)
from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse

from .serial_line import (
    BAUDRATE,
    BridgeThread,
    RtuBridge,
    RtuDevices,
    Table,
    pty_pair,
    umodbus_rtu_server,
)
from .servers import HOST, encode, encode_string, pymodbustcp_server, umodbus_server

# Replies take ~5 ms; the timeout only has to be short for the absent unit's sake.
TIMEOUT_S = 0.3
UNITS = (1, 2, 3, 17, 42, 100, 200, 247)
ABSENT_UNIT = 99
DATATYPE = ModbusClientMixin.DATATYPE


def _unit_values(unit: int) -> dict[tuple[Table, int], int]:
    """Different values for each unit, so that a reply from the wrong unit shows."""
    values: dict[tuple[Table, int], int] = {}
    for address in range(4):
        values[("holding", address)] = unit * 100 + address
        values[("input", address)] = 65535 - unit * 100 - address  # above 32767: unsigned on the wire
    for address in range(8):
        values[("coil", address)] = unit >> address & 1
        values[("discrete", address)] = ~unit >> address & 1
    return values


def _bits(unit: int, invert: bool = False) -> list[bool]:
    return [bool((~unit if invert else unit) >> address & 1) for address in range(8)]


@pytest.fixture
def line() -> Iterator[tuple[str, str]]:
    with pty_pair() as ends:
        yield ends


@pytest.fixture
def devices(line: tuple[str, str]) -> Iterator[RtuDevices]:
    with umodbus_rtu_server(line[0], units={unit: _unit_values(unit) for unit in UNITS}) as state:
        yield state


@pytest.fixture
async def serial_client(line: tuple[str, str], devices: RtuDevices) -> AsyncIterator[AsyncModbusSerialClient]:
    client = AsyncModbusSerialClient(line[1], framer=FramerType.RTU, baudrate=BAUDRATE, timeout=TIMEOUT_S, retries=0)
    assert await client.connect(), f"cannot open {line[1]}"
    yield client
    client.close()


@pytest.fixture
async def bridge(line: tuple[str, str], devices: RtuDevices) -> AsyncIterator[RtuBridge]:
    async with RtuBridge(line[1]) as converter:
        yield converter


async def _tcp_client(port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(HOST, port=port, framer=FramerType.RTU, timeout=TIMEOUT_S, retries=0)
    assert await client.connect(), f"cannot connect to the bridge on {port}"
    return client


async def _assert_every_unit_answers(client: AsyncModbusSerialClient | AsyncModbusTcpClient) -> None:
    for unit in UNITS:
        holding = await client.read_holding_registers(0, count=4, device_id=unit)
        inputs = await client.read_input_registers(0, count=4, device_id=unit)
        coils = await client.read_coils(0, count=8, device_id=unit)
        discrete = await client.read_discrete_inputs(0, count=8, device_id=unit)
        assert holding.registers == [unit * 100 + a for a in range(4)], f"unit {unit}: {holding}"
        assert inputs.registers == [65535 - unit * 100 - a for a in range(4)], f"unit {unit}: {inputs}"
        assert coils.bits[:8] == _bits(unit), f"unit {unit}: {coils}"
        assert discrete.bits[:8] == _bits(unit, invert=True), f"unit {unit}: {discrete}"


async def _assert_silent(client: AsyncModbusSerialClient | AsyncModbusTcpClient, unit: int) -> None:
    started = time.monotonic()
    with pytest.raises(ModbusIOException):
        await client.read_holding_registers(0, count=1, device_id=unit)
    assert time.monotonic() - started >= TIMEOUT_S * 0.9, "failed before the timeout: not a silent device"


# --- on the serial line ----------------------------------------------------------------------


async def test_serial_client_reads_every_table_of_eight_units(
    serial_client: AsyncModbusSerialClient, devices: RtuDevices
) -> None:
    await _assert_every_unit_answers(serial_client)
    assert {unit for unit, _ in devices.requests} == set(UNITS)
    assert {code for _, code in devices.requests} == {1, 2, 3, 4}


async def test_absent_unit_is_heard_but_never_answered(
    serial_client: AsyncModbusSerialClient, devices: RtuDevices
) -> None:
    await _assert_silent(serial_client, ABSENT_UNIT)
    assert (ABSENT_UNIT, 3) in devices.requests, "the request never reached the line"
    reply = await serial_client.read_holding_registers(0, count=1, device_id=UNITS[0])
    assert reply.registers == [UNITS[0] * 100], "the line is unusable after a silent unit"


async def test_address_a_unit_lacks_answers_exception_2(serial_client: AsyncModbusSerialClient) -> None:
    reply = await serial_client.read_holding_registers(3, count=2, device_id=UNITS[0])  # 3 is there, 4 is not
    assert isinstance(reply, ExceptionResponse) and reply.exception_code == 2, reply


async def test_values_change_and_units_unplug_while_serving(
    serial_client: AsyncModbusSerialClient, devices: RtuDevices
) -> None:
    devices.set(2, {("holding", 0): 4242, ("coil", 0): 1})
    assert (await serial_client.read_holding_registers(0, count=1, device_id=2)).registers == [4242]
    assert (await serial_client.read_coils(0, count=1, device_id=2)).bits[0] is True
    devices.remove(2)
    await _assert_silent(serial_client, 2)
    with pytest.raises(ValueError, match="cannot hold 70000"):
        devices.set(3, {("holding", 0): 70000})


# --- through the converter -------------------------------------------------------------------


async def test_tcp_client_reads_every_unit_through_the_bridge(bridge: RtuBridge) -> None:
    client = await _tcp_client(bridge.port)
    try:
        await _assert_every_unit_answers(client)
        await _assert_silent(client, ABSENT_UNIT)
        assert (await client.read_holding_registers(1, count=1, device_id=247)).registers == [24701]
    finally:
        client.close()


async def test_a_dead_bridge_refuses_connections_until_it_starts_again(bridge: RtuBridge) -> None:
    client = await _tcp_client(bridge.port)
    await bridge.stop()
    late = AsyncModbusTcpClient(HOST, port=bridge.port, framer=FramerType.RTU, timeout=TIMEOUT_S, retries=0)
    try:
        with pytest.raises(ModbusException):  # the connection was dropped
            await client.read_holding_registers(0, count=1, device_id=1)
        assert not await late.connect(), "connected to a stopped bridge"
        await bridge.start()
        assert await late.connect(), "the restarted bridge refuses connections"
        assert (await late.read_holding_registers(0, count=1, device_id=1)).registers == [100]
    finally:
        client.close()
        late.close()


def test_bridge_in_a_thread_serves_a_sync_client(line: tuple[str, str], devices: RtuDevices) -> None:
    with BridgeThread(line[1]) as bridge:
        client = ModbusTcpClient(HOST, port=bridge.port, framer=FramerType.RTU, timeout=TIMEOUT_S, retries=0)
        try:
            assert client.connect()
            assert client.read_input_registers(2, count=2, device_id=42).registers == [65535 - 4202, 65535 - 4203]
            client.close()
            bridge.stop()
            assert not client.connect(), "connected to a stopped bridge"
            bridge.start()
            assert client.connect()
            assert client.read_coils(0, count=8, device_id=17).bits[:8] == _bits(17)
        finally:
            client.close()


# --- the TCP servers' bits -------------------------------------------------------------------

COILS = {0: 1, 1: 0, 2: 1, 9: 1}
DISCRETE = {0: 0, 1: 1, 2: 1, 9: 0}


@pytest.mark.parametrize("server", ["pyModbusTCP", "umodbus"])
async def test_tcp_servers_serve_coils_and_discrete_inputs(server: str) -> None:
    serve = pymodbustcp_server if server == "pyModbusTCP" else umodbus_server
    with serve(coils=COILS, discrete_inputs=DISCRETE) as port:
        client = AsyncModbusTcpClient(HOST, port=port, timeout=2.0, retries=0)
        try:
            assert await client.connect()
            coils = await client.read_coils(0, count=3, device_id=1)
            discrete = await client.read_discrete_inputs(0, count=3, device_id=1)
            far = await client.read_coils(9, count=1, device_id=1)
        finally:
            client.close()
    assert coils.bits[:3] == [True, False, True], f"{server}: {coils}"
    assert discrete.bits[:3] == [False, True, True], f"{server}: {discrete}"
    assert far.bits[0] is True, f"{server}: {far}"


def test_bits_other_than_0_and_1_are_refused() -> None:
    with pytest.raises(ValueError, match="coils take 0 or 1"), pymodbustcp_server(coils={0: 2}):
        pass


# --- encoders ----------------------------------------------------------------------------------


def test_64_bit_word_order_little_puts_the_least_significant_word_first() -> None:
    value = 0x0102030405060708
    assert encode("uint64", value, byte_order="big", word_order="big") == [0x0102, 0x0304, 0x0506, 0x0708]
    assert encode("uint64", value, byte_order="big", word_order="little") == [0x0708, 0x0506, 0x0304, 0x0102]
    assert encode("uint64", value, byte_order="little", word_order="little") == [0x0807, 0x0605, 0x0403, 0x0201]


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize(("kind", "value"), [("int64", -1234567890123456789), ("uint64", 2**64 - 3),
                                             ("float64", -1234.5678901234)])
def test_64_bit_encoding_agrees_with_pymodbus(kind: str, value: float, word_order: str) -> None:
    registers = encode(kind, value, byte_order="big", word_order=word_order)
    decoded = ModbusClientMixin.convert_from_registers(registers, DATATYPE[kind.upper()], word_order=word_order)
    assert decoded == value, f"{kind} {word_order}: {registers} -> {decoded}"
    swapped = encode(kind, value, byte_order="little", word_order=word_order)
    assert swapped == [struct.unpack("<H", struct.pack(">H", r))[0] for r in registers]


def test_strings_two_characters_a_register() -> None:
    registers = encode_string("RS-01A", 4)
    assert registers == [0x5253, 0x2D30, 0x3141, 0x0000]
    assert ModbusClientMixin.convert_from_registers(registers, DATATYPE.STRING) == "RS-01A"
    assert encode_string("RS-01A", 4, "little") == [0x5352, 0x302D, 0x4131, 0x0000]
    assert encode_string("AB", 2, pad=b" ") == [0x4142, 0x2020]
    with pytest.raises(ValueError, match="needs 3 registers"):
        encode_string("RS-01", 2)
