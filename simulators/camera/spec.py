"""Camera and fleet specifications: frozen pydantic models, units in the names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sitewatch.config.tls import ReadableFile, check_optional_server_pair

LOOPBACK = "127.0.0.1"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CameraSpec(_Frozen):
    """One simulated IP camera: identity, credentials, and the port its ONVIF server binds."""

    camera_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    port: int = Field(default=0, ge=0, le=65535, description="0 = ephemeral, chosen at start")
    username: str = Field(default="admin", min_length=1)
    password: str = Field(default="sitewatch", min_length=1)
    manufacturer: str = "Sitewatch Sim"
    model: str = "SW-IPC-2M"
    firmware_version: str = "V5.7.3 build 260110"
    serial_number: str = "SIM00000000"
    hardware_id: str = "SWIPC-2M-R2"
    seed: int = Field(default=0, ge=0)  # varies the synthetic scene between cameras
    lighting: Literal["day", "night"] = "day"
    width_px: int = Field(default=640, ge=64, le=3840)
    height_px: int = Field(default=360, ge=48, le=2160)
    # RTSP is advertised, not served: a collector only checks the URI is given.
    rtsp_port: int = Field(default=554, ge=1, le=65535)
    # How far a WS-UsernameToken's Created may be from the camera's own clock.
    auth_tolerance_s: float = Field(default=5.0, gt=0)
    # Lifetime of a PullPoint subscription created without InitialTerminationTime.
    default_subscription_s: float = Field(default=60.0, gt=0)


class FleetConfig(_Frozen):
    cameras: tuple[CameraSpec, ...] = Field(min_length=1)
    host: str = LOOPBACK
    # Both set: every camera answers https only, with this certificate (PEM, chain after it) and
    # its key; the addresses it reports (XAddrs, snapshot URIs, subscriptions) say https.
    tls_cert_file: ReadableFile | None = None
    tls_key_file: ReadableFile | None = None

    @property
    def scheme(self) -> Literal["http", "https"]:
        return "https" if self.tls_cert_file is not None else "http"

    @model_validator(mode="after")
    def _tls_pair(self) -> FleetConfig:
        check_optional_server_pair("camera fleet", self.tls_cert_file, self.tls_key_file)
        return self

    @model_validator(mode="after")
    def _unique(self) -> FleetConfig:
        ids = [c.camera_id for c in self.cameras]
        if len(set(ids)) != len(ids):
            raise ValueError("camera_id values must be unique")
        ports = [c.port for c in self.cameras if c.port]
        if len(set(ports)) != len(ports):
            raise ValueError("fixed ports must be unique (use 0 for ephemeral ports)")
        return self


def make_camera_specs(count: int, *, base_port: int = 0, seed: int = 0) -> tuple[CameraSpec, ...]:
    """`count` cameras cam-001, cam-002 ...; ports base_port+i (ephemeral when 0); seeds seed+i."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if base_port and base_port + count - 1 > 65535:
        raise ValueError(f"base_port {base_port} + {count} cameras runs past port 65535")
    width = max(3, len(str(count)))
    return tuple(
        CameraSpec(
            camera_id=f"cam-{i + 1:0{width}d}",
            seed=seed + i,
            port=base_port + i if base_port else 0,
            serial_number=f"SIM{seed + i:08d}",
        )
        for i in range(count)
    )
