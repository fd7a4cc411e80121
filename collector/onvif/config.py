"""ONVIF camera endpoints and their quirks, as written in the deployment's TOML file."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sitewatch.config.tls import ReadableFile, load_ca

_MiB = 1 << 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class OnvifWorkarounds(_Frozen):
    """Camera quirks, kept apart so the normal path stays plain (see README, Quirks)."""

    # Sign WS-UsernameToken with the camera's clock (our UTC + measured offset): cameras
    # with a drifted clock reject tokens whose Created time is minutes off theirs.
    sign_with_camera_clock: bool = True
    # The spec lets GetSystemDateAndTime go unauthenticated; ipycam 1.3 (and some NVRs)
    # demand a token for it too. True skips the unauthenticated attempt (one round trip less).
    auth_for_time: bool = False
    # Renew the PullPoint subscription this long before it expires.
    renew_margin_s: float = Field(default=60.0, gt=0, le=3600)
    # Never renew more often than this: too-frequent Renew calls crash some camera firmwares.
    min_renew_interval_s: float = Field(default=120.0, ge=0, le=3600)
    # Lifetime asked for at CreatePullPointSubscription and on each Renew.
    subscription_s: float = Field(default=600.0, ge=10, le=86400)
    # Some cameras cancel every subscription (an NVR's too) on Unsubscribe: False lets ours
    # expire on its own instead.
    unsubscribe_on_close: bool = True

    @model_validator(mode="after")
    def _renewal_fits(self) -> OnvifWorkarounds:
        if self.renew_margin_s >= self.subscription_s:
            raise ValueError("renew_margin_s must be shorter than subscription_s, or every poll renews")
        return self


class OnvifEndpoint(_Frozen):
    """Where one camera (or encoder, or NVR) answers ONVIF."""

    # "https": SOAP and snapshots over TLS, the camera's certificate verified (README: HTTPS
    # cameras); such a camera usually answers on port = 443, not the default 80.
    scheme: Literal["http", "https"] = "http"
    host: str
    port: int = Field(default=80, ge=1, le=65535)
    # PEM file of the certificates to trust for this camera's https: a private CA, or the
    # camera's own self-signed certificate (trusted as it is, CA or not). None: the system's
    # CA bundle. Also used for https URLs an http camera reports (a snapshot on its port 443).
    ca_file: ReadableFile | None = None
    # False: the certificate must still be one ca_file (or the bundle) vouches for, but may name
    # another host than `host` (cameras addressed by IP, certificates made for a name). The risk:
    # any device holding a certificate from the same CA can then pass for this camera, so keep
    # such a CA to the site's cameras (or trust the camera's own certificate). Verification
    # itself cannot be turned off.
    check_hostname: bool = True
    # Name of the vault entry holding username and password; the poller gets the pair from a
    # callable at every poll, so a rotated password takes effect without a restart.
    credential: str = Field(min_length=1)
    timeout_s: float = Field(default=5.0, gt=0, le=60)  # per SOAP call or snapshot fetch
    snapshot: bool = True  # fetch and judge a snapshot every poll
    events: bool = True  # keep a PullPoint subscription and report motion/tamper/...
    profile: int = Field(default=0, ge=0)  # media profile index used for snapshot and stream URIs
    events_pull_timeout_s: float = Field(default=1.0, ge=0, le=30)  # PullMessages long-poll wait
    # Pull events on their own schedule, this often, instead of once per poll: a tamper or a
    # video loss reaches the control room in seconds, not at the next (slower) health poll.
    events_interval_s: float | None = Field(default=None, ge=0.2, le=3600)
    # Event times are moved onto our clock by the measured offset and refused outside the
    # [collector] window. "arrival": the camera stamps events wrongly (local time as UTC, a
    # clock apart from the one GetSystemDateAndTime reads): stamp them when pulled instead.
    timestamps: Literal["device", "arrival"] = "device"
    # A snapshot longer than this is refused while it streams in (README: Hostile replies); a
    # 4K camera's JPEG is 0.5-2 MB. Bounded: every camera of a worker may fetch at once.
    max_snapshot_bytes: int = Field(default=8 * _MiB, ge=64 * 1024, le=64 * _MiB)
    # Width x height read from the JPEG header, refused over this before decoding; the default is
    # 4096x4096 (a 12 Mpx fisheye fits, an 8192x8192 bomb does not), the ceiling what decode_jpeg
    # can take at all.
    max_snapshot_pixels: int = Field(default=4096 * 4096, ge=320 * 240, le=8192 * 8192)
    # Basic auth sends the password in clear: only over https, unless the installer allows it
    # for a camera that offers nothing else on plain http (ipycam, some encoders).
    allow_basic_over_http: bool = False
    workarounds: OnvifWorkarounds = OnvifWorkarounds()

    @field_validator("ca_file")
    @classmethod
    def _ca_loads(cls, ca_file: Path | None) -> Path | None:
        # Loaded now, so a file without a certificate stops the start with this key, not every
        # poll with a failed handshake.
        if ca_file is not None:
            load_ca(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ca_file)
        return ca_file

    @property
    def device_url(self) -> str:
        # The device service's address is fixed by the ONVIF Core spec; the others come from
        # GetCapabilities.
        return f"{self.scheme}://{self.host}:{self.port}/onvif/device_service"
