"""Modbus TCP servers for the tests, all on 127.0.0.1.

Two are independent implementations we did not write (pyModbusTCP, umodbus), so our decoder
is checked against someone else's idea of the protocol. The third is a tiny raw server that
sends exactly the bytes a test asks for, to reproduce malformed and missing replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pyModbusTCP.server import DataBank, ModbusServer
from umodbus.exceptions import ModbusError
from umodbus.server.tcp import RequestHandler, get_server

from tests.servers import free_port

HOST = "127.0.0.1"


_STRUCT_CODES = {
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f",
    "int64": "q", "uint64": "Q", "float64": "d",
}


def encode(kind: str, value: float, *, byte_order: str, word_order: str) -> list[int]:
    """Registers for ``value``, built from bytes by hand: independent of our decoder's trick.

    ``word_order="little"`` puts the least significant word first over all the value's words
    (2 for 32-bit types, 4 for 64-bit ones); ``byte_order="little"`` swaps each word's bytes.
    """
    most_significant_first = struct.pack(">" + _STRUCT_CODES[kind], value)
    words = [most_significant_first[i : i + 2] for i in range(0, len(most_significant_first), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def encode_string(text: str, registers: int, byte_order: str = "big", *, pad: bytes = b"\x00") -> list[int]:
    """``registers`` registers holding ASCII ``text``, two characters each, padded with ``pad``
    (devices pad with NULs or spaces). ``byte_order="big"``: the first character is the high
    byte of the first register; ``"little"`` swaps each register's pair."""
    data = text.encode("ascii")
    if len(data) > 2 * registers:
        raise ValueError(f"{text!r} needs {(len(data) + 1) // 2} registers, not {registers}")
    data = data.ljust(2 * registers, pad)
    pairs = [data[i : i + 2] for i in range(0, len(data), 2)]
    if byte_order == "little":
        pairs = [p[::-1] for p in pairs]
    return [int.from_bytes(p, "big") for p in pairs]


# --- pyModbusTCP -------------------------------------------------------------------------


def _bits(table: str, bits: Mapping[int, int] | None) -> dict[int, int]:
    """Coils or discrete inputs (address -> 0/1), checked: a stray 2 would pass as true."""
    bits = dict(bits or {})
    wrong = {a: v for a, v in bits.items() if v not in (0, 1)}
    if wrong:
        raise ValueError(f"{table} take 0 or 1, got {wrong}")
    return bits


@contextlib.contextmanager
def pymodbustcp_server(
    *,
    holding: Mapping[int, int] | None = None,
    inputs: Mapping[int, int] | None = None,
    coils: Mapping[int, int] | None = None,
    discrete_inputs: Mapping[int, int] | None = None,
    registers: int = 0x10000,
    port: int | None = None,
) -> Iterator[int]:
    """Serve the given registers and bits (address -> value, bits 0/1); yields the port.
    ``registers`` is the size of every table. Answers any unit id."""
    bank = DataBank(coils_size=registers, d_inputs_size=registers, h_regs_size=registers, i_regs_size=registers)
    for address, value in (holding or {}).items():
        assert bank.set_holding_registers(address, [value]), f"cannot set holding {address}"
    for address, value in (inputs or {}).items():
        assert bank.set_input_registers(address, [value]), f"cannot set input {address}"
    for address, bit in _bits("coils", coils).items():
        assert bank.set_coils(address, [bool(bit)]), f"cannot set coil {address}"
    for address, bit in _bits("discrete inputs", discrete_inputs).items():
        assert bank.set_discrete_inputs(address, [bool(bit)]), f"cannot set discrete input {address}"
    port = port if port is not None else free_port()
    server = ModbusServer(HOST, port, no_block=True, data_bank=bank)
    server.start()
    try:
        yield port
    finally:
        server.stop()


# --- umodbus -----------------------------------------------------------------------------


class _ClosingTCPServer(socketserver.ThreadingTCPServer):
    """Remembers its connections so that stopping it really drops them, like a dead RTU."""

    allow_reuse_address = True  # restart on the same port while old sockets sit in TIME_WAIT
    daemon_threads = False  # server_close() joins the handler threads

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._connections: list[socket.socket] = []
        self._connections_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.append(request)
        super().process_request(request, client_address)  # type: ignore[arg-type]

    def drop_connections(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):  # already closed by the handler
                    connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def umodbus_server(
    *,
    values: Mapping[int, int] | None = None,
    function_code: int = 3,
    unit: int = 1,
    errors: Mapping[int, type[ModbusError]] | None = None,
    coils: Mapping[int, int] | None = None,
    discrete_inputs: Mapping[int, int] | None = None,
    port: int = 0,
) -> Iterator[int]:
    """Serve ``values`` for one unit and function code; addresses in ``errors`` raise that
    Modbus exception, addresses in neither answer exception 2. ``coils`` (FC1) and
    ``discrete_inputs`` (FC2) are bits (0/1) of the same unit. Yields the port."""
    values = dict(values or {})
    errors = dict(errors or {})
    bits = {1: _bits("coils", coils), 2: _bits("discrete inputs", discrete_inputs)}
    if bits.get(function_code):
        raise ValueError(f"function code {function_code} is served from values, not from its bits argument")
    server = get_server(_ClosingTCPServer, (HOST, port), RequestHandler)

    @server.route(slave_ids=[unit], function_codes=[function_code], addresses=[*values, *errors])
    def read(slave_id: int, function_code: int, address: int) -> int:
        if address in errors:
            raise errors[address]()
        return values[address]

    def read_bit(slave_id: int, function_code: int, address: int) -> int:
        return bits[function_code][address]

    for code, table in bits.items():
        server.route(slave_ids=[unit], function_codes=[code], addresses=list(table))(read_bit)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="umodbus")
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.drop_connections()
        server.server_close()
        thread.join()


# --- raw scripted server -------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    transaction_id: int
    unit: int
    function_code: int
    address: int
    count: int


@dataclass(frozen=True)
class Reply:
    """Bytes to send (none: stay silent), then whether to close the connection."""

    data: bytes = b""
    close: bool = False


def frame(request: Request, pdu: bytes, *, length: int | None = None) -> bytes:
    """An MBAP frame answering ``request``; ``length`` overrides the header's length field."""
    length = len(pdu) + 1 if length is None else length
    return struct.pack(">HHHB", request.transaction_id, 0, length, request.unit) + pdu


def register_reply(request: Request, values: list[int], *, byte_count: int | None = None) -> Reply:
    data = struct.pack(f">{len(values)}H", *values)
    count = len(data) if byte_count is None else byte_count
    return Reply(frame(request, bytes([request.function_code, count]) + data))


def default_values(request: Request) -> list[int]:
    """What the scripted server answers once its script is used up."""
    return [1000 + request.address + i for i in range(request.count)]


@dataclass
class ScriptedServer:
    port: int
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    request_arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set at each request


@contextlib.asynccontextmanager
async def scripted_server(script: list[Callable[[Request], Reply]]) -> AsyncIterator[ScriptedServer]:
    """Answers the n-th request (over all connections) with ``script[n]``, then correctly."""
    pending = list(script)
    handlers: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()
    state = ScriptedServer(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.add(writer)
        state.connections += 1
        try:
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                function_code, address, count = struct.unpack(">BHH", await reader.readexactly(length - 1))
                request = Request(tid, unit, function_code, address, count)
                state.requests.append(request)
                state.request_arrived.set()
                reply = pending.pop(0)(request) if pending else register_reply(request, default_values(request))
                if reply.data:
                    writer.write(reply.data)
                    await writer.drain()
                if reply.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()
        for writer in writers:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
