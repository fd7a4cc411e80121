"""The fleet's Modbus servers, read with mbpoll (a client we did not write) at a frozen time."""

from __future__ import annotations

import asyncio
import struct

import pytest

from sitewatch.simulators.regulator.errors import FleetNotRunning, UnknownFault, UnknownStation
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.model import reading_at
from sitewatch.simulators.regulator.registers import encode
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs

from .conftest import FrozenClock
from .peers import mbpoll, read_holding

GATEWAY_NO_RESPONSE = 0x0B


def _signed16(raw: float) -> int:
    return struct.unpack(">h", struct.pack(">H", int(raw)))[0]


async def test_registers_equal_the_model_at_the_frozen_time(
    fleet: RegulatorFleet, clock: FrozenClock
):
    spec = fleet.spec_of("rs-001")
    boot = clock.now()  # the fleet started at the frozen time
    clock.advance(3600.5)  # uptime and every channel move on
    expected = reading_at(spec, clock.now(), boot_at=boot)
    port = fleet.port_of("rs-001")

    raw = await mbpoll(port, count=18)
    assert raw.rc == 0, raw.output
    assert [int(raw.values[i]) for i in range(1, 19)] == encode(fleet.reading("rs-001"))

    floats = await mbpoll(port, count=2, data_type="4:float")
    assert floats.rc == 0, floats.output
    # mbpoll prints 6 significant digits
    assert floats.values[1] == pytest.approx(expected.inlet_mpa, rel=1e-5)
    assert floats.values[3] == pytest.approx(expected.outlet_kpa, rel=1e-5)

    flow = await mbpoll(port, ref=5, count=1, data_type="4:int")
    assert flow.values[5] * 0.01 == pytest.approx(expected.flow_nm3h, abs=0.005)
    v = raw.values
    assert _signed16(v[7]) * 0.1 == pytest.approx(expected.temperature_c, abs=0.05)
    assert v[8] * 0.01 == pytest.approx(expected.filter_dp_kpa, abs=0.005)
    assert v[9] * 0.1 == pytest.approx(expected.gas_lel_pct, abs=0.05)
    assert [v[10], v[11], v[12], v[13]] == [0, 0, 0, 1]
    assert v[14] * 0.01 == pytest.approx(expected.battery_v, abs=0.005)
    assert [v[15], v[16]] == [0, 0]
    uptime = await mbpoll(port, ref=17, count=1, data_type="4:int")
    assert uptime.values[17] == 3600 == expected.uptime_s


async def test_fault_values_reach_the_wire(fleet: RegulatorFleet, clock: FrozenClock):
    port = fleet.port_of("rs-002")
    await fleet.inject("rs-002", "regulator_failure")
    await fleet.inject("rs-002", "door_open")
    clock.advance(60)
    floats = await mbpoll(port, ref=3, count=1, data_type="4:float")
    assert floats.values[3] == pytest.approx(fleet.reading("rs-002").outlet_kpa, rel=1e-5)
    assert floats.values[3] > 3.1, "outlet should have climbed to the relief plateau"
    states = await mbpoll(port, ref=10, count=3)
    assert states.values == {10: 0, 11: 1, 12: 1}, "slam-shut open, relief open, door open"


async def test_stations_have_their_own_ports_and_values(fleet: RegulatorFleet):
    ports = {fleet.port_of(s.station_id) for s in fleet.stations}
    assert len(ports) == 2 and 0 not in ports
    a = await read_holding(fleet.port_of("rs-001"), address=0, count=4)
    b = await read_holding(fleet.port_of("rs-002"), address=0, count=4)
    assert a != b, "different seeds must give different values"


async def test_reads_past_the_map_are_illegal_address(fleet: RegulatorFleet):
    port = fleet.port_of("rs-001")
    result = await mbpoll(port, ref=18, count=2)  # wire 17-18: the last register and one past it
    assert result.rc != 0 and "Illegal data address" in result.output, result.output
    assert await read_holding(port, address=18, count=1) == 2
    assert await read_holding(port, address=14, count=2) == [0, 0]


async def test_modbus_exception_fault_answers_device_failure(fleet: RegulatorFleet):
    port = fleet.port_of("rs-001")
    await fleet.inject("rs-001", "modbus_exception")
    result = await mbpoll(port, count=2)
    assert result.rc != 0 and "Slave device or server failure" in result.output, result.output
    assert await read_holding(port, address=0, count=18) == 4
    await fleet.clear("rs-001", "modbus_exception")
    assert isinstance(await read_holding(port, address=0, count=18), list)


async def test_other_device_ids_get_gateway_no_response(fleet: RegulatorFleet):
    assert (
        await read_holding(fleet.port_of("rs-001"), address=0, count=2, device_id=9)
        == GATEWAY_NO_RESPONSE
    )


async def test_comm_loss_refuses_connections_then_reopens_on_the_same_port(fleet: RegulatorFleet):
    port = fleet.port_of("rs-001")
    await fleet.inject("rs-001", "comm_loss")
    down = await mbpoll(port, count=2)
    assert down.rc != 0 and "Connection refused" in down.output, down.output
    other = await mbpoll(fleet.port_of("rs-002"), count=2)
    assert other.rc == 0, "comm_loss must only silence its own station"
    await fleet.clear("rs-001", "comm_loss")
    assert fleet.port_of("rs-001") == port
    up = await mbpoll(port, count=2)
    assert up.rc == 0, up.output
    assert fleet.active_faults("rs-001") == ()


async def test_comm_loss_drops_open_connections(fleet: RegulatorFleet):
    reader, writer = await asyncio.open_connection("127.0.0.1", fleet.port_of("rs-001"))
    try:
        await fleet.inject("rs-001", "comm_loss")
        assert await asyncio.wait_for(reader.read(), timeout=5) == b"", (
            "connection should be closed"
        )
    finally:
        writer.close()
        await writer.wait_closed()
        await fleet.clear("rs-001")


async def test_clearing_returns_to_normal(fleet: RegulatorFleet, clock: FrozenClock):
    spec = fleet.spec_of("rs-001")
    boot = clock.now()
    await fleet.inject("rs-001", "pipe_burst")
    await fleet.inject("rs-001", "gas_leak")
    clock.advance(30)
    assert fleet.reading("rs-001") != reading_at(spec, clock.now(), boot_at=boot)
    assert set(await fleet.clear("rs-001")) == {"pipe_burst", "gas_leak"}
    assert fleet.reading("rs-001") == reading_at(spec, clock.now(), boot_at=boot)
    assert await fleet.clear("rs-001", "door_open") == (), "clearing an inactive fault is a no-op"


async def test_inject_reports_start_time_and_params(fleet: RegulatorFleet, clock: FrozenClock):
    active = await fleet.inject("rs-001", "regulator_failure", rate_kpa_s=0.1)
    assert active.started_at == clock.now()
    assert dict(active.params) == {"rate_kpa_s": 0.1, "peak_kpa": 3.2}
    assert fleet.active_faults("rs-001") == (active,)


async def test_unknown_station_and_fault_are_typed_errors(fleet: RegulatorFleet):
    with pytest.raises(UnknownStation, match="unknown station 'rs-404'.*rs-001") as caught:
        fleet.port_of("rs-404")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(UnknownFault, match="known faults"):
        await fleet.inject("rs-001", "earthquake")
    with pytest.raises(UnknownFault):
        await fleet.clear("rs-001", "earthquake")


async def test_stop_closes_every_server(clock: FrozenClock):
    fleet = build({"stations": make_station_specs(1)}, clock=clock)
    with pytest.raises(FleetNotRunning):
        fleet.port_of("rs-001")
    async with fleet:
        port = fleet.port_of("rs-001")
        assert isinstance(await read_holding(port, address=0, count=1), list)
    with pytest.raises(OSError):
        await read_holding(port, address=0, count=1)


async def test_comm_loss_injected_before_start_keeps_the_station_silent(clock: FrozenClock):
    fleet = build(FleetConfig(stations=make_station_specs(1)), clock=clock)
    await fleet.inject("rs-001", "comm_loss")
    async with fleet:
        port = fleet.port_of("rs-001")
        with pytest.raises(ConnectionRefusedError):
            await read_holding(port, address=0, count=1)
        await fleet.clear("rs-001")
        assert isinstance(await read_holding(port, address=0, count=1), list)
