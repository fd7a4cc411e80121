"""The only module that imports pymodbus: one connection (TCP, RTU over TCP, or a serial
line) shared by every device behind it, and each device's reads through it.

pymodbus' API changes between minor releases (3.16: ``device_id=`` replaced ``slave=``), so
everything it raises or returns is translated here into ``sitewatch.collector.errors``. What this
module adds on top of pymodbus 3.16.1, and why:

- One request at a time per connection, under a lock held from request to reply plus the
  link's pause: serial-to-Ethernet converters and RS-485 lines answer one request at a time
  and garble overlapping ones, and RTU frames carry no transaction id to tell replies apart.
- pymodbus never retries or reconnects by itself here (``retries=0``, ``reconnect_delay=0``):
  the scheduler owns retries and back-off. After a failure that leaves the connection in
  doubt (no reply in time, a reply that does not match) it is closed, so a late reply cannot
  be taken for the next device's; the next request connects afresh.
- A request is sent and its reply awaited here, on the client's transaction manager
  (``client.ctx``: the PDU classes, framer and reply parsing stay pymodbus'), not through
  ``client.execute``. That one wraps each request in pymodbus' own lock and
  ``asyncio.wait_for``, whose timeout surfaces as the same ``ModbusIOException`` as a
  mismatched reply, and which on Python 3.11 can swallow a cancel when the reply lands at
  the same moment (a shutdown that hangs); racing it in a task of its own against connection
  loss cost a task, a set of waiters and three timers per read. Here a request is one future,
  watched by the connection's one reply timer: it fails the future ("no reply in time"), so
  does the connection's loss, and the reply is checked against the request as ``execute``
  checks it (device id, transaction id).
- A register reply of the usual shape (a byte count matching its data) is parsed here, in one
  ``struct.unpack_from``; pymodbus' decoder unpacks each register on its own and formats the
  whole reply as text for a debug line it logs at every reply, ~4 us of a poll's CPU in
  bench/bench_collector.py. Anything else (exceptions, bits, odd shapes) is still pymodbus'.
  Likewise a read request in Modbus TCP framing is the one ``struct.pack`` of the bytes
  ``pdu_send`` would send, without a request object and pymodbus' framing of it (RTU framing,
  with its CRC, still goes through ``pdu_send``).
- When the peer closes the connection while a request is outstanding, pymodbus keeps
  waiting until its timeout. We watch the connection (``trace_connect``) and fail at once
  instead: DeviceUnreachable, or DecodeError if part of a reply had arrived.
- Modbus TCP transaction ids go on across reconnects: pymodbus starts them again at 1 on
  every connection, so the late reply to a request that timed out, handed by a gateway to
  the connection opened after it, carried the id of the new connection's first request
  and was taken for its answer (tests/collector/modbus/test_hostile_devices.py).
- Bytes that no Modbus TCP reply starts with (a protocol id other than 0, a length no frame
  has) fail the request at once as a malformed reply: pymodbus leaves them in its buffer
  and waits for a frame that never comes, until the timeout.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu import bit_message as pdu_bit
from pymodbus.pdu import register_message as pdu_reg

from sitewatch.collector.errors import (
    DecodeError,
    DeviceBusy,
    DeviceRejected,
    DeviceTimeout,
    DeviceUnreachable,
    modbus_exception_meaning,
)
from sitewatch.collector.modbus.config import (
    BIT_TABLES,
    Framing,
    ModbusEndpoint,
    ModbusGateway,
    SerialLine,
    Table,
)
from sitewatch.collector.timers import LazyDeadline

# Longest reads the protocol allows (Modbus Application Protocol: FC3/FC4, FC1/FC2).
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000

# pymodbus' own timeout (for connecting) is longer than any of ours (config: at most 60 s)
# so that it never fires first: ours are enforced here.
_PYMODBUS_TIMEOUT_S = 65.0

_FUNCTION_CODE: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_REQUEST: dict[str, type[ModbusPDU]] = {
    "holding": pdu_reg.ReadHoldingRegistersRequest, "input": pdu_reg.ReadInputRegistersRequest,
    "coil": pdu_bit.ReadCoilsRequest, "discrete": pdu_bit.ReadDiscreteInputsRequest}

# A read request in Modbus TCP framing: MBAP header (transaction id, protocol 0, length of
# what follows, unit id), then function code, address and count.
_MBAP_READ = struct.Struct(">HHHBBHH")
# A reply's transaction id, protocol id and length (of the unit id, function code and data
# that follow): at least a unit id and function code (pymodbus judges what follows), at most
# a 260-byte ADU.
_MBAP_HEADER = struct.Struct(">HHH")
_MBAP_LENGTHS = range(2, 255)

# Register replies parsed here (function code -> pymodbus' reply class): see _RegisterReplies.
_REGISTER_REPLY: dict[int, type[ModbusPDU]] = {
    3: pdu_reg.ReadHoldingRegistersResponse, 4: pdu_reg.ReadInputRegistersResponse}

_EXCEPTION_BUSY = 6
# A Modbus TCP gateway in front of a serial RTU answers these when the RTU itself is
# silent or unreachable: the device, not the register block, is down.
_EXCEPTION_GATEWAY_PATH_UNAVAILABLE = 10
_EXCEPTION_GATEWAY_NO_RESPONSE = 11


@dataclass(frozen=True, slots=True)
class Link:
    """Where one connection goes, and how it is spoken; equal links share one connection."""

    framing: Framing
    host: str | None = None
    port: int = 502
    serial: SerialLine | None = None
    connect_timeout_s: float = 2.0
    pause_s: float = 0.0  # quiet time after each reply

    @classmethod
    def of_gateway(cls, gateway: ModbusGateway) -> Link:
        return cls(gateway.framing, gateway.host, gateway.port, gateway.serial, gateway.timeout_s,
                   gateway.pause_between_requests_ms / 1000)

    @classmethod
    def of_endpoint(cls, endpoint: ModbusEndpoint) -> Link:
        """A station with an address of its own (not behind a gateway)."""
        if endpoint.host is None:
            raise ValueError(f"endpoint behind gateway {endpoint.gateway!r}: use that gateway's link")
        return cls(endpoint.framing, endpoint.host, endpoint.port, None, endpoint.timeout_s)

    def __str__(self) -> str:
        if self.serial is not None:
            s = self.serial
            return f"{s.device} {s.baudrate} {s.bytesize}{s.parity}{s.stopbits}"
        framing = "" if self.framing == "tcp" else " (RTU over TCP)"
        return f"{self.host}:{self.port}{framing}"


class ModbusConnection:
    """One connection shared by the devices behind it. Construction does no I/O; it opens on
    first use and after any failure that closed it."""

    def __init__(self, link: Link, *, name: str) -> None:
        self.link = link
        self._name = name  # pymodbus' log name
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lost: asyncio.Future[None] | None = None  # resolves when the peer drops us
        self._reply: asyncio.Future[ModbusPDU] | None = None  # the outstanding request's
        self._reply_started = False  # bytes of a reply arrived for the current request
        self._reply_deadline = LazyDeadline(self._no_reply_in_time)  # the outstanding request's
        self._lock = asyncio.Lock()  # one request at a time, whatever the framing
        self._mbap = link.serial is None and link.framing != "rtu_over_tcp"  # Modbus TCP: requests framed here
        self._tid = 0  # the last Modbus TCP transaction id sent, over every connection this one opened
        # Device id -> loop time of its last request and of its last reply: the gateway's
        # count of stations answering (of those asked).
        self.asked: dict[int, float] = {}
        self.answered: dict[int, float] = {}

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def open(self, *, asset_id: str) -> None:
        """Open the connection unless it is open; raise DeviceUnreachable or DeviceTimeout."""
        async with self._lock:
            await self._connection(asset_id)

    def read(
        self, *, table: Table, address: int, count: int, device_id: int, timeout_s: float, asset_id: str
    ) -> Coroutine[Any, Any, list[int]]:
        """Read ``count`` registers (or bits, as 0/1) of ``table`` from the 0-based wire
        ``address`` of unit ``device_id``; ``asset_id`` labels the errors."""
        limit = MAX_BITS_PER_READ if table in BIT_TABLES else MAX_REGISTERS_PER_READ
        if not 1 <= count <= limit or not 0 <= address <= 65536 - count:
            raise ValueError(f"cannot read {count} {table} values from address {address}")
        # The request's coroutine itself, not one awaiting it: every frame of the chain is
        # resumed again when the reply arrives.
        return self._read(table, address, count, device_id, timeout_s, asset_id)

    async def close(self) -> None:
        self._drop()

    async def _connection(self, asset_id: str) -> tuple[AsyncModbusTcpClient | AsyncModbusSerialClient,
                                                         asyncio.Future[None]]:
        """The open client and the future that resolves when its connection is lost."""
        if self._client is not None and self._lost is not None and self._client.connected:
            return self._client, self._lost
        self._drop()
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_connection_change(connected: bool) -> None:
            if not connected and not lost.done():
                lost.set_result(None)
                reply = self._reply
                if reply is not None and not reply.done():
                    reply.set_exception(_ConnectionLost())

        # Built per connection: a fresh pymodbus client has no leftover buffer or state from
        # a connection that broke mid-reply, and building one needs a running loop.
        common = {"name": self._name, "timeout": _PYMODBUS_TIMEOUT_S,
                  "retries": 0, "reconnect_delay": 0,  # 0 disables pymodbus' background reconnect
                  "trace_connect": on_connection_change, "trace_packet": self._on_packet}
        link = self.link
        client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if link.serial is not None:
            line = link.serial
            client = AsyncModbusSerialClient(line.device, framer=FramerType.RTU, baudrate=line.baudrate,
                                             bytesize=line.bytesize, parity=line.parity, stopbits=line.stopbits,
                                             **common)
        else:
            assert link.host is not None
            framer = FramerType.RTU if link.framing == "rtu_over_tcp" else FramerType.SOCKET
            client = AsyncModbusTcpClient(link.host, port=link.port, framer=framer, **common)
        framer = client.ctx.framer
        framer.decoder = _RegisterReplies(framer.decoder)
        self._client, self._lost = client, lost
        try:
            async with asyncio.timeout(link.connect_timeout_s):
                opened = await client.connect()
        except TimeoutError:
            self._drop()
            raise DeviceTimeout(device_id=asset_id, message=f"no connection within {link.connect_timeout_s} s",
                                where=str(link)) from None
        if not opened:
            # pymodbus swallows the OSError (refused, no route, no such serial device).
            self._drop()
            raise DeviceUnreachable(device_id=asset_id, message="cannot connect", where=str(link))
        return client, lost

    async def _read(self, table: Table, address: int, count: int, device_id: int, timeout_s: float,
                    asset_id: str) -> list[int]:
        async with self._lock:
            try:
                client, lost = self._client, self._lost
                if client is None or lost is None or not client.connected:
                    client, lost = await self._connection(asset_id)
                loop = asyncio.get_running_loop()
                self.asked[device_id] = loop.time()
                # Only failures need the location text: build it then, not on every read.
                where = functools.partial(self._where, device_id, table, address, count)
                ctx = client.ctx
                if lost.done() or not ctx.transport:
                    self._drop()
                    raise DeviceUnreachable(device_id=asset_id, message="not connected", where=where())
                if self._mbap:
                    tid = self._tid = self._tid % 0xFFFF + 1  # 1..65535: pymodbus checks no id of 0
                else:
                    tid = ctx.getNextTID()  # 0: RTU frames carry no transaction id
                ctx.recv_buffer = b""
                # pymodbus' reader resolves ctx.response_future with the parsed reply.
                self._reply = reply = ctx.response_future = loop.create_future()
                self._reply_started = False
                self._reply_deadline.arm(loop, loop.time() + timeout_s)
                try:
                    if self._mbap:
                        # What pdu_send would send, built in one pack instead of a request object
                        # and pymodbus' framing of it; the reader matches the reply to these ids.
                        ctx.request_dev_id, ctx.request_transaction_id = device_id, tid
                        ctx.low_level_send(_MBAP_READ.pack(tid, 0, 6, device_id, _FUNCTION_CODE[table], address,
                                                           count))
                    else:
                        request = _REQUEST[table](address=address, count=count, dev_id=device_id)
                        request.transaction_id = tid
                        ctx.pdu_send(request)
                    response = await reply
                except _NoReply as exc:
                    self._drop()
                    raise self._no_reply(asset_id, timeout_s, exc, where=where()) from None
                finally:
                    self._reply = None
                    self._reply_deadline.disarm()
                    if not reply.done() or reply.cancelled():
                        # We were cancelled: a reply may still come and would be taken for the next
                        # request's, so this connection is done for.
                        self._drop()
                if (device_id and response.dev_id != device_id) or (
                        response.transaction_id and response.transaction_id != tid):
                    self._drop()
                    raise DecodeError(device_id=asset_id, where=where(),
                                      message=f"reply does not match the request: device id {response.dev_id}, "
                                              f"transaction id {response.transaction_id} for {device_id}, {tid}")
                if isinstance(response, ExceptionResponse):
                    raise self._refusal(asset_id, response.exception_code, where=where())
                if response.function_code != _FUNCTION_CODE[table]:
                    # pymodbus 3.16 hands back whatever reply arrives, even one for another function
                    # code: reading input registers as holding would give wrong values.
                    raise DecodeError(device_id=asset_id, where=where(),
                                      message=f"reply is for function code {response.function_code}, not {_FUNCTION_CODE[table]}")
                if table in BIT_TABLES:
                    bits = response.bits
                    # Bits come in whole bytes, padded with zeros: fewer than asked is a short reply.
                    if len(bits) < count or len(bits) >= count + 8:
                        raise DecodeError(device_id=asset_id, where=where(),
                                          message=f"asked for {count} bits, the reply holds {len(bits)}")
                    self.answered[device_id] = loop.time()
                    return [int(b) for b in bits[:count]]
                registers = list(response.registers)
                if len(registers) != count:
                    raise DecodeError(device_id=asset_id, where=where(),
                                      message=f"asked for {count} registers, the reply holds {len(registers)}")
                self.answered[device_id] = loop.time()
                return registers
            finally:
                if self.link.pause_s:
                    await asyncio.sleep(self.link.pause_s)

    def _no_reply_in_time(self) -> None:
        """The reply deadline (one lazy timer per connection, collector/timers.py) passed."""
        reply = self._reply
        if reply is not None and not reply.done():
            reply.set_exception(_NoReply())

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        # pymodbus passes every packet through here and sends/parses what we return; received
        # data is its whole buffer, from a frame's start on.
        if not sending:
            self._reply_started = True
            if self._mbap and _garbled(data, self._tid):
                reply = self._reply
                if reply is not None and not reply.done():
                    reply.set_exception(_Malformed())
                return b""  # nothing for pymodbus to parse: the connection is dropped
        return data

    def _no_reply(self, asset_id: str, timeout_s: float, exc: _NoReply,
                  where: str) -> DeviceUnreachable | DeviceTimeout | DecodeError:
        if isinstance(exc, _Malformed):
            return DecodeError(device_id=asset_id, message="malformed reply (not a Modbus TCP frame); "
                               "the connection was closed", where=where)
        if not isinstance(exc, _ConnectionLost):
            return DeviceTimeout(device_id=asset_id, message=f"no reply within {timeout_s} s", where=where)
        if self._reply_started:
            # pymodbus closes the connection when it cannot parse a frame (for example a byte
            # count larger than the data), and a peer may close after a partial frame.
            return DecodeError(device_id=asset_id, message="malformed or truncated reply; the connection was closed",
                               where=where)
        return DeviceUnreachable(device_id=asset_id, message="connection lost while waiting for a reply", where=where)

    def _refusal(self, asset_id: str, code: int, *,
                 where: str) -> DeviceRejected | DeviceBusy | DeviceUnreachable | DeviceTimeout:
        # The device answered properly: the connection stays open.
        if code == _EXCEPTION_BUSY:
            return DeviceBusy(device_id=asset_id, message=f"exception {code} (server device busy)", where=where)
        meaning = f"exception {code} ({modbus_exception_meaning(code)}) from the gateway"
        if code == _EXCEPTION_GATEWAY_PATH_UNAVAILABLE:
            return DeviceUnreachable(device_id=asset_id, message=meaning, where=where)
        if code == _EXCEPTION_GATEWAY_NO_RESPONSE:
            return DeviceTimeout(device_id=asset_id, message=meaning, where=where)
        return DeviceRejected(device_id=asset_id, code=code, where=where)

    def _where(self, device_id: int, table: str, address: int, count: int) -> str:
        kind = "bits" if table in BIT_TABLES else "registers"
        return f"{self.link} unit {device_id}, {table} {kind} {address}-{address + count - 1}"

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._lost = None


class _RegisterReplies:
    """pymodbus' reply decoder (``framer.decoder``), but for register replies of the usual
    shape, which are read here: the same reply class and registers as pymodbus would make
    (its decoder reads ``byte count / 2`` big-endian words), without its per-register
    unpacking and the text of the whole reply it builds for a debug line."""

    __slots__ = ("_decoder", "_formats")

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self._formats: dict[int, struct.Struct] = {}  # byte count -> its words' format

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)  # the RTU framer also asks it for frame sizes

    def decode(self, frame: bytes) -> ModbusPDU | None:
        reply_class = _REGISTER_REPLY.get(frame[0]) if len(frame) > 2 else None
        size = len(frame) - 2
        if reply_class is None or frame[1] != size or size % 2:
            return self._decoder.decode(frame)
        words = self._formats.get(size)
        if words is None:
            words = self._formats[size] = struct.Struct(f">{size // 2}H")
        reply = reply_class()
        reply.registers = list(words.unpack_from(frame, 2))
        return reply


class _NoReply(Exception):
    """The outstanding request's reply will not come: no reply in time."""


class _ConnectionLost(_NoReply):
    """... or the connection was lost while waiting for it."""


class _Malformed(_NoReply):
    """... or bytes came that no Modbus TCP reply starts with."""


def _garbled(data: bytes, tid: int) -> bool:
    """Whether received Modbus TCP bytes, from a frame's start on, hold a header no reply has
    before the reply to request ``tid`` (frames pymodbus will skip are checked; a header still
    arriving is not judged yet; what follows the reply is not this request's, and is dropped
    before the next)."""
    at, size = 0, len(data)
    while size - at >= 6:
        frame_tid, protocol, length = _MBAP_HEADER.unpack_from(data, at)
        if protocol or length not in _MBAP_LENGTHS:
            return True
        if frame_tid == tid:
            return False
        at += 6 + length
    return False


class ModbusConnections:
    """One connection per link for the whole process: stations behind one gateway (or one
    address) share it and queue on its lock."""

    def __init__(self) -> None:
        self._open: dict[Link, ModbusConnection] = {}

    def get(self, link: Link, *, name: str) -> ModbusConnection:
        if link not in self._open:
            self._open[link] = ModbusConnection(link, name=name)
        return self._open[link]


class ModbusClient:
    """One device's reads: its unit id and reply timeout, through a connection that may be
    shared. Without one given, it has a connection of its own to the endpoint's address."""

    def __init__(self, *, endpoint: ModbusEndpoint, asset_id: str, connection: ModbusConnection | None = None) -> None:
        self._endpoint = endpoint
        self._asset_id = asset_id  # labels errors; the Modbus unit id is endpoint.device_id
        self.connection = connection if connection is not None else ModbusConnection(
            Link.of_endpoint(endpoint), name=asset_id)

    @property
    def connected(self) -> bool:
        return self.connection.connected

    async def connect(self) -> None:
        await self.connection.open(asset_id=self._asset_id)

    def read(self, *, table: Table, address: int, count: int) -> Coroutine[Any, Any, list[int]]:
        # The connection's coroutine itself, not one awaiting it: a frame fewer to resume per reply.
        return self.connection.read(table=table, address=address, count=count, device_id=self._endpoint.device_id,
                                    timeout_s=self._endpoint.timeout_s, asset_id=self._asset_id)

    async def close(self) -> None:
        # Also a shared connection: closing comes at shutdown, and a connection closed under
        # another device's feet opens again on its next read.
        await self.connection.close()
