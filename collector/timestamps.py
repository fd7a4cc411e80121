"""Whether a device's own timestamp is believed: the rule every protocol applies to device time.

A message's time is checked against the window around its arrival (``[collector]``'s
``max_timestamp_age_s`` / ``max_timestamp_lead_s``); outside it, it is refused with
``TimestampOutOfRange``, so one clock set wrong cannot pin a live value or hide in the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sitewatch.collector.errors import DecodeError, TimestampOutOfRange

if TYPE_CHECKING:
    from sitewatch.config.models import CollectorSettings  # which imports the protocols' configs, so not at run time


@dataclass(frozen=True, slots=True)
class TimestampWindow:
    """How far a device's own timestamp may stray from its arrival time ([collector] settings)."""

    max_age_s: float = 604800.0  # 7 days: a host replaying a week-old buffer is still believed
    max_lead_s: float = 300.0  # 5 min: clock jitter and NTP steps, not a clock set to the future

    @classmethod
    def of(cls, collector: CollectorSettings) -> TimestampWindow:
        """The window ``[collector]`` sets (``max_timestamp_age_s``, ``max_timestamp_lead_s``)."""
        return cls(max_age_s=collector.max_timestamp_age_s, max_lead_s=collector.max_timestamp_lead_s)

    def check(self, ts: datetime, *, received_at: datetime, device_id: str, where: str = "") -> datetime:
        """``ts`` (timezone-aware) in UTC; DecodeError if UTC cannot hold it, TimestampOutOfRange if outside."""
        try:
            utc = ts.astimezone(timezone.utc)
        except OverflowError:
            # e.g. 0001-01-01T00:00:00+05:00: valid ISO 8601, but before year 1 in UTC.
            raise DecodeError(
                device_id=device_id, message=f"timestamp {ts.isoformat()} cannot be represented in UTC", where=where
            ) from None
        if utc > received_at + timedelta(seconds=self.max_lead_s):
            limit = f"at most {self.max_lead_s:g} s ahead: max_timestamp_lead_s"
        elif utc < received_at - timedelta(seconds=self.max_age_s):
            limit = f"at most {self.max_age_s:g} s old: max_timestamp_age_s"
        else:
            return utc
        raise TimestampOutOfRange(device_id=device_id, ts=utc, received_at=received_at, limit=limit, where=where)
