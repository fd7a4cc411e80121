"""Device health: one record per device, written by the collector's scheduler alone."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class HealthState(str, enum.Enum):
    UNKNOWN = "unknown"  # not polled yet
    ONLINE = "online"
    DEGRADED = "degraded"  # failing, not yet past the offline threshold
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    device_id: str
    state: HealthState = HealthState.UNKNOWN
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    polls_ok: int = 0
    polls_failed: int = 0
    exception_responses: int = 0  # the device answered with a Modbus exception
    malformed_replies: int = 0  # a reply that could not be decoded
    timeouts: int = 0
