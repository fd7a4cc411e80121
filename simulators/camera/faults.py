"""The named faults a camera can be given, their parameters and defaults."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sitewatch.simulators.common.faults import ActiveFault, FaultKind, checked_params, kind, kinds

__all__ = ["FAULT_KINDS", "ActiveFault", "FaultKind", "fault_params", "known_faults"]

FAULT_KINDS: Mapping[str, FaultKind] = kinds(
    kind("offline", "the camera's port is closed: connections are refused"),
    FaultKind(
        "clock_drift",
        "the camera's clock is `seconds` off (negative = slow); WS-UsernameToken "
        "signatures are checked against it",
        MappingProxyType({"seconds": 300.0}),
        signed=True,
    ),
    kind(
        "wrong_credentials",
        "the camera's password was changed on site: the configured one is refused",
    ),
    kind("video_loss", "no signal from the sensor; emits tns1:VideoSource/SignalLoss"),
    kind("covered", "lens covered or sprayed: a dark, flat snapshot"),
    kind("defocus", "lens knocked out of focus: a blurred snapshot"),
    kind("frozen", "the encoder is stuck: every snapshot is the same frame"),
    kind("overexposed", "the sensor is blinded: a washed-out snapshot"),
    kind(
        "tamper",
        "scene changed abruptly; emits tns1:VideoSource/GlobalSceneChange/ImagingService",
    ),
    kind("motion", "motion in view; emits tns1:VideoSource/MotionAlarm"),
    kind(
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


def known_faults() -> tuple[str, ...]:
    return tuple(FAULT_KINDS)


def fault_params(fault: str, params: Mapping[str, object]) -> Mapping[str, float]:
    """The fault's defaults overlaid with `params`, checked against its kind."""
    return checked_params(FAULT_KINDS, fault, params)
