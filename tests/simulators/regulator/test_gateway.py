"""The simulated gateway (RTU frames over TCP, eight stations behind one port), read by the
product's own client as a modbus_gateway asset reads it, and by raw RTU frames."""

from __future__ import annotations

import asyncio
import signal
import struct
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from sitewatch.collector.errors import DeviceRejected, DeviceTimeout, DeviceUnreachable
from sitewatch.collector.modbus.client import (
    Link,
    ModbusClient,
    ModbusConnection,
    ModbusConnections,
)
from sitewatch.collector.modbus.config import ModbusEndpoint
from sitewatch.collector.modbus.gateway import GatewayPoller
from sitewatch.simulators.regulator.control import ControlServer
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.registers import REGISTER_COUNT, encode
from sitewatch.simulators.regulator.spec import (
    FleetConfig,
    GatewaySpec,
    make_gateway_station_specs,
)

from .conftest import FrozenClock

REPO = Path(__file__).parents[3]
HOST = "127.0.0.1"
GATEWAY = "gw-01"
STATIONS = 8
REPLY_TIMEOUT_S = 0.25  # what a silent or absent device id costs each test
ABSENT_ID = STATIONS + 1


@pytest.fixture
async def gateway_fleet(clock: FrozenClock) -> AsyncIterator[RegulatorFleet]:
    config = FleetConfig(
        stations=make_gateway_station_specs(STATIONS, gateway_id=GATEWAY, seed=21),
        gateways=(GatewaySpec(gateway_id=GATEWAY),),
    )
    fleet = build(config, clock=clock)
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


@pytest.fixture
async def connection(gateway_fleet: RegulatorFleet) -> AsyncIterator[ModbusConnection]:
    """The one connection the product opens to the gateway, as sitewatch/jobs.py builds it."""
    link = Link(framing="rtu_over_tcp", host=HOST, port=gateway_fleet.gateways.port_of(GATEWAY),
                connect_timeout_s=1.0)
    shared = ModbusConnections().get(link, name=GATEWAY)
    try:
        yield shared
    finally:
        await shared.close()


def _client(connection: ModbusConnection, device_id: int) -> ModbusClient:
    endpoint = ModbusEndpoint(gateway=GATEWAY, device_id=device_id, profile="regulator-v1",
                              timeout_s=REPLY_TIMEOUT_S)
    return ModbusClient(endpoint=endpoint, asset_id=f"station-{device_id}", connection=connection)


async def _read(connection: ModbusConnection, device_id: int) -> list[int]:
    return await _client(connection, device_id).read(table="holding", address=0, count=REGISTER_COUNT)


def _station(device_id: int) -> str:
    return f"{GATEWAY}-rs-{device_id:03d}"


async def test_product_client_reads_eight_stations_through_one_connection(
    gateway_fleet: RegulatorFleet, connection: ModbusConnection, clock: FrozenClock
):
    clock.advance(3600.5)  # uptime and every channel move on
    for device_id in range(1, STATIONS + 1):
        expected = encode(gateway_fleet.reading(_station(device_id)))
        assert await _read(connection, device_id) == expected, f"device id {device_id}"
    values = {tuple(await _read(connection, device_id)) for device_id in range(1, STATIONS + 1)}
    assert len(values) == STATIONS, "each station has its own model (seed): eight different readings"
    ports = {gateway_fleet.port_of(s.station_id) for s in gateway_fleet.stations}
    assert ports == {gateway_fleet.gateways.port_of(GATEWAY)}, "one port for all eight"


async def test_absent_device_id_is_silent_and_the_others_still_answer(
    gateway_fleet: RegulatorFleet, connection: ModbusConnection
):
    with pytest.raises(DeviceTimeout):
        await _read(connection, ABSENT_ID)
    # The product dropped the connection after the timeout; the next read opens a new one.
    assert await _read(connection, 1) == encode(gateway_fleet.reading(_station(1)))


async def test_one_silent_station_times_out_and_the_gateway_counts_the_rest(
    gateway_fleet: RegulatorFleet, connection: ModbusConnection
):
    await gateway_fleet.inject(_station(3), "comm_loss")
    poller = GatewayPoller(asset_id=GATEWAY, connection=connection, device_ids=range(1, STATIONS + 1),
                           window_s=60.0)
    for device_id in range(1, STATIONS + 1):
        if device_id == 3:
            with pytest.raises(DeviceTimeout):
                await _read(connection, device_id)
        else:
            await _read(connection, device_id)
    result = await poller.poll(datetime.now(UTC))
    assert {s.channel: s.value for s in result.samples} == {"connected": 1.0, "stations_answering": 7.0}

    await gateway_fleet.clear(_station(3))
    assert await _read(connection, 3) == encode(gateway_fleet.reading(_station(3)))


async def test_a_station_exception_passes_through_the_gateway(
    gateway_fleet: RegulatorFleet, connection: ModbusConnection
):
    await gateway_fleet.inject(_station(5), "modbus_exception")
    with pytest.raises(DeviceRejected) as refused:
        await _read(connection, 5)
    assert refused.value.code == 4
    with pytest.raises(DeviceRejected) as past_the_map:
        await _client(connection, 6).read(table="holding", address=REGISTER_COUNT - 1, count=2)
    assert past_the_map.value.code == 2


async def test_gateway_down_is_unreachable_and_back_on_the_same_port(
    gateway_fleet: RegulatorFleet, connection: ModbusConnection
):
    port = gateway_fleet.gateways.port_of(GATEWAY)
    await _read(connection, 2)
    assert connection.connected

    await gateway_fleet.gateways.inject(GATEWAY, "comm_loss")
    with pytest.raises(DeviceUnreachable):  # the open connection was dropped
        await _read(connection, 2)
    with pytest.raises(DeviceUnreachable):  # and a new one is refused
        await _read(connection, 2)

    await gateway_fleet.gateways.clear(GATEWAY)
    assert gateway_fleet.gateways.port_of(GATEWAY) == port
    assert await _read(connection, 2) == encode(gateway_fleet.reading(_station(2)))


# --- the wire, without pymodbus' client --------------------------------------------------


def _crc(frame: bytes) -> bytes:
    """CRC-16/MODBUS, low byte first."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


async def test_raw_rtu_frames_over_tcp(gateway_fleet: RegulatorFleet):
    reader, writer = await asyncio.open_connection(HOST, gateway_fleet.gateways.port_of(GATEWAY))
    try:
        request = struct.pack(">BBHH", 4, 3, 0, REGISTER_COUNT)
        writer.write(request + _crc(request))
        reply = await asyncio.wait_for(reader.readexactly(3 + 2 * REGISTER_COUNT + 2), timeout=2)
        body, crc = reply[:-2], reply[-2:]
        assert crc == _crc(body), "an RTU frame ends with its CRC; no MBAP header"
        assert body[:3] == bytes([4, 3, 2 * REGISTER_COUNT])
        registers = list(struct.unpack(f">{REGISTER_COUNT}H", body[3:]))
        assert registers == encode(gateway_fleet.reading(_station(4)))

        absent = struct.pack(">BBHH", ABSENT_ID, 3, 0, 2)
        writer.write(absent + _crc(absent))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), timeout=REPLY_TIMEOUT_S)
    finally:
        writer.close()
        await writer.wait_closed()


# --- configuration, control API and command line -------------------------------------------


def test_stations_behind_a_gateway_are_checked():
    with pytest.raises(ValidationError, match="no gateway 'gw-02'"):
        FleetConfig(stations=make_gateway_station_specs(2, gateway_id="gw-02"))
    specs = make_gateway_station_specs(2, gateway_id=GATEWAY)
    gateways = (GatewaySpec(gateway_id=GATEWAY),)
    with pytest.raises(ValidationError, match="device_id 1"):
        FleetConfig(stations=(*specs, specs[0].model_copy(update={"station_id": "other"})), gateways=gateways)
    with pytest.raises(ValidationError, match="gateway's port"):
        FleetConfig(stations=(specs[0].model_copy(update={"port": 15020}),), gateways=gateways)


async def test_control_api_lists_the_gateway_and_takes_it_down(gateway_fleet: RegulatorFleet):
    control = ControlServer(gateway_fleet)
    await control.start()
    try:
        async with httpx.AsyncClient(base_url=control.url, timeout=5) as api:
            [listed] = (await api.get("/gateways")).json()
            assert listed["gateway_id"] == GATEWAY and listed["framing"] == "rtu_over_tcp"
            assert listed["device_ids"] == list(range(1, STATIONS + 1))
            station = (await api.get(f"/stations/{_station(2)}")).json()
            assert (station["gateway"], station["port"], station["device_id"]) == (GATEWAY, listed["port"], 2)

            assert (await api.post(f"/gateways/{GATEWAY}/faults", json={"fault": "comm_loss"})).status_code == 201
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(HOST, listed["port"])
            assert (await api.delete(f"/gateways/{GATEWAY}/faults")).status_code == 204
            _, writer = await asyncio.open_connection(HOST, listed["port"])
            writer.close()
            await writer.wait_closed()

            assert (await api.get("/gateways/gw-404")).status_code == 404
            unknown = await api.post(f"/gateways/{GATEWAY}/faults", json={"fault": "gas_leak"})
            assert unknown.status_code == 422 and unknown.json()["known_faults"] == ["comm_loss"]
    finally:
        await control.stop()


async def test_serve_with_gateway_stations():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sitewatch.simulators.regulator", "serve", "--stations", "1", "--gateway-stations", "3",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        lines = []
        while not (line := (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()).startswith(
            "control "
        ):
            assert line, f"serve exited early: {(await process.communicate())[1].decode()}"
            lines.append(line.split())
        gateway_port = lines[1][1]
        assert [words[0] for words in lines] == ["rs-001", GATEWAY, *(_station(i) for i in (1, 2, 3))]
        assert lines[1][2] == "rtu_over_tcp"
        assert lines[4] == [_station(3), gateway_port, "device_id=3", f"gateway={GATEWAY}"]

        link = Link(framing="rtu_over_tcp", host=HOST, port=int(gateway_port.rpartition(":")[2]))
        connection = ModbusConnection(link, name=GATEWAY)
        try:
            assert len(await _read(connection, 3)) == REGISTER_COUNT
        finally:
            await connection.close()
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
