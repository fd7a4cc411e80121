"""The automatic flags of a station's day: pure functions of its summaries and readings."""

from __future__ import annotations

from collections.abc import Iterable

from sitewatch.review.models import ChannelSummary, FieldComparison, Flag, FlagKind


def limit_flags(channel: ChannelSummary) -> list[Flag]:
    """Outside limits: the day's minimum under the asset's low limit, or maximum over its high."""
    flags = []
    if channel.limit_high is not None and channel.max is not None and channel.max > channel.limit_high:
        flags.append(Flag(kind=FlagKind.OUTSIDE_LIMITS, channel=channel.channel,
                          detail=f"max {channel.max:.6g} {channel.unit} above the high limit "
                                 f"{channel.limit_high:.6g} {channel.unit}"))
    if channel.limit_low is not None and channel.min is not None and channel.min < channel.limit_low:
        flags.append(Flag(kind=FlagKind.OUTSIDE_LIMITS, channel=channel.channel,
                          detail=f"min {channel.min:.6g} {channel.unit} below the low limit "
                                 f"{channel.limit_low:.6g} {channel.unit}"))
    return flags


def completeness_flag(channel: ChannelSummary, *, min_ratio: float) -> Flag | None:
    if channel.completeness_ratio >= min_ratio:
        return None
    return Flag(kind=FlagKind.LOW_COMPLETENESS, channel=channel.channel,
                detail=f"{channel.completeness_ratio:.1%} of expected samples "
                       f"({channel.samples_good} of {channel.samples_expected}), under {min_ratio:.0%}")


def field_flags(comparisons: Iterable[FieldComparison]) -> list[Flag]:
    return [
        Flag(kind=FlagKind.FIELD_DISAGREES, channel=c.channel,
             detail=f"SCADA {c.scada_value:.6g} {c.unit} vs field reading {c.field_value:.6g} {c.unit} "
                    f"(tolerance {c.tolerance:.3g} {c.unit})")
        for c in comparisons
        if c.agrees is False
    ]
