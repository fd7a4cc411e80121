"""Many simulated regulator stations in one process: one Modbus TCP server each, or behind
a gateway carrying RTU frames over TCP (gateway.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime

from sitewatch.domain.time import Clock, SystemClock, require_utc
from sitewatch.simulators.common.fleet import FaultFleet
from sitewatch.simulators.regulator.errors import DeviceFailure, FleetNotRunning, UnknownStation
from sitewatch.simulators.regulator.faults import FAULT_KINDS, ActiveFault, fault_params
from sitewatch.simulators.regulator.gateway import Gateway, GatewayFleet
from sitewatch.simulators.regulator.modbus_server import StationServer
from sitewatch.simulators.regulator.model import Reading, reading_at
from sitewatch.simulators.regulator.registers import REGISTER_COUNT, encode
from sitewatch.simulators.regulator.spec import FleetConfig, GatewaySpec, StationSpec


class _Station(ABC):
    """One station: its spec, faults in force, and how it answers (`listen`, `close`)."""

    def __init__(self, spec: StationSpec, *, clock: Clock) -> None:
        self.spec = spec
        self.faults: dict[str, ActiveFault] = {}
        self.port: int | None = None  # where it answers, kept across comm_loss
        self.boot_at: datetime | None = None
        self._clock = clock

    def reading(self, at: datetime) -> Reading:
        if self.boot_at is None:
            raise FleetNotRunning(f"station {self.spec.station_id!r} has not been started")
        return reading_at(self.spec, at, boot_at=self.boot_at, faults=self.faults.values())

    def registers(self) -> list[int]:
        if "modbus_exception" in self.faults:
            raise DeviceFailure(self.spec.station_id)
        return encode(self.reading(self._clock.now()))

    @abstractmethod
    async def listen(self) -> None:
        """Start answering (again)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop answering: what comm_loss does."""

    def fault_ended(self, name: str) -> None:
        del self.faults[name]


class _OwnPortStation(_Station):
    """A station with a Modbus TCP server of its own; comm_loss closes it (refused)."""

    def __init__(self, spec: StationSpec, *, clock: Clock, host: str) -> None:
        super().__init__(spec, clock=clock)
        self._host = host
        self._server = StationServer(
            device_id=spec.device_id, register_count=REGISTER_COUNT, source=self.registers
        )

    async def listen(self) -> None:
        self.port = await self._server.open(host=self._host, port=self.port or self.spec.port)

    async def close(self) -> None:
        await self._server.close()


class _GatewayStation(_Station):
    """A station at its device id behind a gateway's port; comm_loss makes it silent (an RTU
    that stopped answering), while the gateway and the stations beside it go on."""

    def __init__(self, spec: StationSpec, *, clock: Clock, gateway: Gateway) -> None:
        super().__init__(spec, clock=clock)
        self.answering = False
        self._gateway = gateway

    async def listen(self) -> None:
        self.port = self._gateway.port  # the gateways start before the stations
        self.answering = True

    async def close(self) -> None:
        self.answering = False


class RegulatorFleet(FaultFleet[_Station]):
    """Starts, stops and injects faults into a set of stations; time comes from `clock`."""

    unknown_device = UnknownStation
    offline_fault = "comm_loss"
    fault_kinds = FAULT_KINDS

    def __init__(self, config: FleetConfig, *, clock: Clock | None = None) -> None:
        clock = clock or SystemClock()
        gateways = {g.gateway_id: Gateway(g, host=config.host) for g in config.gateways}
        stations: dict[str, _Station] = {}
        for spec in config.stations:
            if spec.gateway is None:
                stations[spec.station_id] = _OwnPortStation(spec, clock=clock, host=config.host)
            else:
                gateway = gateways[spec.gateway]
                station = _GatewayStation(spec, clock=clock, gateway=gateway)
                gateway.units[spec.device_id] = station
                stations[spec.station_id] = station
        super().__init__(stations, clock=clock)
        self._config = config
        self.gateways = GatewayFleet(gateways, clock=clock)

    @property
    def host(self) -> str:
        return self._config.host

    @property
    def stations(self) -> tuple[StationSpec, ...]:
        return self._config.stations

    @property
    def gateway_specs(self) -> tuple[GatewaySpec, ...]:
        return self._config.gateways

    async def start(self) -> None:
        """The gateways first (their stations answer on their ports), then the stations."""
        await self.gateways.start()
        try:
            await super().start()
        except BaseException:  # cleanup only: nothing half-started is left listening
            await self.gateways.stop()
            raise

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            await self.gateways.stop()

    def _boot_all(self) -> None:
        boot_at = self._clock.now()
        for station in self._devices.values():
            station.boot_at = boot_at  # a (re)started fleet is a rebooted RTU: uptime from 0

    def spec_of(self, station_id: str) -> StationSpec:
        return self._device(station_id).spec

    def reading(self, station_id: str, *, at: datetime | None = None) -> Reading:
        """The values the station reports at `at` (default: the clock's now)."""
        when = self._clock.now() if at is None else require_utc(at)
        return self._device(station_id).reading(when)

    async def inject(self, station_id: str, fault: str, /, **params: float) -> ActiveFault:
        """Start `fault` now; injecting an active fault again restarts it with the new params."""
        station = self._device(station_id)
        active = ActiveFault(fault, self._clock.now(), fault_params(fault, params))
        station.faults[fault] = active
        if fault == self.offline_fault and self._running:
            await station.close()
        return active


def build(
    config: FleetConfig | Mapping[str, object], *, clock: Clock | None = None
) -> RegulatorFleet:
    """A fleet from its config (a FleetConfig or the equivalent mapping), not yet started."""
    if not isinstance(config, FleetConfig):
        config = FleetConfig.model_validate(config)
    return RegulatorFleet(config, clock=clock)
