"""Many simulated cameras in one process, one ONVIF HTTP server each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from domain.time import Clock, SystemClock
from simulators.camera.camera import Camera
from simulators.camera.errors import FleetNotRunning, UnknownCamera, UnknownFault
from simulators.camera.faults import FAULT_KINDS, ActiveFault, fault_params, known_faults
from simulators.camera.spec import CameraSpec, FleetConfig


class CameraFleet:
    """Starts, stops and injects faults into a set of cameras; time comes from `clock`."""

    def __init__(self, config: FleetConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock: Clock = clock or SystemClock()
        self._cameras = {c.camera_id: Camera(c, clock=self._clock, host=config.host) for c in config.cameras}
        self._running = False

    @property
    def host(self) -> str:
        return self._config.host

    @property
    def cameras(self) -> tuple[CameraSpec, ...]:
        return self._config.cameras

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Bind every camera's server; on a failure the ones already started are stopped."""
        if self._running:
            raise RuntimeError("fleet already started")
        try:
            for camera in self._cameras.values():
                camera.boot(clock_s=None)
                await camera.listen()
                if "offline" in camera.faults:  # injected before start: bind, then go silent
                    await camera.close()
        except BaseException:  # cleanup only: nothing half-started is left listening
            await self._close_all()
            raise
        self._running = True

    async def stop(self) -> None:
        await self._close_all()
        self._running = False

    async def __aenter__(self) -> CameraFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def spec_of(self, camera_id: str) -> CameraSpec:
        return self._camera(camera_id).spec

    def port_of(self, camera_id: str) -> int:
        camera = self._camera(camera_id)
        if camera.port is None:
            raise FleetNotRunning(f"camera {camera_id!r} has no port until the fleet is started")
        return camera.port

    def camera_time(self, camera_id: str) -> datetime:
        """What the camera's own clock says now (drift included)."""
        return self._camera(camera_id).camera_now()

    def boot_at(self, camera_id: str) -> datetime:
        camera = self._camera(camera_id)
        if camera.boot_at is None:
            raise FleetNotRunning(f"camera {camera_id!r} has not been started")
        return camera.boot_at

    def password_of(self, camera_id: str) -> str:
        """The password the camera accepts now (changed by `wrong_credentials`)."""
        return self._camera(camera_id).password

    def subscription_count(self, camera_id: str) -> int:
        return self._camera(camera_id).events.active_count()

    def snapshot(self, camera_id: str) -> bytes:
        """The JPEG the snapshot URI would serve now."""
        return self._camera(camera_id).snapshot_jpeg()

    def active_faults(self, camera_id: str) -> tuple[ActiveFault, ...]:
        return tuple(self._camera(camera_id).faults.values())

    async def inject(self, camera_id: str, fault: str, /, **params: float) -> ActiveFault:
        """Start `fault` now; injecting an active fault again restarts it with the new params.

        `reboot` is one-shot: it happens now and is not listed among the active faults.
        """
        camera = self._camera(camera_id)
        active = ActiveFault(fault, self._clock.now(), fault_params(fault, params))
        if FAULT_KINDS[fault].one_shot:
            camera.boot(clock_s=active.params.get("clock_s"))
            return active
        if fault in camera.faults:
            camera.fault_ended(fault)
        camera.fault_started(active)
        if fault == "offline" and self._running:
            await camera.close()
        return active

    async def clear(self, camera_id: str, fault: str | None = None) -> tuple[str, ...]:
        """End one fault (or all); returns the names cleared. Inactive faults are a no-op."""
        camera = self._camera(camera_id)
        if fault is not None and fault not in FAULT_KINDS:
            raise UnknownFault(fault, known=known_faults())
        if fault is None:
            names = tuple(camera.faults)
        else:
            names = (fault,) if fault in camera.faults else ()
        if "offline" in names and self._running:
            # Back on the same port; if that fails the fault stays in force and the error says why.
            await camera.listen()
        for name in names:
            camera.fault_ended(name)
        return names

    def _camera(self, camera_id: str) -> Camera:
        try:
            return self._cameras[camera_id]
        except KeyError:
            raise UnknownCamera(camera_id, known=tuple(self._cameras)) from None

    async def _close_all(self) -> None:
        for camera in self._cameras.values():
            await camera.close()


def build(config: FleetConfig | Mapping[str, object], *, clock: Clock | None = None) -> CameraFleet:
    """A fleet from its config (a FleetConfig or the equivalent mapping), not yet started."""
    if not isinstance(config, FleetConfig):
        config = FleetConfig.model_validate(config)
    return CameraFleet(config, clock=clock)
