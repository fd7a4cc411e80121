"""One station's Modbus TCP server. The only module of the simulator that imports pymodbus.

pymodbus' API moves between minor releases (FIELD-NOTES), so everything it is asked to do
is here: a read-only block of holding registers whose contents are computed at request
time by a callback, and a listener that can be closed and re-opened on the same port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulators.regulator.errors import DeviceFailure, PortUnavailable

RegisterSource = Callable[[], Sequence[int]]


class StationServer:
    """Serves `register_count` holding registers from wire address 0 for one device id.

    `source()` is called on every access and returns the registers; raising DeviceFailure
    makes the answer exception code 4. Addresses past the block answer code 2 and writes
    are refused (code 2) by pymodbus' read-only flag before `source` is called. Other
    device ids answer code 0x0B (gateway target failed to respond).
    """

    def __init__(self, *, device_id: int, register_count: int, source: RegisterSource) -> None:
        self._device_id = device_id
        self._register_count = register_count
        self._source = source
        self._server: ModbusTcpServer | None = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def open(self, *, host: str, port: int) -> int:
        """Start listening; returns the bound port (the OS's choice when `port` is 0)."""
        if self._server is not None:
            raise RuntimeError("server is already listening")
        device = SimDevice(id=self._device_id, simdata=[self._block()], action=self._on_access)
        # id 0 catches every other device id. Like a TCP gateway with nothing at that
        # address it answers 0x0B; without it pymodbus answers 4 and logs a traceback.
        others = SimDevice(id=0, simdata=[self._block()], action=_no_such_device)
        server = ModbusTcpServer([device, others], address=(host, port))
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

    def _block(self) -> SimData:
        return SimData(
            address=0,
            count=self._register_count,
            values=0,
            datatype=DataType.REGISTERS,
            readonly=True,
        )

    async def _on_access(
        self,
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
            registers = self._source()
        except DeviceFailure:
            return ExcCodes.DEVICE_FAILURE
        current_registers[0 : self._register_count] = registers
        return None


async def _no_such_device(
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    current_registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE
