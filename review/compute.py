"""The review of one site's day, computed from stored aggregates: pure, no I/O.

Inputs are what review/gather.py reads: the store's per-channel aggregates over the
window, the alerts and tickets of the window, and the stations' last field readings with
the SCADA samples nearest their times. The same inputs always give the same review (and
so the same canonical JSON and content hash, review/sign.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sitewatch.config.models import Asset, FieldCheckSettings, ReviewSettings, Site
from sitewatch.domain.samples import ChannelStats
from sitewatch.review.flags import completeness_flag, field_flags, limit_flags
from sitewatch.review.models import (
    AlertEntry,
    ChannelSummary,
    FieldComparison,
    SiteReview,
    StationReview,
    TicketEntry,
    Verdict,
)
from sitewatch.review.schedule import Window

# The kinds of asset the operation log covers (DOMAIN.md: station, cabinet, box).
REGULATOR_KINDS = frozenset({"regulator_station", "regulator_cabinet", "regulator_box"})

# Canonical numbers: the same samples must give the same log, and so the same hash, from
# every time-series backend. They differ below the readings' own precision: a server sums a
# mean in another order than DuckDB's exact decimal sum, VictoriaMetrics keeps 12 to 15
# significant digits of a value, and the servers keep times to the millisecond (DuckDB to
# the microsecond). So what comes from the store enters the review rounded to 6 decimal
# places (a micro-unit: far below any transmitter's resolution) and with times truncated to
# the millisecond. A difference can still straddle a rounding boundary: for a mean summed in
# another order (~1e-15 apart) about once in 10^9 numbers, for a value VictoriaMetrics kept
# to 12 digits about once in 10^6.
CANONICAL_DECIMALS = 6
# The most a review's number differs from the store's by that rounding.
CANONICAL_ROUNDING = 0.5 * 10.0**-CANONICAL_DECIMALS


@dataclass(frozen=True, slots=True)
class FieldReading:
    """A station's last field readings (one inspection's): channel -> value in its unit, and
    when. A round reads inlet, operating and closing pressure minutes apart, so each channel
    may carry its own time (``times``); ``taken_at`` is the last of them."""

    taken_at: datetime
    values: Mapping[str, float]
    times: Mapping[str, datetime] = field(default_factory=dict)

    def at(self, channel: str) -> datetime:
        return self.times.get(channel, self.taken_at)


@dataclass(frozen=True, slots=True)
class ScadaSample:
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class StationInputs:
    """Everything the review needs of one station, besides its configuration."""

    asset: Asset
    channel_units: Mapping[str, str]  # the channels its profile defines
    stats: Sequence[ChannelStats] = ()
    alerts: Sequence[AlertEntry] = ()
    tickets: Sequence[TicketEntry] = ()
    field_reading: FieldReading | None = None
    scada_near_reading: Mapping[str, ScadaSample] = field(default_factory=dict)


def review_site(*, site: Site, window: Window, stations: Sequence[StationInputs],
                settings: ReviewSettings, field_check: FieldCheckSettings = FieldCheckSettings()) -> SiteReview:
    reviews = tuple(
        review_station(s, window=window, settings=settings, field_check=field_check)
        for s in sorted(stations, key=lambda s: s.asset.id)
    )
    return SiteReview(
        site_id=site.id, site_name=site.name, time_zone=site.time_zone, day=window.day,
        window_start=window.start, window_end=window.end,
        completeness_min_ratio=settings.completeness_min_ratio,
        field_tolerance_fraction=field_check.tolerance_fraction, stations=reviews,
    )


def review_station(inputs: StationInputs, *, window: Window, settings: ReviewSettings,
                   field_check: FieldCheckSettings = FieldCheckSettings()) -> StationReview:
    asset = inputs.asset
    expected = expected_samples(window.seconds, asset.poll_interval_s)
    by_channel = {s.channel: s for s in inputs.stats}
    units = dict(inputs.channel_units)
    for stats in inputs.stats:  # a channel the profile no longer has, but the day does
        units.setdefault(stats.channel, stats.unit)
    channels = tuple(
        _channel_summary(channel, unit, by_channel.get(channel), expected=expected, asset=asset)
        for channel, unit in sorted(units.items())
    )
    comparisons = _field_comparisons(inputs, units, field_check)
    flags = []
    for channel in channels:
        flags += limit_flags(channel)
        if (flag := completeness_flag(channel, min_ratio=settings.completeness_min_ratio)) is not None:
            flags.append(flag)
    flags += field_flags(comparisons)
    good = sum(c.samples_good for c in channels)
    total = sum(c.samples_expected for c in channels)
    return StationReview(
        station_id=asset.id, name=asset.name, kind=asset.kind, poll_interval_s=asset.poll_interval_s,
        completeness_ratio=good / total if total else 0.0, channels=channels, field_readings=comparisons,
        alerts=tuple(sorted(inputs.alerts, key=lambda a: (a.started_at, a.id))),
        tickets=tuple(sorted(inputs.tickets, key=lambda t: (t.opened_at, t.id))),
        flags=tuple(flags), verdict=Verdict.ABNORMAL if flags else Verdict.NORMAL,
    )


def expected_samples(window_s: float, poll_interval_s: float) -> int:
    """Polls a healthy station makes in the window (23 h and 25 h days included)."""
    return max(1, round(window_s / poll_interval_s))


def _channel_summary(channel: str, unit: str, stats: ChannelStats | None, *, expected: int,
                     asset: Asset) -> ChannelSummary:
    limits = asset.limits.get(channel)
    good = stats.count if stats is not None else 0
    return ChannelSummary(
        channel=channel, unit=unit, samples_good=good, samples_expected=expected,
        completeness_ratio=good / expected,
        min=canonical_number(stats.min) if stats else None, max=canonical_number(stats.max) if stats else None,
        mean=canonical_number(stats.mean) if stats else None, last=canonical_number(stats.last) if stats else None,
        last_at=canonical_time(stats.last_ts) if stats else None,
        limit_low=limits.low if limits else None, limit_high=limits.high if limits else None,
    )


def _field_comparisons(inputs: StationInputs, units: Mapping[str, str],
                       field_check: FieldCheckSettings) -> tuple[FieldComparison, ...]:
    reading = inputs.field_reading
    if reading is None:
        return ()
    out = []
    for channel, field_value in sorted(reading.values.items()):
        scada = inputs.scada_near_reading.get(channel)
        scada_value = None if scada is None else canonical_number(scada.value)
        tolerance = field_check.tolerance(channel, field_value)
        agrees = None if scada_value is None else abs(scada_value - field_value) <= tolerance
        out.append(FieldComparison(
            channel=channel, unit=units.get(channel, ""), field_value=field_value, taken_at=reading.at(channel),
            scada_value=scada_value, scada_at=None if scada is None else canonical_time(scada.at),
            tolerance=tolerance, agrees=agrees,
        ))
    return tuple(out)


def canonical_number(value: float) -> float | None:
    """A store's number as the review holds it: None for NaN, else rounded to
    CANONICAL_DECIMALS (-0.0 made 0.0: JSON would tell them apart)."""
    return None if math.isnan(value) else round(value, CANONICAL_DECIMALS) + 0.0


def canonical_time(ts: datetime | None) -> datetime | None:
    """A store's time as the review holds it: truncated to the millisecond."""
    return None if ts is None else ts.replace(microsecond=ts.microsecond // 1000 * 1000)
