"""Many simulated regulator stations in one process, one Modbus TCP server each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from domain.time import Clock, SystemClock, require_utc
from simulators.regulator.errors import DeviceFailure, FleetNotRunning, UnknownFault, UnknownStation
from simulators.regulator.faults import FAULT_KINDS, ActiveFault, fault_params, known_faults
from simulators.regulator.modbus_server import StationServer
from simulators.regulator.model import Reading, reading_at
from simulators.regulator.registers import REGISTER_COUNT, encode
from simulators.regulator.spec import FleetConfig, StationSpec


class _Station:
    """One station: its spec, faults in force, and its server."""

    def __init__(self, spec: StationSpec, *, clock: Clock) -> None:
        self.spec = spec
        self.faults: dict[str, ActiveFault] = {}
        self.port: int | None = None  # the bound port, kept across comm_loss
        self.boot_at: datetime | None = None
        self._clock = clock
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

    async def listen(self, host: str) -> None:
        self.port = await self.server.open(host=host, port=self.port or self.spec.port)


class RegulatorFleet:
    """Starts, stops and injects faults into a set of stations; time comes from `clock`."""

    def __init__(self, config: FleetConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock: Clock = clock or SystemClock()
        self._stations = {s.station_id: _Station(s, clock=self._clock) for s in config.stations}
        self._running = False

    @property
    def host(self) -> str:
        return self._config.host

    @property
    def stations(self) -> tuple[StationSpec, ...]:
        return self._config.stations

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Bind every station's server; on a failure the ones already started are stopped."""
        if self._running:
            raise RuntimeError("fleet already started")
        boot_at = self._clock.now()
        try:
            for station in self._stations.values():
                station.boot_at = boot_at  # a (re)started fleet is a rebooted RTU: uptime from 0
                await station.listen(self.host)
                if "comm_loss" in station.faults:  # injected before start: bind, then go silent
                    await station.server.close()
        except BaseException:  # cleanup only: nothing half-started is left listening
            await self._close_all()
            raise
        self._running = True

    async def stop(self) -> None:
        await self._close_all()
        self._running = False

    async def __aenter__(self) -> RegulatorFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def spec_of(self, station_id: str) -> StationSpec:
        return self._station(station_id).spec

    def port_of(self, station_id: str) -> int:
        station = self._station(station_id)
        if station.port is None:
            raise FleetNotRunning(f"station {station_id!r} has no port until the fleet is started")
        return station.port

    def active_faults(self, station_id: str) -> tuple[ActiveFault, ...]:
        return tuple(self._station(station_id).faults.values())

    def reading(self, station_id: str, *, at: datetime | None = None) -> Reading:
        """The values the station reports at `at` (default: the clock's now)."""
        when = self._clock.now() if at is None else require_utc(at)
        return self._station(station_id).reading(when)

    async def inject(self, station_id: str, fault: str, /, **params: float) -> ActiveFault:
        """Start `fault` now; injecting an active fault again restarts it with the new params."""
        station = self._station(station_id)
        active = ActiveFault(fault, self._clock.now(), fault_params(fault, params))
        station.faults[fault] = active
        if fault == "comm_loss" and self._running:
            await station.server.close()
        return active

    async def clear(self, station_id: str, fault: str | None = None) -> tuple[str, ...]:
        """End one fault (or all); returns the names cleared. Inactive faults are a no-op."""
        station = self._station(station_id)
        if fault is not None and fault not in FAULT_KINDS:
            raise UnknownFault(fault, known=known_faults())
        if fault is None:
            names = tuple(station.faults)
        else:
            names = (fault,) if fault in station.faults else ()
        if "comm_loss" in names and self._running:
            # Back on the same port; if that fails the fault stays in force and the error says why.
            await station.listen(self.host)
        for name in names:
            del station.faults[name]
        return names

    def _station(self, station_id: str) -> _Station:
        try:
            return self._stations[station_id]
        except KeyError:
            raise UnknownStation(station_id, known=tuple(self._stations)) from None

    async def _close_all(self) -> None:
        for station in self._stations.values():
            await station.server.close()


def build(
    config: FleetConfig | Mapping[str, object], *, clock: Clock | None = None
) -> RegulatorFleet:
    """A fleet from its config (a FleetConfig or the equivalent mapping), not yet started."""
    if not isinstance(config, FleetConfig):
        config = FleetConfig.model_validate(config)
    return RegulatorFleet(config, clock=clock)
