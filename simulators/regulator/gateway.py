"""Simulated gateways: serial-to-Ethernet converters (DTUs) carrying RTU frames over TCP for
the stations behind them, and the faults they can be given (down, and back)."""

from __future__ import annotations

from sitewatch.simulators.common.faults import checked_params
from sitewatch.simulators.common.fleet import FaultFleet
from sitewatch.simulators.regulator.errors import UnknownGateway
from sitewatch.simulators.regulator.faults import GATEWAY_FAULT_KINDS, ActiveFault
from sitewatch.simulators.regulator.modbus_server import GatewayServer, Unit
from sitewatch.simulators.regulator.registers import REGISTER_COUNT
from sitewatch.simulators.regulator.spec import GatewaySpec


class Gateway:
    """One gateway: its spec, faults in force, the stations behind it and its server."""

    def __init__(self, spec: GatewaySpec, *, host: str) -> None:
        self.spec = spec
        self.faults: dict[str, ActiveFault] = {}
        self.port: int | None = None  # the bound port, kept while the gateway is down
        # Device id -> station; filled by the fleet before the gateway first listens.
        self.units: dict[int, Unit] = {}
        self._host = host
        self._server = GatewayServer(units=self.units, register_count=REGISTER_COUNT)

    async def listen(self) -> None:
        self.port = await self._server.open(host=self._host, port=self.port or self.spec.port)

    async def close(self) -> None:
        await self._server.close()

    def fault_ended(self, name: str) -> None:
        del self.faults[name]


class GatewayFleet(FaultFleet[Gateway]):
    """The fleet's gateways; `comm_loss` takes one down (refused) until it is cleared."""

    unknown_device = UnknownGateway
    offline_fault = "comm_loss"
    fault_kinds = GATEWAY_FAULT_KINDS

    def _boot_all(self) -> None:
        """A converter keeps no state of its own to reset."""

    async def inject(self, gateway_id: str, fault: str, /, **params: float) -> ActiveFault:
        gateway = self._device(gateway_id)
        active = ActiveFault(fault, self._clock.now(), checked_params(self.fault_kinds, fault, params))
        gateway.faults[fault] = active
        if fault == self.offline_fault and self._running:
            await gateway.close()
        return active
