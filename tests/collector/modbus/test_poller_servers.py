"""ModbusPoller against Modbus servers we did not write: pyModbusTCP and umodbus."""

from __future__ import annotations

import contextlib
import math
import struct
import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from umodbus.exceptions import (
    GatewayPathUnavailableError,
    GatewayTargetDeviceFailedToRespondError,
    ModbusError,
    ServerDeviceBusyError,
)

from sitewatch.collector.errors import CollectorError, DeviceBusy, DeviceRejected, DeviceTimeout, DeviceUnreachable
from sitewatch.collector.modbus.client import ModbusClient
from sitewatch.collector.modbus.config import ModbusEndpoint, ModbusProfile, ModbusWorkarounds, RegisterSpec
from sitewatch.collector.modbus.poller import ModbusPoller
from sitewatch.domain.samples import Quality, Sample
from tests.servers import free_port

from .servers import HOST, encode, pymodbustcp_server, umodbus_server

TS = datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)
EXAMPLE_CONFIG = Path(__file__).resolve().parents[3] / "deploy" / "sitewatch.example.toml"

# One value per type; negative where the type allows, 32-bit values above 2**16.
VALUES = {"int16": -12345, "uint16": 54321, "int32": -123456789, "uint32": 3000000000, "float32": -1234.5}
ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]


def _every_type_and_order(function: str) -> tuple[ModbusProfile, dict[int, int], dict[str, float]]:
    """A profile with every type x byte order x word order, the server's registers for it, and
    the values the poller must report (``raw * scale + offset``)."""
    specs: list[RegisterSpec] = []
    registers: dict[int, int] = {}
    expected: dict[str, float] = {}
    address = 0
    for kind, value in VALUES.items():
        for byte_order, word_order in ORDERS:
            channel = f"{kind}_{byte_order[0]}{word_order[0]}"
            scale, offset = (0.01, -5.0) if kind == "int32" else (1.0, 0.0)
            spec = RegisterSpec(
                channel=channel,
                address=address,
                type=kind,
                unit="kPa",
                scale=scale,
                offset=offset,
                byte_order=byte_order,
                word_order=word_order,
            )
            specs.append(spec)
            for i, word in enumerate(encode(kind, value, byte_order=byte_order, word_order=word_order)):
                registers[address + i] = word
            expected[channel] = value * scale + offset
            address += spec.width
    # A NaN float ("no reading" on many RTUs), high word first.
    specs.append(RegisterSpec(channel="no_reading", address=address, type="float32", unit="MPa"))
    registers.update({address: 0x7FC0, address + 1: 0x0000})
    profile = ModbusProfile(name="every-type", function=function, registers=tuple(specs))
    return profile, registers, expected


@contextlib.contextmanager
def _pymodbustcp(function: str, registers: dict[int, int]) -> Iterator[int]:
    bank = {"holding": registers} if function == "holding" else {"inputs": registers}
    with pymodbustcp_server(**bank) as port:
        yield port


@contextlib.contextmanager
def _umodbus(function: str, registers: dict[int, int]) -> Iterator[int]:
    with umodbus_server(values=registers, function_code={"holding": 3, "input": 4}[function], unit=7) as port:
        yield port


SERVERS = {"pyModbusTCP": (_pymodbustcp, 1), "umodbus": (_umodbus, 7)}  # server, unit id it answers


def _poller(profile: ModbusProfile, port: int, *, device_id: int = 1, timeout_s: float = 2.0) -> ModbusPoller:
    endpoint = ModbusEndpoint(host=HOST, port=port, device_id=device_id, profile=profile.name, timeout_s=timeout_s)
    return ModbusPoller(asset_id="rs-test-01", endpoint=endpoint, profile=profile)


def _by_channel(samples: tuple[Sample, ...]) -> dict[str, Sample]:
    return {s.channel: s for s in samples}


@pytest.mark.parametrize("function", ["holding", "input"])
@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_every_type_and_order_decodes_exactly(server: str, function: str) -> None:
    profile, registers, expected = _every_type_and_order(function)
    serve, unit = SERVERS[server]
    with serve(function, registers) as port:
        poller = _poller(profile, port, device_id=unit)
        try:
            result = await poller.poll(TS)
        finally:
            await poller.close()
    assert result.errors == ()
    samples = _by_channel(result.samples)
    assert set(samples) == {r.channel for r in profile.registers}
    for channel, value in expected.items():
        sample = samples[channel]
        assert (sample.value, sample.unit, sample.quality) == (value, "kPa", Quality.GOOD), f"{server} {channel}"
        assert (sample.asset_id, sample.ts) == ("rs-test-01", TS)
    assert math.isnan(samples["no_reading"].value)
    assert (samples["no_reading"].unit, samples["no_reading"].quality) == ("MPa", Quality.GOOD)


async def test_regulator_v1_profile_against_pymodbustcp() -> None:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    (profile,) = [ModbusProfile.model_validate(p) for p in raw["modbus_profiles"] if p["name"] == "regulator-v1"]
    inlet = struct.unpack(">HH", struct.pack(">f", 0.4))  # MPa
    outlet = struct.unpack(">HH", struct.pack(">f", 2.5))  # kPa
    words = [*inlet, *outlet, 0x0001, 0xE240, 0xFF29, 250, 300, 1, 0, 1, 1, 1310, 0xDEAD, 0xBEEF, 0x0001, 0x0002]
    with pymodbustcp_server(holding=dict(enumerate(words))) as port:
        poller = _poller(profile, port)
        try:
            result = await poller.poll(TS)
        finally:
            await poller.close()
    got = {s.channel: (s.value, s.unit) for s in result.samples}
    assert got == {
        "inlet_mpa": (struct.unpack(">f", struct.pack(">f", 0.4))[0], "MPa"),
        "outlet_kpa": (2.5, "kPa"),
        "flow_nm3h": (123456 * 0.01, "Nm3/h"),
        "temperature_c": (-215 * 0.1, "degC"),
        "filter_dp_kpa": (250 * 0.01, "kPa"),
        "gas_lel_pct": (300 * 0.1, "%LEL"),
        "slam_shut_closed": (1.0, "state"),
        "relief_open": (0.0, "state"),
        "door_open": (1.0, "state"),
        "mains_ok": (1.0, "state"),
        "battery_v": (1310 * 0.01, "V"),
        "uptime_s": (65538.0, "s"),
    }
    assert all(s.quality is Quality.GOOD for s in result.samples)


# --- exception responses ------------------------------------------------------------------


def _two_block_profile() -> ModbusProfile:
    # max_gap_registers=0 keeps these apart: block 0-1 and block 8-9.
    return ModbusProfile(
        name="two-blocks",
        registers=(
            RegisterSpec(channel="outlet_kpa", address=0, type="float32", unit="kPa"),
            RegisterSpec(channel="flow_nm3h", address=8, type="uint32", unit="Nm3/h"),
        ),
        workarounds=ModbusWorkarounds(max_gap_registers=0),
    )


async def test_read_past_the_end_is_rejected_and_the_good_block_still_reports() -> None:
    profile = _two_block_profile()
    # A 9-register bank: 0-1 exist, 8-9 runs past the end -> exception 2.
    with pymodbustcp_server(holding={0: 0x4020, 1: 0x0000}, registers=9) as port:
        poller = _poller(profile, port)
        try:
            result = await poller.poll(TS)
            second = await poller.poll(TS + timedelta(seconds=5))  # the connection is still usable
        finally:
            await poller.close()
    samples = _by_channel(result.samples)
    assert (samples["outlet_kpa"].value, samples["outlet_kpa"].quality) == (2.5, Quality.GOOD)
    flow = samples["flow_nm3h"]
    assert math.isnan(flow.value) and flow.quality is Quality.COMM_ERROR and flow.unit == "Nm3/h"
    (error,) = result.errors
    assert isinstance(error, DeviceRejected), f"expected DeviceRejected, got {error!r}"
    assert error.code == 2
    assert error.device_id == "rs-test-01"
    assert "exception 2 (illegal data address)" in str(error)
    assert "holding registers 8-9" in str(error)
    assert _by_channel(second.samples)["outlet_kpa"].quality is Quality.GOOD


async def test_a_rejected_block_in_the_middle_does_not_stop_the_next_one() -> None:
    profile = ModbusProfile(
        name="three-blocks",
        registers=(
            RegisterSpec(channel="a", address=0, type="uint16", unit="V"),
            RegisterSpec(channel="b", address=5, type="uint16", unit="V"),
            RegisterSpec(channel="c", address=9, type="uint16", unit="V"),
        ),
        workarounds=ModbusWorkarounds(max_gap_registers=0),
    )
    # umodbus answers exception 2 for the unrouted address 5.
    with umodbus_server(values={0: 11, 9: 33}) as port:
        poller = _poller(profile, port)
        try:
            result = await poller.poll(TS)
        finally:
            await poller.close()
    assert [(s.channel, s.quality) for s in result.samples] == [
        ("a", Quality.GOOD),
        ("b", Quality.COMM_ERROR),
        ("c", Quality.GOOD),
    ]
    assert [s.value for s in result.samples if s.is_good] == [11, 33]
    assert [(type(e), e.code) for e in result.errors] == [(DeviceRejected, 2)]


@pytest.mark.parametrize(
    ("modbus_error", "raised"),
    [
        (ServerDeviceBusyError, DeviceBusy),  # code 6: retry later, the scheduler backs off
        (GatewayPathUnavailableError, DeviceUnreachable),  # code 10: gateway cannot reach the RTU
        (GatewayTargetDeviceFailedToRespondError, DeviceTimeout),  # code 11: RTU silent behind it
    ],
)
async def test_whole_device_exceptions_are_raised(
    modbus_error: type[ModbusError], raised: type[CollectorError]
) -> None:
    profile = _two_block_profile()
    with umodbus_server(values={0: 1, 1: 2}, errors={8: modbus_error, 9: modbus_error}) as port:
        poller = _poller(profile, port)
        try:
            with pytest.raises(raised) as info:
                await poller.poll(TS)
        finally:
            await poller.close()
    assert f"exception {modbus_error.error_code} (" in str(info.value)


# --- connection loss and reconnect ----------------------------------------------------------


async def test_server_stopped_then_restarted_on_the_same_port() -> None:
    profile = ModbusProfile(name="one", registers=(RegisterSpec(channel="v", address=0, type="uint16", unit="V"),))
    port = free_port()
    poller = _poller(profile, port)
    try:
        with umodbus_server(values={0: 230}, port=port):
            first = await poller.poll(TS)
        # The server is gone and has dropped our connection, like a rebooting RTU.
        with pytest.raises(DeviceUnreachable) as info:
            await poller.poll(TS)
        assert info.value.device_id == "rs-test-01" and f"{HOST}:{port}" in str(info.value)
        with umodbus_server(values={0: 231}, port=port):
            second = await poller.poll(TS)
    finally:
        await poller.close()
    assert [(s.value, s.quality) for s in first.samples] == [(230, Quality.GOOD)]
    assert [(s.value, s.quality) for s in second.samples] == [(231, Quality.GOOD)]


async def test_nothing_listening_is_unreachable() -> None:
    profile = ModbusProfile(name="one", registers=(RegisterSpec(channel="v", address=0, type="uint16", unit="V"),))
    poller = _poller(profile, free_port())
    try:
        with pytest.raises(DeviceUnreachable, match="cannot connect"):
            await poller.poll(TS)
    finally:
        await poller.close()


def test_construction_does_no_io_and_needs_no_loop() -> None:
    # No event loop runs in this test and nothing listens on the port.
    profile = _two_block_profile()
    endpoint = ModbusEndpoint(host=HOST, port=free_port(), profile=profile.name)
    client = ModbusClient(endpoint=endpoint, asset_id="rs-test-01")
    poller = ModbusPoller(asset_id="rs-test-01", endpoint=endpoint, profile=profile, client=client)
    assert not client.connected
    assert dict(poller.channels) == {"outlet_kpa": "kPa", "flow_nm3h": "Nm3/h"}


def test_poller_refuses_a_profile_the_endpoint_does_not_name() -> None:
    profile = _two_block_profile()
    endpoint = ModbusEndpoint(host=HOST, port=502, profile="regulator-v1")
    with pytest.raises(ValueError, match="endpoint uses profile 'regulator-v1'"):
        ModbusPoller(asset_id="rs-test-01", endpoint=endpoint, profile=profile)


async def test_naive_timestamp_is_refused_before_any_io() -> None:
    poller = _poller(_two_block_profile(), free_port())
    with pytest.raises(ValueError, match="naive datetime"):
        await poller.poll(datetime(2026, 3, 1, 8, 30))
    await poller.close()
