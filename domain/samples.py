"""A measured value with its unit, time and quality."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


class Quality(enum.IntEnum):
    """Stored as a small integer; the names are what the API shows."""

    GOOD = 0
    COMM_ERROR = 1  # the poll failed: value is NaN, kept so gaps are visible
    STALE = 2  # the last good value, older than the asset's poll interval allows


class Sample(NamedTuple):
    """Immutable. A NamedTuple rather than a frozen dataclass: built ~12 times per poll of
    every station, and half the cost matters at hundreds of polls per second; storage also
    transposes batches with ``zip(*samples)``."""

    asset_id: str
    channel: str  # carries its unit as a suffix by convention: outlet_kpa, inlet_mpa
    ts: datetime  # UTC, timezone-aware
    value: float
    unit: str  # "kPa", "MPa", "Nm3/h", "degC", "%LEL", "V", "state"
    quality: Quality = Quality.GOOD

    @property
    def is_good(self) -> bool:
        return self.quality is Quality.GOOD and not math.isnan(self.value)


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Aggregate of one channel of one asset over a time window."""

    asset_id: str
    channel: str
    unit: str
    count: int  # good samples only
    min: float
    max: float
    mean: float
    last: float
    last_ts: datetime | None
