"""The only module that imports pymodbus: reads registers from one Modbus TCP endpoint.

pymodbus' API changes between minor releases (3.16: ``device_id=`` replaced ``slave=``), so
everything it raises or returns is translated here into ``collector.errors``. What this
module adds on top of pymodbus 3.16.1, and why:

- pymodbus never retries or reconnects by itself here (``retries=0``, ``reconnect_delay=0``):
  the scheduler owns retries and back-off. After a failure the broken connection is closed
  and the next call connects afresh.
- The endpoint's ``timeout_s`` is enforced here, not by pymodbus: its own request timeout
  surfaces as the same ``ModbusIOException`` as a mismatched reply, so pymodbus is given a
  longer one that never fires first, and our timer alone means "no reply in time".
- When the peer closes the connection while a request is outstanding, pymodbus keeps
  waiting for the reply until its timeout. We watch the connection (``trace_connect``) and
  fail at once instead: DeviceUnreachable, or DecodeError if part of a reply had arrived —
  pymodbus drops the connection itself when it cannot parse a frame (see README, Quirks).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.pdu import ExceptionResponse

from collector.errors import (
    DecodeError,
    DeviceBusy,
    DeviceRejected,
    DeviceTimeout,
    DeviceUnreachable,
    modbus_exception_meaning,
)
from collector.modbus.config import ModbusEndpoint

# Longest read the protocol allows (Modbus Application Protocol, function codes 3 and 4).
MAX_REGISTERS_PER_READ = 125

# pymodbus' own timeout is set this much longer than ours so that it never fires first.
_PYMODBUS_TIMEOUT_MARGIN_S = 5.0

_FUNCTION_CODE = {"holding": 3, "input": 4}

_EXCEPTION_BUSY = 6
# A Modbus TCP gateway in front of a serial RTU answers these when the RTU itself is
# silent or unreachable: the device, not the register block, is down.
_EXCEPTION_GATEWAY_PATH_UNAVAILABLE = 10
_EXCEPTION_GATEWAY_NO_RESPONSE = 11


class ModbusClient:
    """One connection to one endpoint. Construction does no I/O; ``connect`` is lazy.

    One request at a time: the poller reads its blocks in turn, and the scheduler never
    polls one station twice at once.
    """

    def __init__(self, *, endpoint: ModbusEndpoint, asset_id: str) -> None:
        self._endpoint = endpoint
        self._asset_id = asset_id  # labels errors; the Modbus unit id is endpoint.device_id
        self._client: AsyncModbusTcpClient | None = None
        self._lost: asyncio.Future[None] | None = None  # resolves when the peer drops us
        self._reply_started = False  # bytes of a reply arrived for the current request

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Open the connection unless it is open; raise DeviceUnreachable or DeviceTimeout."""
        await self._connection()

    async def _connection(self) -> tuple[AsyncModbusTcpClient, asyncio.Future[None]]:
        """The open client and the future that resolves when its connection is lost."""
        if self._client is not None and self._lost is not None and self._client.connected:
            return self._client, self._lost
        self._drop()
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_connection_change(connected: bool) -> None:
            if not connected and not lost.done():
                lost.set_result(None)

        # Built per connection: a fresh pymodbus client has no leftover buffer or state from
        # a connection that broke mid-reply, and building one needs a running loop.
        client = AsyncModbusTcpClient(
            self._endpoint.host,
            port=self._endpoint.port,
            name=self._asset_id,
            timeout=self._endpoint.timeout_s + _PYMODBUS_TIMEOUT_MARGIN_S,
            retries=0,
            reconnect_delay=0,  # 0 disables pymodbus' background reconnect task
            trace_connect=on_connection_change,
            trace_packet=self._on_packet,
        )
        self._client, self._lost = client, lost
        where = self._where()
        try:
            async with asyncio.timeout(self._endpoint.timeout_s):
                opened = await client.connect()
        except TimeoutError:
            self._drop()
            raise DeviceTimeout(
                device_id=self._asset_id,
                message=f"no TCP connection within {self._endpoint.timeout_s} s",
                where=where,
            ) from None
        if not opened:
            # pymodbus swallows the OSError (refused, no route, bad host) and returns False.
            self._drop()
            raise DeviceUnreachable(device_id=self._asset_id, message="cannot connect", where=where)
        return client, lost

    async def read_registers(
        self, *, function: Literal["holding", "input"], address: int, count: int
    ) -> list[int]:
        """Read ``count`` registers from the 0-based wire ``address``; connect first if needed."""
        if not 1 <= count <= MAX_REGISTERS_PER_READ or not 0 <= address <= 65536 - count:
            raise ValueError(f"cannot read {count} registers from address {address}")
        client, lost = await self._connection()
        # Only failures need the location text: build it then, not on every read.
        where = functools.partial(self._where, function=function, address=address, count=count)
        read = client.read_holding_registers if function == "holding" else client.read_input_registers
        self._reply_started = False
        # A task of its own, raced against connection loss. Awaiting pymodbus directly under a
        # timeout is ~8 % faster but can hang on shutdown: on Python 3.11 the asyncio.wait_for
        # inside pymodbus can swallow a cancel when the reply lands at the same moment.
        request = asyncio.ensure_future(read(address, count=count, device_id=self._endpoint.device_id))
        try:
            done, _ = await asyncio.wait(
                (request, lost), timeout=self._endpoint.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if request not in done:
                raise self._no_reply(lost_connection=lost in done, where=where())
            try:
                response = request.result()
            except ConnectionException as exc:
                self._drop()
                raise DeviceUnreachable(
                    device_id=self._asset_id, message="not connected", where=where()
                ) from exc
            except ModbusIOException as exc:
                # With our timer firing first, pymodbus raises this only for a reply whose
                # device or transaction id does not match the request.
                self._drop()
                raise DecodeError(
                    device_id=self._asset_id, message=f"reply does not match the request: {exc}", where=where()
                ) from exc
        finally:
            if not request.done():
                # Timed out, connection lost, or we were cancelled: a reply may still come and
                # would be taken for the next request's, so this connection is done for.
                request.cancel()
                await asyncio.wait((request,))
                self._drop()
        if isinstance(response, ExceptionResponse):
            raise self._refusal(response.exception_code, where=where())
        if response.function_code != _FUNCTION_CODE[function]:
            # pymodbus 3.16 hands back whatever register reply arrives, even one for another
            # function code: reading input registers as holding would give wrong values.
            raise DecodeError(
                device_id=self._asset_id,
                message=f"reply is for function code {response.function_code}, not {_FUNCTION_CODE[function]}",
                where=where(),
            )
        registers = list(response.registers)
        if len(registers) != count:
            raise DecodeError(
                device_id=self._asset_id,
                message=f"asked for {count} registers, the reply holds {len(registers)}",
                where=where(),
            )
        return registers

    async def close(self) -> None:
        self._drop()

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        # pymodbus passes every packet through here and sends/parses what we return.
        if not sending:
            self._reply_started = True
        return data

    def _no_reply(self, *, lost_connection: bool, where: str) -> DeviceUnreachable | DeviceTimeout | DecodeError:
        if not lost_connection:
            return DeviceTimeout(
                device_id=self._asset_id,
                message=f"no reply within {self._endpoint.timeout_s} s",
                where=where,
            )
        if self._reply_started:
            # pymodbus closes the connection when it cannot parse a frame (for example a byte
            # count larger than the data), and a peer may close after a partial frame.
            return DecodeError(
                device_id=self._asset_id,
                message="malformed or truncated reply; the connection was closed",
                where=where,
            )
        return DeviceUnreachable(
            device_id=self._asset_id, message="connection lost while waiting for a reply", where=where
        )

    def _refusal(self, code: int, *, where: str) -> DeviceRejected | DeviceBusy | DeviceUnreachable | DeviceTimeout:
        # The device answered properly: the connection stays open.
        if code == _EXCEPTION_BUSY:
            return DeviceBusy(device_id=self._asset_id, message=f"exception {code} (server device busy)", where=where)
        meaning = f"exception {code} ({modbus_exception_meaning(code)}) from the gateway"
        if code == _EXCEPTION_GATEWAY_PATH_UNAVAILABLE:
            return DeviceUnreachable(device_id=self._asset_id, message=meaning, where=where)
        if code == _EXCEPTION_GATEWAY_NO_RESPONSE:
            return DeviceTimeout(device_id=self._asset_id, message=meaning, where=where)
        return DeviceRejected(device_id=self._asset_id, code=code, where=where)

    def _where(self, *, function: str | None = None, address: int = 0, count: int = 0) -> str:
        endpoint = f"{self._endpoint.host}:{self._endpoint.port} unit {self._endpoint.device_id}"
        if function is None:
            return endpoint
        return f"{endpoint}, {function} registers {address}-{address + count - 1}"

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._lost = None
