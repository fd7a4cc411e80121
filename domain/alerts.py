"""Alerts as the rules engine reports them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitewatch.i18n.messages import Message


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class AlertState(str, enum.Enum):
    PENDING = "pending"  # condition true, duration not yet reached
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(asset_id: str, rule_id: str, channel: str) -> str:
    """The identity of a fault: one open alert and one open ticket per fingerprint."""
    return f"{asset_id}/{rule_id}/{channel}"


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """A change of an alert's state, emitted by the pure engine, applied by the writer."""

    fingerprint: str
    asset_id: str
    rule_id: str
    channel: str
    state: AlertState  # FIRING or RESOLVED
    at: datetime  # UTC: time of the sample (or tick) that caused it
    severity: Severity
    value: float | None  # the value that caused it, in the channel's unit
    unit: str
    summary: str  # one line for a human, in English: "outlet_kpa 3.45 kPa above 3.20 kPa for 10 s"
    # The fingerprint started flapping: from now on one firing alert stands for the chatter
    # (rules/flapping.py) until it has been quiet for a window.
    flapping: bool = False
    # FIRING only: when the alert's condition began, UTC — the start of the pending stretch
    # (``at`` for a rule without a duration), the last good sample for no-data (when the
    # silence began). Tells a fault that began on fresh samples after an outage from one
    # that began during it. None on RESOLVED transitions.
    began_at: datetime | None = None
    # The summary as a message, shown in each reader's language (i18n/messages.py); None
    # from a source that only has the English (a transition rebuilt from an older row).
    summary_msg: Message | None = None
