"""Many simulated cameras in one process, each on its own port, all served by one HTTP server."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from datetime import datetime

from sitewatch.config.tls import load_pair
from sitewatch.domain.time import Clock, SystemClock
from sitewatch.simulators.camera.camera import Camera, camera_app
from sitewatch.simulators.camera.errors import FleetNotRunning, UnknownCamera
from sitewatch.simulators.camera.faults import FAULT_KINDS, ActiveFault, fault_params
from sitewatch.simulators.camera.listeners import PortListeners
from sitewatch.simulators.camera.spec import CameraSpec, FleetConfig
from sitewatch.simulators.common.fleet import FaultFleet


class CameraFleet(FaultFleet[Camera]):
    """Starts, stops and injects faults into a set of cameras; time comes from `clock`."""

    unknown_device = UnknownCamera
    offline_fault = "offline"
    fault_kinds = FAULT_KINDS

    def __init__(self, config: FleetConfig, *, clock: Clock | None = None) -> None:
        clock = clock or SystemClock()
        listeners: PortListeners[Camera] = PortListeners(
            lambda: camera_app(listeners.target),
            host=config.host,
            name="cameras",
            graceful_shutdown_s=2,  # long-polls are woken first; this is a backstop
            tls=_server_context(config),
        )
        cameras = {
            c.camera_id: Camera(c, clock=clock, host=config.host, scheme=config.scheme, listeners=listeners)
            for c in config.cameras
        }
        super().__init__(cameras, clock=clock)
        self._config = config

    @property
    def host(self) -> str:
        return self._config.host

    @property
    def cameras(self) -> tuple[CameraSpec, ...]:
        return self._config.cameras

    def _boot_all(self) -> None:
        for camera in self._devices.values():
            camera.boot(clock_s=None)

    def spec_of(self, camera_id: str) -> CameraSpec:
        return self._device(camera_id).spec

    def camera_time(self, camera_id: str) -> datetime:
        """What the camera's own clock says now (drift included)."""
        return self._device(camera_id).camera_now()

    def boot_at(self, camera_id: str) -> datetime:
        camera = self._device(camera_id)
        if camera.boot_at is None:
            raise FleetNotRunning(f"camera {camera_id!r} has not been started")
        return camera.boot_at

    def password_of(self, camera_id: str) -> str:
        """The password the camera accepts now (changed by `wrong_credentials`)."""
        return self._device(camera_id).password

    def subscription_count(self, camera_id: str) -> int:
        return self._device(camera_id).events.active_count()

    def snapshot(self, camera_id: str) -> bytes:
        """The JPEG the snapshot URI would serve now."""
        return self._device(camera_id).snapshot_jpeg()

    async def inject(self, camera_id: str, fault: str, /, **params: float) -> ActiveFault:
        """Start `fault` now; injecting an active fault again restarts it with the new params.

        `reboot` is one-shot: it happens now and is not listed among the active faults.
        """
        camera = self._device(camera_id)
        active = ActiveFault(fault, self._clock.now(), fault_params(fault, params))
        if FAULT_KINDS[fault].one_shot:
            camera.boot(clock_s=active.params.get("clock_s"))
            return active
        if fault in camera.faults:
            camera.fault_ended(fault)
        camera.fault_started(active)
        if fault == self.offline_fault and self._running:
            await camera.close()
        return active


def _server_context(config: FleetConfig) -> ssl.SSLContext | None:
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_pair(context, config.tls_cert_file, config.tls_key_file)
    return context


def build(config: FleetConfig | Mapping[str, object], *, clock: Clock | None = None) -> CameraFleet:
    """A fleet from its config (a FleetConfig or the equivalent mapping), not yet started."""
    if not isinstance(config, FleetConfig):
        config = FleetConfig.model_validate(config)
    return CameraFleet(config, clock=clock)
