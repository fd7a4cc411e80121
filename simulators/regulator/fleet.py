"""Many simulated regulator stations in one process, one Modbus TCP server each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from domain.time import Clock, SystemClock, require_utc
from simulators.common.fleet import FaultFleet
from simulators.regulator.errors import DeviceFailure, FleetNotRunning, UnknownStation
from simulators.regulator.faults import FAULT_KINDS, ActiveFault, fault_params
from simulators.regulator.modbus_server import StationServer
from simulators.regulator.model import Reading, reading_at
from simulators.regulator.registers import REGISTER_COUNT, encode
from simulators.regulator.spec import FleetConfig, StationSpec


class _Station:
    """One station: its spec, faults in force, and its server."""

    def __init__(self, spec: StationSpec, *, clock: Clock, host: str) -> None:
        self.spec = spec
        self.faults: dict[str, ActiveFault] = {}
        self.port: int | None = None  # the bound port, kept across comm_loss
        self.boot_at: datetime | None = None
        self._clock = clock
        self._host = host
        self.server = StationServer(
            device_id=spec.device_id, register_count=REGISTER_COUNT, source=self._registers
        )

    def reading(self, at: datetime) -> Reading:
        if self.boot_at is None:
            raise FleetNotRunning(f"station {self.spec.station_id!r} has not been started")
        return reading_at(self.spec, at, boot_at=self.boot_at, faults=self.faults.values())

    def _registers(self) -> list[int]:
        if "modbus_exception" in self.faults:
            raise DeviceFailure(self.spec.station_id)
        return encode(self.reading(self._clock.now()))

    async def listen(self) -> None:
        self.port = await self.server.open(host=self._host, port=self.port or self.spec.port)

    async def close(self) -> None:
        await self.server.close()

    def fault_ended(self, name: str) -> None:
        del self.faults[name]


class RegulatorFleet(FaultFleet[_Station]):
    """Starts, stops and injects faults into a set of stations; time comes from `clock`."""

    unknown_device = UnknownStation
    offline_fault = "comm_loss"
    fault_kinds = FAULT_KINDS

    def __init__(self, config: FleetConfig, *, clock: Clock | None = None) -> None:
        clock = clock or SystemClock()
        super().__init__(
            {s.station_id: _Station(s, clock=clock, host=config.host) for s in config.stations},
            clock=clock,
        )
        self._config = config

    @property
    def host(self) -> str:
        return self._config.host

    @property
    def stations(self) -> tuple[StationSpec, ...]:
        return self._config.stations

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
