"""Two more test peers: umodbus' Modbus TCP server holding all four tables of several units,
and a relay in front of an RTU-over-TCP converter that reads the RTU frames passing through
it, to tell whether requests ever overlapped on the converter's line.

    with umodbus_tcp_tables({7: {("holding", 0): 1234, ("coil", 0): 1}}) as (port, devices):
        devices.set(7, {("holding", 0): 99})        # changes what the next request reads

    async with RtuFrameWatch(bridge.port) as watch:  # the product connects to watch.port
        ...
    assert watch.overlaps == [] and watch.exchanges == ...
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Self

from umodbus.client.serial.redundancy_check import get_crc
from umodbus.server.tcp import RequestHandler, get_server

from tests.servers import free_port

from .serial_line import RtuDevices, Table
from .servers import HOST, _ClosingTCPServer

_READ_FUNCTIONS = (1, 2, 3, 4)
_REQUEST_BYTES = 8  # unit, function, address (2), count (2), CRC (2): every read request


@contextlib.contextmanager
def umodbus_tcp_tables(
    units: Mapping[int, Mapping[tuple[Table, int], int]],
) -> Iterator[tuple[int, RtuDevices]]:
    """umodbus 1.0.4's Modbus TCP server answering FC1-4 for ``units`` (unit id ->
    {(table, address): value}); yields its port and the units' mutable state. Addresses a
    unit lacks answer exception 2; other unit ids too (umodbus' own behaviour over TCP).

    servers.umodbus_server serves one register table; this one serves a profile that mixes
    coils, discrete inputs, input and holding registers from one endpoint.
    """
    devices = RtuDevices(units)
    # _ClosingTCPServer drops open connections on shutdown, so stopping never waits for
    # the client to hang up.
    server = get_server(_ClosingTCPServer, (HOST, 0), RequestHandler)
    server.route(slave_ids=list(units), function_codes=list(_READ_FUNCTIONS))(devices.read)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="umodbus-tables")
    thread.start()
    try:
        yield server.server_address[1], devices
    finally:
        server.shutdown()
        server.drop_connections()
        server.server_close()
        thread.join()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request on the line and the reply to it."""

    unit: int
    function_code: int
    round_trip_s: float  # request relayed -> last byte of the reply relayed


@dataclass
class _Pending:
    unit: int
    function_code: int
    sent_at: float


@dataclass
class RtuFrameWatch:
    """A TCP relay to the converter at ``upstream_port`` that reads the RTU frames it passes.

    The converter's serial line carries one frame at a time: a request sent before the
    previous request's reply has fully come back overlaps it (on a real RS-485 line the two
    garble each other). Every such request is in ``overlaps``; a reply that does not match
    the request it answers (another unit or function) or fails its CRC, or a request that is
    not a read, is in ``bad_frames``; a reply nobody asked for in ``unsolicited``. The line
    is one for all client connections, so overlap is judged across them (meant for one
    client at a time: the converter copies every reply to every client).
    """

    upstream_port: int
    port: int = field(default_factory=free_port)
    exchanges: list[Exchange] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    bad_frames: list[str] = field(default_factory=list)
    unsolicited: list[bytes] = field(default_factory=list)
    abandoned: int = 0  # connections closed while their request was unanswered
    _pending: _Pending | None = field(default=None, init=False, repr=False)  # the request on the line
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, init=False, repr=False)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._relay, HOST, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(client_writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            client_writer.close()  # the converter is down: so are we
            self._tasks.discard(task)
            return
        self._writers.add(upstream_writer)
        requests, replies = bytearray(), bytearray()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(client_reader, upstream_writer, requests, self._on_requests))
                group.create_task(self._pump(upstream_reader, client_writer, replies, self._on_replies))
        except* (ConnectionError, EOFError):
            pass  # one side went away: the relay ends
        finally:
            if self._pending is not None:
                self.abandoned += 1
                self._pending = None
            for writer in (client_writer, upstream_writer):
                writer.close()
                self._writers.discard(writer)
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffer: bytearray,
                    parse: Callable[[bytearray], None]) -> None:
        while data := await reader.read(4096):
            buffer += data
            parse(buffer)
            writer.write(data)
            await writer.drain()
        raise EOFError  # ends the other direction too

    def _on_requests(self, buffer: bytearray) -> None:
        now = asyncio.get_running_loop().time()
        while len(buffer) >= _REQUEST_BYTES:
            frame, buffer[:] = bytes(buffer[:_REQUEST_BYTES]), buffer[_REQUEST_BYTES:]
            unit, function_code = frame[0], frame[1]
            if function_code not in _READ_FUNCTIONS:
                self.bad_frames.append(f"a request with function code {function_code}: {frame.hex()}")
            if self._pending is not None:
                self.overlaps.append(f"unit {unit} asked while unit {self._pending.unit}'s reply was due")
            self._pending = _Pending(unit, function_code, now)

    def _on_replies(self, buffer: bytearray) -> None:
        now = asyncio.get_running_loop().time()
        while len(buffer) >= 3:
            # An exception reply is 5 bytes; a read reply 3 + its byte count + 2.
            size = 5 if buffer[1] & 0x80 else 5 + buffer[2]
            if len(buffer) < size:
                return
            frame, buffer[:] = bytes(buffer[:size]), buffer[size:]
            pending, self._pending = self._pending, None
            if pending is None:
                self.unsolicited.append(frame)
                continue
            if get_crc(frame[:-2]) != frame[-2:]:
                self.bad_frames.append(f"unit {pending.unit}: bad CRC in {frame.hex()}")
            elif (frame[0], frame[1] & 0x7F) != (pending.unit, pending.function_code):
                self.bad_frames.append(
                    f"unit {pending.unit} FC{pending.function_code} answered by unit {frame[0]} FC{frame[1]}")
            self.exchanges.append(Exchange(pending.unit, pending.function_code, now - pending.sent_at))
