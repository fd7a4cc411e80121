"""Milliseconds since the epoch: the resolution samples are stored at on these servers
(VictoriaMetrics' own; polls are at least a second apart). Integer arithmetic throughout:
a float of epoch seconds puts 12:00:00.123000 at ...122.99999 ms, one ms early."""

from __future__ import annotations

from datetime import datetime, timedelta

from sitewatch.domain.time import UTC, require_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def to_ms(ts: datetime) -> int:
    """Truncated to the millisecond (floor); a naive datetime raises ValueError."""
    return (require_utc(ts) - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def seconds_text(ms: int) -> str:
    """Exact decimal seconds, as query APIs take a time: 1772323200.123."""
    return f"{ms // 1000}.{ms % 1000:03d}"
