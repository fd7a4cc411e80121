"""The log's words in the reader's language: verdicts, severities, the window, and the flags.

A log's content is signed as it was generated, English flag details included; what a
reader sees is rendered again here from the same numbers (the channel's summary, the
field comparison) in the current locale, so a signed log reads in Chinese or English
alike without its hash changing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sitewatch import i18n
from sitewatch.domain.time import to_local
from sitewatch.review.models import (
    ChannelSummary,
    FieldComparison,
    Flag,
    FlagKind,
    SiteReview,
    StationReview,
)

VERDICTS = {"normal": i18n.lazy("normal"), "abnormal": i18n.lazy("abnormal")}
# The msgids of the ticket pages' severities (api/pages/ticket_views.py), translated there.
SEVERITIES = {"info": i18n.lazy("Info"), "warning": i18n.lazy("Warning"), "major": i18n.lazy("Major"),
              "critical": i18n.lazy("Critical")}


def label(table: dict[str, str], code: str) -> str:
    """A code's translated label; an unknown code as it is."""
    return i18n.gettext(table[code]) if code in table else code


def local(ts: datetime | None, review: SiteReview, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "-" if ts is None else to_local(ts, review.time_zone).strftime(fmt)


def window_text(review: SiteReview) -> str:
    hours = (review.window_end - review.window_start).total_seconds() / 3600
    return i18n.gettext("%(start)s to %(end)s %(zone)s (%(hours)s h)",
                        start=local(review.window_start, review, "%Y-%m-%d %H:%M"),
                        end=local(review.window_end, review, "%Y-%m-%d %H:%M"), zone=review.time_zone,
                        hours=format(hours, "g"))


def _limits(c: ChannelSummary) -> list[str]:
    out = []
    if c.limit_high is not None and c.max is not None and c.max > c.limit_high:
        out.append(i18n.gettext("max %(value)s %(unit)s above the high limit %(limit)s %(unit)s",
                                value=format(c.max, ".6g"), limit=format(c.limit_high, ".6g"), unit=c.unit))
    if c.limit_low is not None and c.min is not None and c.min < c.limit_low:
        out.append(i18n.gettext("min %(value)s %(unit)s below the low limit %(limit)s %(unit)s",
                                value=format(c.min, ".6g"), limit=format(c.limit_low, ".6g"), unit=c.unit))
    return out


def _completeness(c: ChannelSummary, review: SiteReview) -> list[str]:
    return [i18n.gettext("%(ratio)s of expected samples (%(good)s of %(expected)s), under %(threshold)s",
                         ratio=format(c.completeness_ratio, ".1%"), good=c.samples_good, expected=c.samples_expected,
                         threshold=format(review.completeness_min_ratio, ".0%"))]


def _field(f: FieldComparison) -> list[str]:
    if f.scada_value is None:
        return []
    return [i18n.gettext("SCADA %(scada)s %(unit)s vs field reading %(field)s %(unit)s (tolerance %(tolerance)s "
                         "%(unit)s)", scada=format(f.scada_value, ".6g"), field=format(f.field_value, ".6g"),
                         tolerance=format(f.tolerance, ".3g"), unit=f.unit)]


def flag_lines(station: StationReview, review: SiteReview) -> list[tuple[str, str]]:
    """(channel, text) for each of the station's flags, in the current locale; a flag whose
    numbers are not in the log (an older format) keeps its stored detail."""
    channels = {c.channel: c for c in station.channels}
    readings = {f.channel: f for f in station.field_readings if f.agrees is False}
    texts: dict[FlagKind, Callable[[Flag], list[str]]] = {
        FlagKind.OUTSIDE_LIMITS: lambda f: _limits(channels[f.channel]) if f.channel in channels else [],
        FlagKind.LOW_COMPLETENESS: lambda f: _completeness(channels[f.channel], review) if f.channel in channels else [],
        FlagKind.FIELD_DISAGREES: lambda f: _field(readings[f.channel]) if f.channel in readings else [],
    }
    out: list[tuple[str, str]] = []
    done: set[tuple[FlagKind, str]] = set()
    for flag in station.flags:
        if (flag.kind, flag.channel) in done:  # both limits of a channel: rendered together
            continue
        done.add((flag.kind, flag.channel))
        out += [(flag.channel, text) for text in texts[flag.kind](flag) or [flag.detail]]
    return out


def agreement(f: FieldComparison) -> str:
    if f.agrees is None:
        return i18n.gettext("no SCADA value")
    return i18n.gettext("agrees") if f.agrees else i18n.gettext("DISAGREES")
