"""What every fault-injecting fleet does alike: start and stop its devices' servers, look
devices up, and end faults (re-opening the port when the "offline" fault ends)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar, Generic, Protocol, Self, TypeVar

from sitewatch.domain.time import Clock
from sitewatch.simulators.common.errors import FleetNotRunning, UnknownDevice, UnknownFault
from sitewatch.simulators.common.faults import ActiveFault, FaultKind


class Device(Protocol):
    faults: dict[str, ActiveFault]
    port: int | None  # the bound port, kept while offline so the device comes back on it

    async def listen(self) -> None: ...

    async def close(self) -> None: ...

    def fault_ended(self, name: str) -> None: ...


DeviceT = TypeVar("DeviceT", bound=Device)


class FaultFleet(ABC, Generic[DeviceT]):
    """Devices by id; subclasses say what a device is called, which fault takes it offline,
    which faults exist, and how the devices boot."""

    unknown_device: ClassVar[type[UnknownDevice]]
    offline_fault: ClassVar[str]
    fault_kinds: ClassVar[Mapping[str, FaultKind]]

    def __init__(self, devices: Mapping[str, DeviceT], *, clock: Clock) -> None:
        self._devices = dict(devices)
        self._clock = clock
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    @abstractmethod
    def _boot_all(self) -> None:
        """Power every device on, just before their servers bind."""

    async def start(self) -> None:
        """Bind every device's server; on a failure the ones already started are stopped."""
        if self._running:
            raise RuntimeError("fleet already started")
        try:
            self._boot_all()
            for device in self._devices.values():
                await device.listen()
                if self.offline_fault in device.faults:  # injected before start: bind, then go silent
                    await device.close()
        except BaseException:  # cleanup only: nothing half-started is left listening
            await self._close_all()
            raise
        self._running = True

    async def stop(self) -> None:
        await self._close_all()
        self._running = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def port_of(self, device_id: str) -> int:
        device = self._device(device_id)
        if device.port is None:
            noun = self.unknown_device.noun
            raise FleetNotRunning(f"{noun} {device_id!r} has no port until the fleet is started")
        return device.port

    def active_faults(self, device_id: str) -> tuple[ActiveFault, ...]:
        return tuple(self._device(device_id).faults.values())

    async def clear(self, device_id: str, fault: str | None = None) -> tuple[str, ...]:
        """End one fault (or all); returns the names cleared. Inactive faults are a no-op."""
        device = self._device(device_id)
        if fault is not None and fault not in self.fault_kinds:
            raise UnknownFault(fault, known=tuple(self.fault_kinds))
        if fault is None:
            names = tuple(device.faults)
        else:
            names = (fault,) if fault in device.faults else ()
        if self.offline_fault in names and self._running:
            # Back on the same port; if that fails the fault stays in force and the error says why.
            await device.listen()
        for name in names:
            device.fault_ended(name)
        return names

    def _device(self, device_id: str) -> DeviceT:
        try:
            return self._devices[device_id]
        except KeyError:
            raise self.unknown_device(device_id, known=tuple(self._devices)) from None

    async def _close_all(self) -> None:
        for device in self._devices.values():
            await device.close()
