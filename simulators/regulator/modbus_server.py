"""The simulator's Modbus servers: one station on a port of its own (Modbus TCP), or a
gateway carrying RTU frames over TCP for the stations behind it. The only module of the
simulator that imports pymodbus.

pymodbus' API moves between minor releases (FIELD-NOTES), so everything it is asked to do
is here: read-only blocks of holding registers whose contents are computed at request time
by a callback, and listeners that can be closed and re-opened on the same port.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from sitewatch.simulators.regulator.errors import DeviceFailure, PortUnavailable

RegisterSource = Callable[[], Sequence[int]]


class Unit(Protocol):
    """A station behind a gateway, as the gateway sees it."""

    @property
    def answering(self) -> bool:
        """False while the RTU is silent (powered off, cable cut)."""
        ...

    def registers(self) -> Sequence[int]:
        """Its registers now; raising DeviceFailure makes the answer exception code 4."""
        ...


class _Listener(ABC):
    """A pymodbus TCP server that can be opened, closed and opened again."""

    def __init__(self) -> None:
        self._server: ModbusTcpServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    @abstractmethod
    def _server_for(self, host: str, port: int) -> ModbusTcpServer:
        """A new server for one listening period (pymodbus' cannot be started twice)."""

    async def open(self, *, host: str, port: int) -> int:
        """Start listening; returns the bound port (the OS's choice when `port` is 0)."""
        if self._server is not None:
            raise RuntimeError("server is already listening")
        server = self._server_for(host, port)
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus' way of saying the bind failed
            await server.shutdown()
            raise PortUnavailable(f"cannot listen on {host}:{port}: {exc}") from exc
        self._server = server
        # With background=True the listener is an asyncio.Server held in `transport`.
        return server.transport.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()


class StationServer(_Listener):
    """Serves `register_count` holding registers from wire address 0 for one device id.

    `source()` is called on every access and returns the registers; raising DeviceFailure
    makes the answer exception code 4. Addresses past the block answer code 2 and writes
    are refused (code 2) by pymodbus' read-only flag before `source` is called. Other
    device ids answer code 0x0B (gateway target failed to respond).
    """

    def __init__(self, *, device_id: int, register_count: int, source: RegisterSource) -> None:
        super().__init__()
        self._device_id = device_id
        self._register_count = register_count
        self._source = source

    def _server_for(self, host: str, port: int) -> ModbusTcpServer:
        device = _device(self._device_id, self._register_count, self._source)
        # id 0 catches every other device id. Like a TCP gateway with nothing at that
        # address it answers 0x0B; without it pymodbus answers 4 and logs a traceback.
        others = SimDevice(id=0, simdata=[_block(self._register_count)], action=_no_such_device)
        return ModbusTcpServer([device, others], address=(host, port))


class GatewayServer(_Listener):
    """A transparent serial-to-Ethernet converter: RTU frames (CRC, no MBAP header) over TCP,
    one port for the stations behind it, each at its device id with `register_count` holding
    registers from wire address 0 (past them: code 2; a station's DeviceFailure: code 4).

    A request for a device id it does not have, or for a silent station, gets no answer at
    all: on a serial line nobody replies, and a transparent converter passes nothing back
    (no exception 0x0B, which only Modbus TCP gateways send). Requests are answered one at
    a time, in the order they arrive, as the one serial line behind a converter does: each
    is answered within one step of the event loop (the register callback never awaits).
    """

    def __init__(self, *, units: Mapping[int, Unit], register_count: int) -> None:
        super().__init__()
        self._units = units
        self._register_count = register_count

    def _server_for(self, host: str, port: int) -> ModbusTcpServer:
        devices = [
            _device(device_id, self._register_count, unit.registers)
            for device_id, unit in self._units.items()
        ]
        return ModbusTcpServer(
            devices, framer=FramerType.RTU, address=(host, port), trace_pdu=self._on_pdu
        )

    def _on_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        # pymodbus passes every request through here and handles what we return; None drops
        # it before any register is looked at, so no address or function code gets an answer.
        if sending:
            return pdu
        unit = self._units.get(pdu.dev_id)
        return pdu if unit is not None and unit.answering else None


def _block(register_count: int) -> SimData:
    return SimData(
        address=0,
        count=register_count,
        values=0,
        datatype=DataType.REGISTERS,
        readonly=True,
    )


def _device(device_id: int, register_count: int, source: RegisterSource) -> SimDevice:
    async def on_access(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        # pymodbus hands over its register list to be updated in place; the block ends
        # with one guard register of its own, which is left alone.
        try:
            registers = source()
        except DeviceFailure:
            return ExcCodes.DEVICE_FAILURE
        current_registers[0:register_count] = registers
        return None

    return SimDevice(id=device_id, simdata=[_block(register_count)], action=on_access)


async def _no_such_device(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    current_registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE
