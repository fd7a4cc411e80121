"""collector/modbus/probe.py: one read of a station with a profile, and a scan of unit ids,
against servers we did not write (pyModbusTCP, umodbus over TCP and on a virtual RS-485
line) and a scripted server for the replies those never send.

The CLI around these runs as a real process in tests/sitewatch/test_cli_modbus.py.
"""

from __future__ import annotations

import math

import pytest
from umodbus.exceptions import (
    GatewayPathUnavailableError,
    GatewayTargetDeviceFailedToRespondError,
)

from sitewatch.collector.errors import (
    DecodeError,
    DeviceRejected,
    DeviceTimeout,
    DeviceUnreachable,
)
from sitewatch.collector.modbus.client import Link, ModbusConnection
from sitewatch.collector.modbus.config import ModbusProfile, ModbusWorkarounds, RegisterSpec
from sitewatch.collector.modbus.probe import (
    ChannelReading,
    LinkLost,
    StationSilent,
    format_ids,
    format_probe,
    format_scan_summary,
    format_value,
    parse_ids,
    probe,
    scan,
)
from tests.servers import free_port

from .serial_line import RtuBridge, pty_pair, umodbus_rtu_server
from .servers import (
    HOST,
    Reply,
    Request,
    encode,
    encode_string,
    pymodbustcp_server,
    register_reply,
    scripted_server,
    umodbus_server,
)

TIMEOUT_S = 0.3


def _connection(port: int, framing: str = "tcp") -> ModbusConnection:
    return ModbusConnection(Link(framing, HOST, port, None, 2.0), name="test-probe")  # type: ignore[arg-type]


STATION = ModbusProfile(
    name="station",
    function="holding",
    registers=(
        RegisterSpec(channel="inlet_mpa", address=0, type="float32", unit="MPa"),
        RegisterSpec(channel="temperature_c", address=2, type="int16", unit="degC", scale=0.1),
        RegisterSpec(channel="door_open", address=10, type="uint16", bit=1, unit="state"),
        RegisterSpec(channel="run_mode", address=10, type="uint16", mask=0x0F00, unit="state"),
        RegisterSpec(channel="signal_csq", address=11, type="int8_low", unit="CSQ"),
        RegisterSpec(channel="missing_kpa", address=300, type="uint16", unit="kPa"),  # past the bank: exception 2
        RegisterSpec(channel="firmware", address=100, type="string", length_registers=4),
        RegisterSpec(channel="valve_open", address=0, table="coil", type="bool", unit="state"),
    ),
)
STATION_HOLDING = {
    **dict(enumerate(encode("float32", 1.23, byte_order="big", word_order="big"))),
    2: 0xFF85,  # -123 -> -12.3 degC
    10: 0x0302,  # door_open (bit 1) = 1, run_mode (bits 8-11) = 3
    11: 0x5AE2,  # low byte 0xE2 = -30
    **{100 + i: w for i, w in enumerate(encode_string("V1.2.3", 4))},
}


async def test_probe_reads_every_block_and_a_refused_one_keeps_its_error() -> None:
    with pymodbustcp_server(holding=STATION_HOLDING, coils={0: 1}, registers=200) as port:
        connection = _connection(port)
        try:
            readings = await probe(connection, STATION, device_id=1, timeout_s=TIMEOUT_S)
        finally:
            await connection.close()
    by_channel = {r.spec.channel: r for r in readings}
    assert [r.spec.channel for r in readings] == [
        "valve_open", "inlet_mpa", "temperature_c", "door_open", "run_mode", "signal_csq", "missing_kpa", "firmware",
    ], "coils first, then holding registers by address, strings last"
    assert by_channel["inlet_mpa"].words == (0x3F9D, 0x70A4)
    assert format_value(STATION.registers[0], by_channel["inlet_mpa"].value) == "1.23"
    assert by_channel["temperature_c"].value == pytest.approx(-12.3)
    assert (by_channel["door_open"].value, by_channel["run_mode"].value) == (1, 3)
    assert by_channel["door_open"].words == (0x0302,), "a bit shows the whole status word"
    assert by_channel["signal_csq"].value == -30
    assert by_channel["firmware"].value == "V1.2.3"
    assert by_channel["valve_open"].words == (1,) and by_channel["valve_open"].value == 1
    refused = by_channel["missing_kpa"]
    assert isinstance(refused.error, DeviceRejected) and refused.error.code == 2
    assert refused.words == () and refused.value is None
    assert all(r.error is None for r in readings if r is not refused)


def _short_reply(request: Request) -> Reply:
    return register_reply(request, [7] * (request.count - 1))


def _silent(request: Request) -> Reply:
    return Reply()


TWO_BLOCKS = ModbusProfile(
    name="two-blocks",
    registers=(
        RegisterSpec(channel="a_kpa", address=0, type="uint16", unit="kPa"),
        RegisterSpec(channel="b_kpa", address=1, type="uint16", unit="kPa"),
        RegisterSpec(channel="c_kpa", address=50, type="uint16", unit="kPa"),
    ),
    workarounds=ModbusWorkarounds(max_gap_registers=0),
)


async def test_a_malformed_block_and_a_silent_block_do_not_hide_the_others() -> None:
    # Some RTUs stay silent for an undefined block instead of answering exception 2: the
    # probe must show that block's silence next to the blocks that answer.
    async with scripted_server([_short_reply, _silent]) as server:
        connection = _connection(server.port)
        try:
            readings = await probe(connection, TWO_BLOCKS, device_id=1, timeout_s=TIMEOUT_S)
        finally:
            await connection.close()
    errors = {r.spec.channel: r.error for r in readings}
    assert isinstance(errors["a_kpa"], DecodeError) and isinstance(errors["b_kpa"], DecodeError)
    assert isinstance(errors["c_kpa"], DeviceTimeout)
    assert len(server.requests) == 2, "the block after a malformed one is still read"

    async with scripted_server([_silent]) as server:
        connection = _connection(server.port)
        try:
            readings = await probe(connection, TWO_BLOCKS, device_id=1, timeout_s=TIMEOUT_S)
        finally:
            await connection.close()
    assert [type(r.error) for r in readings] == [DeviceTimeout, DeviceTimeout, type(None)]
    assert readings[2].value == 1050, "a silent first block is no silent station: the next one answers"
    assert server.connections == 2, "the silence closed the connection; the next block opened another"


async def test_a_station_that_answers_nothing_is_silent_and_an_absent_host_unreachable() -> None:
    async with scripted_server([_silent, _silent]) as server:
        connection = _connection(server.port)
        try:
            with pytest.raises(StationSilent) as silent:
                await probe(connection, TWO_BLOCKS, device_id=1, timeout_s=TIMEOUT_S)
        finally:
            await connection.close()
    assert isinstance(silent.value.first, DeviceTimeout)
    connection = _connection(free_port())
    with pytest.raises(DeviceUnreachable, match="cannot connect"):
        await probe(connection, TWO_BLOCKS, device_id=1, timeout_s=TIMEOUT_S)


def test_probe_table_is_aligned_and_plain() -> None:
    float_spec, bits_spec, string_spec = (
        RegisterSpec(channel="inlet_mpa", address=0, type="float32", unit="MPa"),
        RegisterSpec(channel="run_mode", address=10, type="uint16", mask=0x0F00, unit="state"),
        RegisterSpec(channel="firmware", address=100, type="string", length_registers=2),
    )
    refusal = DeviceRejected(device_id="probe", code=2)
    text = format_probe([
        ChannelReading(float_spec, "holding", (0x3F9D, 0x70A4), 1.2300000190734863),
        ChannelReading(bits_spec, "holding", error=refusal),
        ChannelReading(string_spec, "holding", (0x5631, 0x2E32), "V1.2"),
    ])
    assert text.splitlines() == [
        "channel    table    address         raw            value                               unit",
        "inlet_mpa  holding  0-1             0x3F9D 0x70A4  1.23                                MPa",
        "run_mode   holding  10 mask 0x0F00  -              exception 2 (illegal data address)  state",
        "firmware   holding  100-101         0x5631 0x2E32  'V1.2'",
    ]


@pytest.mark.parametrize(("kind", "value", "scale", "shown"), [
    ("float32", 1.2300000190734863, 1.0, "1.23"),
    ("float32", -1234.5, 1.0, "-1234.5"),
    ("float32", 16777216.0, 1.0, "16777216.0"),
    ("float32", 3.4028234663852886e38, 1.0, "3.4028235e+38"),
    ("float32", 1.2300000190734863 * 0.001, 0.001, "0.00123"),  # scaled: still float32's precision
    ("float32", math.nan, 1.0, "nan"),
    ("float64", 0.1 + 0.2, 1.0, "0.30000000000000004"),  # a float64 keeps every digit it has
    ("int16", -123 * 0.1, 0.1, "-12.3"),
    ("uint16", 3 * 0.1, 0.1, "0.3"),
    ("uint32", 3000000000.0, 1.0, "3000000000"),
    ("uint64", float(2**63), 1.0, "9223372036854775808"),
])
def test_values_show_the_digits_they_hold(kind: str, value: float, scale: float, shown: str) -> None:
    spec = RegisterSpec(channel="x", address=0, type=kind, unit="kPa", scale=scale)  # type: ignore[arg-type]
    assert format_value(spec, value) == shown


def test_unit_ids_parse_as_ranges_and_lists() -> None:
    assert parse_ids("1-8,10") == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert parse_ids("7, 3,3-4") == [3, 4, 7]
    for bad, says in (("0-3", "broadcast"), ("5-2", "backwards"), ("1-x", "not a unit id"), ("256", "1-255")):
        with pytest.raises(ValueError, match=says):
            parse_ids(bad)
    assert format_ids([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7, 8"
    assert format_ids([]) == ""


async def test_scan_counts_a_gateways_exceptions_10_and_11_as_absent() -> None:
    # umodbus serves unit 1 and answers exception 2 to every other id, like a device that
    # ignores the unit id; unit 1's address 0 answers as a gateway whose RTU is gone.
    for error in (GatewayPathUnavailableError, GatewayTargetDeviceFailedToRespondError):
        with umodbus_server(values={5: 1}, unit=1, errors={0: error}) as port:
            connection = _connection(port)
            try:
                results = [r async for r in scan(connection, [1, 2], table="holding", address=0,
                                                 timeout_s=TIMEOUT_S)]
            finally:
                await connection.close()
        assert [(r.device_id, r.outcome) for r in results] == [(1, "silent"), (2, "refused")], error.__name__
        assert isinstance(results[1].error, DeviceRejected) and results[1].error.code == 2


async def test_scan_on_an_rs485_line_finds_exactly_the_units_there_and_stops_when_the_converter_dies() -> None:
    units = {2: {("holding", 0): 0x0102}, 5: {("holding", 9): 1}, 7: {("holding", 0): 7}}
    with pty_pair() as (device_end, master_end), umodbus_rtu_server(device_end, units=units) as line:
        async with RtuBridge(master_end) as bridge:
            connection = _connection(bridge.port, "rtu_over_tcp")
            try:
                results = [r async for r in scan(connection, range(1, 9), table="holding", address=0,
                                                 timeout_s=TIMEOUT_S)]
                assert [(r.device_id, r.outcome, r.words) for r in results if r.outcome != "silent"] == [
                    (2, "data", (0x0102,)), (5, "refused", ()), (7, "data", (7,))]
                assert format_scan_summary(results) == "answering: 2, 5, 7 (3 of 8)\nsilent: 5"
                assert [unit for unit, _ in line.requests] == list(range(1, 9)), "one request per id, in turn"

                found = []
                with pytest.raises(LinkLost) as lost:
                    async for result in scan(connection, [2, 3, 4], table="holding", address=0,
                                             timeout_s=TIMEOUT_S):
                        found.append(result)
                        await bridge.stop()  # the converter dies after the first answer
            finally:
                await connection.close()
    # Whether the loss shows before unit 3 is asked (then nothing more is) or as unit 3's
    # silence depends on when the closed socket is noticed; unit 4 is never asked either way.
    assert found[0].outcome == "data" and all(r.outcome == "silent" for r in found[1:])
    assert [r.device_id for r in found] in ([2], [2, 3])
    assert lost.value.after == found[-1].device_id and "cannot connect" in lost.value.error.message
