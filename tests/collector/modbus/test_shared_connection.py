"""Stations behind one gateway share one connection, one request at a time, with a pause.

The server here is a converter that cannot take overlapping requests: it answers each after
a delay and records whether a request arrived while it was still busy with the previous one
(a real converter garbles both). Without the connection's lock, eight stations polling at
once overlap at every round.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from sitewatch.collector.errors import DeviceTimeout, DeviceUnreachable
from sitewatch.collector.modbus.client import Link, ModbusClient, ModbusConnections
from sitewatch.collector.modbus.config import ModbusEndpoint, ModbusGateway
from sitewatch.collector.modbus.gateway import GatewayPoller
from sitewatch.domain.samples import Quality
from sitewatch.domain.time import UTC
from tests.servers import free_port

HOST = "127.0.0.1"
REPLY_DELAY_S = 0.01


@dataclass
class Converter:
    """A Modbus TCP server that handles one request at a time and notes overlaps."""

    port: int
    busy: bool = False
    overlaps: int = 0
    requests: list[tuple[int, float]] = field(default_factory=list)  # (unit, arrival loop time)
    replies: list[float] = field(default_factory=list)  # loop time each reply was sent
    connections: int = 0
    silent_units: set[int] = field(default_factory=set)  # the line behind is dead for these
    handlers: list[asyncio.Task[None]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


async def _serve(converter: Converter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    converter.connections += 1
    current = asyncio.current_task()
    assert current is not None
    converter.handlers.append(current)
    converter.writers.append(writer)
    loop = asyncio.get_running_loop()
    try:
        while True:
            header = await reader.readexactly(7)
            tid, _, length, unit = struct.unpack(">HHHB", header)
            pdu = await reader.readexactly(length - 1)
            function, address, count = struct.unpack(">BHH", pdu)
            converter.requests.append((unit, loop.time()))
            if unit in converter.silent_units:
                continue
            if converter.busy:
                converter.overlaps += 1
            converter.busy = True
            await asyncio.sleep(REPLY_DELAY_S)
            values = [unit * 100 + address + i for i in range(count)]
            body = bytes([function, 2 * count]) + struct.pack(f">{count}H", *values)
            writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
            await writer.drain()
            converter.replies.append(loop.time())
            converter.busy = False
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def converter() -> AsyncIterator[Converter]:
    state = Converter(port=free_port())
    server = await asyncio.start_server(lambda r, w: _serve(state, r, w), HOST, state.port)
    async with server:
        yield state
        for writer in state.writers:
            writer.close()
        await asyncio.gather(*state.handlers, return_exceptions=True)


def _gateway(port: int, pause_ms: float = 0.0) -> ModbusGateway:
    return ModbusGateway(framing="tcp", host=HOST, port=port, timeout_s=1.0, pause_between_requests_ms=pause_ms)


def _stations(connections: ModbusConnections, link: Link, units: range) -> list[ModbusClient]:
    return [
        ModbusClient(endpoint=ModbusEndpoint(gateway="gw", device_id=unit, profile="p", timeout_s=1.0),
                     asset_id=f"rs-{unit}", connection=connections.get(link, name="gw"))
        for unit in units
    ]


async def test_eight_stations_share_one_connection_without_overlapping_requests(converter: Converter) -> None:
    link = Link.of_gateway(_gateway(converter.port))
    stations = _stations(ModbusConnections(), link, range(1, 9))

    async def poll(client: ModbusClient) -> list[int]:
        return [v for block in (0, 10) for v in await client.read(table="holding", address=block, count=2)]

    for _ in range(5):
        rounds = await asyncio.gather(*(poll(s) for s in stations))
        # Each station got its own unit's values, never another's reply.
        assert rounds == [[u * 100, u * 100 + 1, u * 100 + 10, u * 100 + 11] for u in range(1, 9)]
    assert converter.overlaps == 0, f"{converter.overlaps} requests arrived while the converter was busy"
    assert converter.connections == 1, "stations behind one gateway must share one connection"
    assert len(converter.requests) == 5 * 8 * 2
    await stations[0].close()


async def test_without_sharing_the_same_polls_overlap(converter: Converter) -> None:
    """The converter above does detect overlaps: separate connections to it overlap at once."""
    link = Link.of_gateway(_gateway(converter.port))
    stations = [_stations(ModbusConnections(), link, range(u, u + 1))[0] for u in range(1, 9)]
    await asyncio.gather(*(s.read(table="holding", address=0, count=2) for s in stations))
    assert converter.overlaps > 0
    for station in stations:
        await station.close()


async def test_pause_between_requests_is_kept(converter: Converter) -> None:
    pause_ms = 30.0
    link = Link.of_gateway(_gateway(converter.port, pause_ms=pause_ms))
    stations = _stations(ModbusConnections(), link, range(1, 5))
    await asyncio.gather(*(s.read(table="holding", address=0, count=1) for s in stations))
    arrivals = [at for _, at in converter.requests]
    gaps = [nxt - sent for sent, nxt in zip(converter.replies, arrivals[1:], strict=False)]
    assert len(gaps) == 3
    # Measured at the server: the reply leaves, the client receives it, pauses, sends.
    assert min(gaps) >= pause_ms / 1000 * 0.9, f"gaps between reply and next request: {gaps}"
    await stations[0].close()


async def test_gateway_poll_reports_connection_and_stations_answering(converter: Converter) -> None:
    connections = ModbusConnections()
    link = Link.of_gateway(_gateway(converter.port))
    stations = _stations(connections, link, range(1, 4))
    gateway = GatewayPoller(asset_id="gw", connection=connections.get(link, name="gw"), device_ids=[1, 2, 3, 9],
                            window_s=60.0)
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    first = await gateway.poll(now)
    # Nobody asked yet (just started): no count, which would read as a dead line.
    assert [(s.channel, s.value, s.quality) for s in first.samples] == [("connected", 1.0, Quality.GOOD)]
    await asyncio.gather(*(s.read(table="holding", address=0, count=1) for s in stations[:2]))
    second = await gateway.poll(now)
    assert {s.channel: s.value for s in second.samples}["stations_answering"] == 2.0
    await stations[0].close()


async def test_gateway_poll_raises_when_the_gateway_is_gone() -> None:
    connections = ModbusConnections()
    link = Link.of_gateway(_gateway(free_port()))  # nothing listens there
    gateway = GatewayPoller(asset_id="gw", connection=connections.get(link, name="gw"), device_ids=[1], window_s=60.0)
    with pytest.raises(DeviceUnreachable, match="gw: cannot connect"):
        await gateway.poll(datetime(2026, 12, 7, 3, 0, tzinfo=UTC))


async def test_a_gateway_whose_stations_are_asked_and_silent_reports_none_answering(converter: Converter) -> None:
    converter.silent_units = {1, 2}
    connections = ModbusConnections()
    link = Link.of_gateway(_gateway(converter.port))
    stations = [ModbusClient(endpoint=ModbusEndpoint(gateway="gw", device_id=u, profile="p", timeout_s=0.05),
                             asset_id=f"rs-{u}", connection=connections.get(link, name="gw")) for u in (1, 2)]
    gateway = GatewayPoller(asset_id="gw", connection=connections.get(link, name="gw"), device_ids=[1, 2],
                            window_s=60.0)
    for station in stations:
        with pytest.raises(DeviceTimeout):
            await station.read(table="holding", address=0, count=1)
    polled = await gateway.poll(datetime(2026, 12, 7, 3, 0, tzinfo=UTC))
    assert {s.channel: s.value for s in polled.samples} == {"connected": 1.0, "stations_answering": 0.0}
    await stations[0].close()
