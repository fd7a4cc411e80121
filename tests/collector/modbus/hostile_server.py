"""A Modbus TCP server that misbehaves on purpose (issue 15): the faults that wedge other
products' Modbus stacks, one per ``Fault``, for collector/modbus/README.md's "Hostile devices".

It runs in the test's own event loop on protocol callbacks and loop timers (no task, no
thread: nothing of its own for the leak checks to find), answers register reads with
``values(request)``, and counts what it was asked and the connections it holds, so a test
sees what the client did on the wire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import struct

from .servers import HOST, Request, default_values, frame, register_reply

# What a late reply in STALE_REPLY holds: a value no register of this server has.
STALE_VALUE = 0xDEAD
_READ_REQUEST = struct.Struct(">HHHBBHH")  # MBAP header, function code, address, count
# Something other than Modbus TCP answering on the port (a web page on port 502).
_GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
_BUSY = 6


class Fault(enum.Enum):
    SLOW = "slow"  # every reply comes after slow_s (default 5 s)
    BUSY = "busy"  # exception 6 (server device busy) to every request
    GARBAGE = "garbage"  # bytes that are no Modbus TCP frame; the connection left open
    WRONG_TRANSACTION_ID = "wrong_transaction_id"  # a sound reply, under another transaction id
    HALF_FRAME = "half_frame"  # the first half of each reply; the connection left open
    EXCEPTION_EVERY_OTHER = "exception_every_other"  # exception_code to every second request
    CLOSE_MID_REPLY = "close_mid_reply"  # the first half of each reply, then the connection closed
    # The first request's reply comes late: held back until the next request arrives (the
    # client timed out and opened a new connection), then sent on that connection ahead of
    # its own reply, as a serial gateway passes on an RTU's late answer.
    STALE_REPLY = "stale_reply"
    LENGTH_BEYOND_DATA = "length_beyond_data"  # an MBAP length 20 bytes more than what follows; left open
    OTHER_UNIT = "other_unit"  # a sound reply from another unit id (unit 1's, or 2's to unit 1)
    REPLY_THEN_GARBAGE = "reply_then_garbage"  # a sound reply with junk after it, in one write
    SHORT_REPLY = "short_reply"  # a well-formed reply holding one register fewer than asked


class HostileServer:
    """Start with ``await start()`` (returns the port), end with ``await stop()``. With
    ``units``, only requests for those unit ids meet the fault (a gateway with one bad
    station behind it); the others are answered properly."""

    def __init__(self, fault: Fault, *, slow_s: float = 5.0, exception_code: int = 4,
                 units: frozenset[int] | None = None) -> None:
        self.fault = fault
        self._slow_s = slow_s
        self._exception_code = exception_code
        self._units = units
        self.port = 0
        self.requests = 0  # over all connections
        self.faulty_requests = 0  # of those, the ones that met the fault
        self.connections = 0  # accepted so far
        self.stale_sent = False  # STALE_REPLY: the late reply went out
        self._open: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._held: Request | None = None
        self._arrived = asyncio.Event()  # set at each request
        self._none_open = asyncio.Event()
        self._none_open.set()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def start(self) -> int:
        self._server = await asyncio.get_running_loop().create_server(lambda: _Connection(self), HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for connection in list(self._open):
            connection.close()
        await self._server.wait_closed()
        await self._none_open.wait()

    async def wait_for_requests(self, count: int) -> None:
        while self.requests < count:
            self._arrived.clear()
            await self._arrived.wait()

    async def wait_until_none_open(self) -> None:
        """Until the client has closed every connection it opened here."""
        await self._none_open.wait()

    def opened(self, connection: _Connection) -> None:
        self.connections += 1
        self._open.add(connection)
        self._none_open.clear()

    def closed(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if not self._open:
            self._none_open.set()

    def answer(self, connection: _Connection, request: Request) -> None:
        self.requests += 1
        self._arrived.set()
        if self._held is not None:  # STALE_REPLY: the late reply, ahead of the next request's (any unit's)
            connection.send(register_reply(self._held, [STALE_VALUE] * self._held.count).data)
            self._held, self.stale_sent = None, True
        good = register_reply(request, values(request)).data
        if self._units is not None and request.unit not in self._units:
            connection.send(good)
            return
        index = self.faulty_requests
        self.faulty_requests += 1
        fault = self.fault
        if fault is Fault.SLOW:
            connection.send_later(self._slow_s, good)
        elif fault is Fault.BUSY:
            connection.send(_exception(request, _BUSY))
        elif fault is Fault.GARBAGE:
            connection.send(_GARBAGE)
        elif fault is Fault.WRONG_TRANSACTION_ID:
            other = dataclasses.replace(request, transaction_id=(request.transaction_id + 7) & 0xFFFF)
            connection.send(register_reply(other, values(request)).data)
        elif fault is Fault.HALF_FRAME:
            connection.send(good[: len(good) // 2])
        elif fault is Fault.EXCEPTION_EVERY_OTHER:
            connection.send(_exception(request, self._exception_code) if index % 2 else good)
        elif fault is Fault.CLOSE_MID_REPLY:
            connection.send(good[: len(good) // 2])
            connection.close()
        elif fault is Fault.STALE_REPLY:
            if index == 0:
                self._held = request
                return
            connection.send(good)
        elif fault is Fault.LENGTH_BEYOND_DATA:
            pdu = good[7:]
            connection.send(frame(request, pdu, length=len(pdu) + 1 + 20))
        elif fault is Fault.OTHER_UNIT:
            other = dataclasses.replace(request, unit=1 if request.unit != 1 else 2)
            connection.send(register_reply(other, values(request)).data)
        elif fault is Fault.REPLY_THEN_GARBAGE:
            connection.send(good + _GARBAGE)
        elif fault is Fault.SHORT_REPLY:
            connection.send(register_reply(request, values(request)[:-1]).data)


def values(request: Request) -> list[int]:
    """Unit 1's registers hold ``1000 + address``, unit 2's ``1100 + address``, and so on:
    a reply read for the wrong unit shows."""
    return [value + 100 * (request.unit - 1) for value in default_values(request)]


def _exception(request: Request, code: int) -> bytes:
    return frame(request, bytes([request.function_code | 0x80, code]))


class _Connection(asyncio.Protocol):
    def __init__(self, server: HostileServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._late: set[asyncio.TimerHandle] = set()  # SLOW's replies still to send

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.opened(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _READ_REQUEST.size:
            tid, _, _, unit, function_code, address, count = _READ_REQUEST.unpack_from(self._buffer)
            self._buffer = self._buffer[_READ_REQUEST.size:]
            self._server.answer(self, Request(tid, unit, function_code, address, count))

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self._late:
            handle.cancel()
        self._late.clear()
        self._server.closed(self)

    def send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def send_later(self, delay_s: float, data: bytes) -> None:
        def send() -> None:
            self._late.discard(handle)
            self.send(data)

        handle = asyncio.get_running_loop().call_later(delay_s, send)
        self._late.add(handle)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
