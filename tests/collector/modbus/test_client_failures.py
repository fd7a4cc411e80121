"""What ModbusClient makes of bad, missing and broken replies (pymodbus 3.16.1 underneath).

Each case is pinned to what pymodbus really does with those bytes (see README, Quirks), and
each checks that the next call works again.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from sitewatch.collector.errors import CollectorError, DecodeError, DeviceTimeout, DeviceUnreachable
from sitewatch.collector.modbus.client import ModbusClient
from sitewatch.collector.modbus.config import ModbusEndpoint, ModbusProfile, ModbusWorkarounds, RegisterSpec
from sitewatch.collector.modbus.poller import ModbusPoller
from sitewatch.domain.samples import Quality

from .servers import HOST, Reply, Request, default_values, frame, register_reply, scripted_server

TIMEOUT_S = 0.3
# Scheduling slack on a loaded 2-core CI machine.
MARGIN_S = 0.5


def _client(port: int, *, timeout_s: float = TIMEOUT_S) -> ModbusClient:
    endpoint = ModbusEndpoint(host=HOST, port=port, device_id=1, profile="p", timeout_s=timeout_s)
    return ModbusClient(endpoint=endpoint, asset_id="rs-test-01")


def _short_count(request: Request) -> Reply:
    # A well-formed frame holding one register fewer than asked for.
    return register_reply(request, default_values(request)[:-1])


def _byte_count_beyond_data(request: Request) -> Reply:
    # The byte count says 8 but 4 bytes follow; the MBAP length matches what is sent.
    return register_reply(request, [1, 2], byte_count=8)


def _truncated_then_closed(request: Request) -> Reply:
    whole = register_reply(request, default_values(request)).data
    return Reply(whole[:-2], close=True)


def _truncated_left_open(request: Request) -> Reply:
    whole = register_reply(request, default_values(request)).data
    return Reply(whole[:-2])


def _wrong_function_code(request: Request) -> Reply:
    # A well-formed input-register reply to a holding-register request.
    data = bytes([4, 2 * request.count]) + b"\x00\x01" * request.count
    return Reply(frame(request, data))


def _exception_without_code(request: Request) -> Reply:
    return Reply(frame(request, bytes([request.function_code | 0x80])))


def _wrong_transaction_id(request: Request) -> Reply:
    stale = Request(request.transaction_id + 7, request.unit, request.function_code, request.address, request.count)
    return register_reply(stale, default_values(request))


def _close_without_reply(request: Request) -> Reply:
    return Reply(close=True)


def _silent(request: Request) -> Reply:
    return Reply()


@pytest.mark.parametrize(
    ("misbehave", "error", "message", "keeps_connection"),
    [
        # Our own count check: the frame itself is fine, so the connection stays.
        (_short_count, DecodeError, "asked for 2 registers, the reply holds 1", True),
        (_wrong_function_code, DecodeError, "reply is for function code 4, not 3", True),
        # pymodbus cannot parse these, raises inside data_received, and asyncio closes the
        # connection ("Fatal error: protocol.data_received() call failed").
        (_byte_count_beyond_data, DecodeError, "malformed or truncated reply", False),
        (_exception_without_code, DecodeError, "malformed or truncated reply", False),
        # Part of a frame, then the peer closes.
        (_truncated_then_closed, DecodeError, "malformed or truncated reply", False),
        # The peer closes before any reply.
        (_close_without_reply, DeviceUnreachable, "connection lost while waiting for a reply", False),
        # pymodbus waits for the rest of a frame, and skips a frame with another
        # transaction id, until our timeout.
        (_truncated_left_open, DeviceTimeout, f"no reply within {TIMEOUT_S} s", False),
        (_wrong_transaction_id, DeviceTimeout, f"no reply within {TIMEOUT_S} s", False),
        (_silent, DeviceTimeout, f"no reply within {TIMEOUT_S} s", False),
    ],
)
async def test_bad_reply_then_recovery(
    misbehave: Callable[[Request], Reply], error: type[CollectorError], message: str, keeps_connection: bool
) -> None:
    async with scripted_server([misbehave]) as server:
        client = _client(server.port)
        try:
            with pytest.raises(error) as info:
                await client.read(table="holding", address=10, count=2)
            assert message in str(info.value), f"unexpected message: {info.value}"
            assert "holding registers 10-11" in str(info.value)
            assert client.connected is keeps_connection, "a broken connection must be closed, a sound one kept"
            assert await client.read(table="holding", address=10, count=2) == [1010, 1011]
        finally:
            await client.close()
    assert server.connections == (1 if keeps_connection else 2)


@pytest.mark.parametrize(("misbehave", "error"), [(_silent, DeviceTimeout), (_close_without_reply, DeviceUnreachable)])
async def test_failures_are_reported_in_time(misbehave: Callable[[Request], Reply], error: type[CollectorError]) -> None:
    # A silent device costs exactly the timeout; a closed connection costs nothing like it.
    timeout_s = 1.0
    async with scripted_server([misbehave]) as server:
        client = _client(server.port, timeout_s=timeout_s)
        await client.connect()  # time the read alone
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(error):
                await client.read(table="holding", address=0, count=1)
        finally:
            await client.close()
        elapsed = loop.time() - started
    if error is DeviceTimeout:
        assert timeout_s <= elapsed < timeout_s + MARGIN_S, f"timed out after {elapsed:.3f} s, not {timeout_s} s"
    else:
        assert elapsed < timeout_s / 2, f"a closed connection took {elapsed:.3f} s to notice"


async def test_connect_that_never_completes_is_a_timeout() -> None:
    # A listener that never accepts, its queue filled: further SYNs go unanswered, as with a
    # host behind a dead cellular link.
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex((HOST, port))
            client = _client(port)
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                with pytest.raises(DeviceTimeout, match=f"no connection within {TIMEOUT_S} s"):
                    await client.connect()
            finally:
                await client.close()
            elapsed = loop.time() - started
        finally:
            for filler in fillers:
                filler.close()
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + MARGIN_S, f"connect gave up after {elapsed:.3f} s"
    assert not client.connected


async def test_no_retries_by_pymodbus() -> None:
    # The scheduler owns retries: one timed-out read must be one request on the wire.
    async with scripted_server([_silent]) as server:
        client = _client(server.port)
        try:
            with pytest.raises(DeviceTimeout):
                await client.read(table="input", address=3, count=4)
        finally:
            await client.close()
    assert [(r.function_code, r.address, r.count, r.unit) for r in server.requests] == [(4, 3, 4, 1)]


async def test_cancelled_read_closes_the_connection() -> None:
    # A reply to a cancelled request would otherwise be taken for the next one's.
    async with scripted_server([_silent]) as server:
        client = _client(server.port, timeout_s=5.0)
        try:
            read = asyncio.ensure_future(client.read(table="holding", address=0, count=1))
            await asyncio.wait_for(server.request_arrived.wait(), timeout=5.0)
            read.cancel()
            with pytest.raises(asyncio.CancelledError):
                await read
            assert not client.connected
            assert await client.read(table="holding", address=0, count=1) == [1000]
        finally:
            await client.close()


async def test_request_outside_the_protocol_is_refused_before_any_io() -> None:
    client = _client(1)  # nothing is contacted
    for address, count in [(0, 0), (0, 126), (65535, 2), (-1, 1)]:
        with pytest.raises(ValueError, match="cannot read"):
            await client.read(table="holding", address=address, count=count)
    assert not client.connected


async def test_malformed_block_through_the_poller_is_a_partial_failure() -> None:
    profile = ModbusProfile(
        name="p",
        registers=(
            RegisterSpec(channel="a", address=0, type="uint16", unit="V"),
            RegisterSpec(channel="b", address=4, type="uint32", unit="s"),
        ),
        workarounds=ModbusWorkarounds(max_gap_registers=0),
    )
    endpoint = ModbusEndpoint(host=HOST, port=1, profile="p", timeout_s=TIMEOUT_S)
    ts = datetime(2026, 3, 1, tzinfo=timezone.utc)
    # First block answered fine; the second with a frame pymodbus cannot parse.
    async with scripted_server([lambda r: register_reply(r, [5]), _byte_count_beyond_data]) as server:
        poller = ModbusPoller(
            asset_id="rs-test-01",
            endpoint=endpoint,
            profile=profile,
            client=_client(server.port),
        )
        try:
            result = await poller.poll(ts)
            again = await poller.poll(ts)
        finally:
            await poller.close()
    assert [(s.channel, s.quality) for s in result.samples] == [("a", Quality.GOOD), ("b", Quality.COMM_ERROR)]
    assert result.samples[0].value == 5 and math.isnan(result.samples[1].value)
    assert [type(e) for e in result.errors] == [DecodeError]
    # Reconnected on the next poll: 1004-1005 from the server's default answer.
    assert [(s.value, s.quality) for s in again.samples] == [(1000, Quality.GOOD), ((1004 << 16) | 1005, Quality.GOOD)]


async def test_slow_replies_within_the_timeout_pass_and_a_missing_one_times_out_in_time() -> None:
    # Each reply takes two thirds of the timeout, so the reply timer armed for one read comes
    # due while the next is outstanding: it must wait for that read's own due time, not fail it.
    timeout_s, slow_s = 0.6, 0.4
    answered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        try:
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                function_code, address, count = struct.unpack(">BHH", await reader.readexactly(length - 1))
                if answered == 3:
                    continue  # the fourth request: never answered
                await asyncio.sleep(slow_s)
                writer.write(register_reply(Request(tid, unit, function_code, address, count), [7] * count).data)
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    client = _client(server.sockets[0].getsockname()[1], timeout_s=timeout_s)
    loop = asyncio.get_running_loop()
    try:
        for _ in range(3):
            assert await client.read(table="holding", address=0, count=2) == [7, 7]
        started = loop.time()
        with pytest.raises(DeviceTimeout):
            await client.read(table="holding", address=0, count=2)
        elapsed = loop.time() - started
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert timeout_s <= elapsed < timeout_s + MARGIN_S, f"timed out after {elapsed:.3f} s, not {timeout_s} s"
