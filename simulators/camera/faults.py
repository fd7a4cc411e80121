"""The named faults a camera can be given, their parameters and defaults."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from simulators.camera.errors import InvalidFaultParams, UnknownFault


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    description: str
    defaults: Mapping[str, float] = field(default_factory=dict)
    optional: tuple[str, ...] = ()  # accepted params without a default
    signed: bool = False  # params may be negative (a clock runs fast or slow)
    one_shot: bool = False  # an action at one instant, never listed as in force


def _kind(name: str, description: str, **defaults: float) -> FaultKind:
    return FaultKind(name, description, MappingProxyType(defaults))


FAULT_KINDS: Mapping[str, FaultKind] = MappingProxyType(
    {
        k.name: k
        for k in (
            _kind("offline", "the camera's port is closed: connections are refused"),
            FaultKind(
                "clock_drift",
                "the camera's clock is `seconds` off (negative = slow); WS-UsernameToken "
                "signatures are checked against it",
                MappingProxyType({"seconds": 300.0}),
                signed=True,
            ),
            _kind(
                "wrong_credentials",
                "the camera's password was changed on site: the configured one is refused",
            ),
            _kind("video_loss", "no signal from the sensor; emits tns1:VideoSource/SignalLoss"),
            _kind("covered", "lens covered or sprayed: a dark, flat snapshot"),
            _kind("defocus", "lens knocked out of focus: a blurred snapshot"),
            _kind("frozen", "the encoder is stuck: every snapshot is the same frame"),
            _kind("overexposed", "the sensor is blinded: a washed-out snapshot"),
            _kind(
                "tamper",
                "scene changed abruptly; emits tns1:VideoSource/GlobalSceneChange/ImagingService",
            ),
            _kind("motion", "motion in view; emits tns1:VideoSource/MotionAlarm"),
            _kind(
                "storage_failure",
                "SD card / disk failed; emits tns1:Device/HardwareFailure/StorageFailure",
            ),
            FaultKind(
                "reboot",
                "one-shot: subscriptions dropped, uptime restarts, clock_drift ends (re-synced); "
                "with clock_s the clock instead restarts at that Unix time (no RTC, no NTP yet)",
                optional=("clock_s",),
                one_shot=True,
            ),
        )
    }
)


def known_faults() -> tuple[str, ...]:
    return tuple(FAULT_KINDS)


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in force since `started_at` (the fleet's clock, UTC), every parameter filled in."""

    name: str
    started_at: datetime
    params: Mapping[str, float]


def fault_params(fault: str, params: Mapping[str, object]) -> Mapping[str, float]:
    """The fault's defaults overlaid with `params`; names known, values finite (and > 0 unless signed)."""
    kind = FAULT_KINDS.get(fault)
    if kind is None:
        raise UnknownFault(fault, known=known_faults())
    accepted = (*kind.defaults, *kind.optional)
    merged = dict(kind.defaults)
    for key, value in params.items():
        if key not in accepted:
            raise InvalidFaultParams(fault, f"unknown param {key!r}", known=accepted)
        # bool is an int subclass; a True drift is a mistake, not 1 s.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidFaultParams(fault, f"{key} must be a number, got {value!r}", known=accepted)
        if not math.isfinite(value) or (value <= 0 and not kind.signed):
            bound = "finite" if kind.signed else "finite and > 0"
            raise InvalidFaultParams(fault, f"{key} must be {bound}, got {value}", known=accepted)
        merged[key] = float(value)
    return MappingProxyType(merged)
