"""One channel of one asset over an hour, day, week or month: a chart's points, limits and alerts.

Points are time buckets of the store's good samples (min, max, mean), ~300-600 per range
whatever the poll interval, so a phone draws a month as quickly as an hour. Bucket widths are
round multiples of the store's rollups and start on their grid (a multiple of the width since
the epoch, UTC), so the store reads the coarsest rollup that fits (storage/timeseries.py):
the day and week from the 1-minute rollup, the month from the 1-hour one. Limits are the
levels the rules engine judges this channel by (the asset's own limits, rule levels, levels
relative to the regulator's settings) and those settings themselves; alert periods are the
asset's alerts from firing to resolved. Times are UTC; ``time_zone`` is the site's, for the
axis labels.
"""

from __future__ import annotations

import enum
import fnmatch
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, PrincipalDep, SessionDep
from sitewatch.api.pages.common import request_locale
from sitewatch.auth.roles import Principal
from sitewatch.config.models import Asset, Config
from sitewatch.domain.alerts import AlertState
from sitewatch.i18n import labels
from sitewatch.rules.engine import (
    threshold_levels,  # the chart draws the levels the engine judges by
)
from sitewatch.rules.models import CompositeRule, ThresholdRule
from sitewatch.storage.tables import AlertRow
from sitewatch.storage.timeseries import grid_floor
from sitewatch.tickets.words import SEVERITIES

router = APIRouter(prefix="/api", tags=["trends"])


class Range(str, enum.Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# Range -> (span, bucket width): 360 points for an hour, a day and a month, 336 for a week.
# Widths: the hour's 10 s from raw samples (the last hour is not all rolled up anyway);
# 4 and 30 minutes from the 1-minute rollup; 2 hours from the 1-hour rollup.
SPANS: dict[Range, tuple[timedelta, timedelta]] = {
    Range.HOUR: (timedelta(hours=1), timedelta(seconds=10)),
    Range.DAY: (timedelta(days=1), timedelta(minutes=4)),
    Range.WEEK: (timedelta(days=7), timedelta(minutes=30)),
    Range.MONTH: (timedelta(days=30), timedelta(hours=2)),
}

SETTING_NAMES = {
    "set_point_kpa": i18n.lazy("Set point"),
    "lock_up_kpa": i18n.lazy("Lock-up"),
    "relief_kpa": i18n.lazy("Relief"),
    "slam_shut_kpa": i18n.lazy("Slam-shut"),
}
_LEVEL_NAMES = {
    ("alarm", "above"): i18n.lazy("Alarm above"),
    ("alarm", "below"): i18n.lazy("Alarm below"),
    ("critical", "above"): i18n.lazy("Critical above"),
    ("critical", "below"): i18n.lazy("Critical below"),
}


class TrendPoint(BaseModel):
    ts: datetime  # the bucket's start, UTC
    min: float
    max: float
    mean: float
    count: int


class TrendLimit(BaseModel):
    value: float  # in the channel's unit
    kind: str  # alarm | critical (rule levels) | setting (the regulator's pressures)
    label: str  # for people, in the request's language


class AlertPeriod(BaseModel):
    id: int
    channel: str
    label: str  # the channel's label
    severity: str
    severity_label: str
    start: datetime
    end: datetime | None  # None: still firing
    ticket_id: int | None


class TrendPublic(BaseModel):
    asset_id: str
    channel: str
    label: str
    unit: str
    unit_text: str  # as printed after a number: Nm³/h, °C
    digits: int
    states: dict[int, str] | None  # a state channel's words for 0 and 1
    range: Range
    start: datetime
    end: datetime
    bucket_s: float
    time_zone: str  # the site's: show times in it
    points: list[TrendPoint]
    limits: list[TrendLimit]
    alerts: list[AlertPeriod]


def visible_asset(parts: ApiContext, principal: Principal, asset_id: str) -> Asset:
    """The configured asset, if the principal's customer scope covers it; 404 as for an
    unknown one otherwise, so no answer tells that another customer's asset exists."""
    try:
        asset = parts.config.asset(asset_id)
        customer = parts.config.site(asset.site).customer
    except KeyError:
        customer = None
    if customer is None or not principal.sees(customer):
        raise HTTPException(404, detail=f"no asset {asset_id!r}")
    return asset


@router.get("/assets/{asset_id}/trend", response_model=TrendPublic)
def trend(
    request: Request,
    asset_id: str,
    parts: ComponentsDep,
    session: SessionDep,
    principal: PrincipalDep,
    channel: Annotated[str, Query(max_length=64)],
    range_: Annotated[Range, Query(alias="range")] = Range.DAY,
) -> TrendPublic:
    """A plain function: FastAPI runs it in a worker thread, as the store and the database want."""
    asset = visible_asset(parts, principal, asset_id)
    latest = {s.channel: s for s in parts.store.latest(asset_ids=[asset_id])}
    if channel not in latest:
        raise HTTPException(404, detail=f"asset {asset_id!r} has no samples of {channel!r}")
    unit = latest[channel].unit
    span, width = SPANS[range_]
    end = parts.clock.now()
    start = grid_floor(end - span, width)  # the same buckets at every reload, on the rollups' grid
    buckets = parts.store.buckets(asset_id=asset_id, channel=channel, start=start, end=end,
                                  width_s=width.total_seconds())
    periods = alert_periods(session, asset_id, start=start, end=end)
    with i18n.using(request_locale(request, principal)):
        return TrendPublic(
            asset_id=asset_id, channel=channel, label=labels.label(channel), unit=unit,
            unit_text=labels.unit_text(unit), digits=labels.digits(channel, unit),
            states=labels.states(channel, unit), range=range_, start=start, end=end,
            bucket_s=width.total_seconds(), time_zone=parts.config.site(asset.site).time_zone,
            points=[TrendPoint(ts=b.start, min=b.min, max=b.max, mean=b.mean, count=b.count) for b in buckets],
            # A state channel's level (0.5: "on") is no line worth drawing; its alerts are.
            limits=[TrendLimit(value=x.value, kind=x.kind, label=x.text())
                    for x in channel_limits(parts.config, asset, channel) if unit != "state"],
            alerts=[_period(a) for a in periods],
        )


@dataclass(frozen=True, slots=True)
class Limit:
    value: float
    kind: str  # alarm | critical | setting
    name: str  # i18n.lazy
    relative_to: str | None = None  # a level the rule sets as an offset from this regulator setting
    offset: float = 0.0

    def text(self) -> str:
        """In the current locale: "Alarm above", "Alarm above (slam-shut +0)"."""
        name = i18n.gettext(self.name)
        if self.relative_to is None:
            return name
        return i18n.gettext("%(level)s (%(setting)s %(offset)s)", level=name,
                            setting=i18n.gettext(SETTING_NAMES[self.relative_to]), offset=f"{self.offset:+g}")


def channel_limits(config: Config, asset: Asset, channel: str) -> list[Limit]:
    """The levels the threshold rules judge this channel of this asset by (as the engine
    reads them: the asset's limits before the rule's own levels, or offsets from a regulator
    setting), and the regulator's settings on channels a rule compares with them. Lowest
    first; one line per value and kind."""
    settings = asset.regulator.model_dump() if asset.regulator is not None else {}
    found: dict[tuple[float, str], Limit] = {}
    compared_with_settings = False
    for rule in config.rules:
        if rule.asset_kinds and asset.kind not in rule.asset_kinds:
            continue
        if isinstance(rule, CompositeRule):
            compared_with_settings |= any(c.channel == channel and c.relative_to for c in rule.conditions)
            continue
        if not isinstance(rule, ThresholdRule) or not fnmatch.fnmatchcase(channel, rule.channel):
            continue
        compared_with_settings |= rule.relative_to is not None
        levels = threshold_levels(rule, asset.limits.get(channel), settings)
        if levels is None:
            continue
        level, _clear, critical = levels
        for kind, value, offset in (("alarm", level, rule.level), ("critical", critical, rule.critical_level)):
            if not math.isnan(value):
                found.setdefault((value, kind), Limit(value, kind, _LEVEL_NAMES[(kind, rule.direction)],
                                                      relative_to=rule.relative_to, offset=offset or 0.0))
    if compared_with_settings:
        for name, value in settings.items():
            found.setdefault((value, "setting"), Limit(value, "setting", SETTING_NAMES[name]))
    return sorted(found.values(), key=lambda x: (x.value, x.kind))


def alert_periods(session: Session, asset_id: str, *, start: datetime, end: datetime) -> list[AlertRow]:
    """The asset's alerts that fired at some time in [start, end), oldest first."""
    return list(session.scalars(
        select(AlertRow)
        .where(AlertRow.asset_id == asset_id, AlertRow.state != AlertState.PENDING.value,
               AlertRow.started_at < end, or_(AlertRow.resolved_at.is_(None), AlertRow.resolved_at >= start))
        .order_by(AlertRow.started_at, AlertRow.id)
    ))


def _period(alert: AlertRow) -> AlertPeriod:
    return AlertPeriod(id=alert.id, channel=alert.channel, label=labels.label(alert.channel), severity=alert.severity,
                       severity_label=i18n.gettext(SEVERITIES.get(alert.severity, alert.severity)),
                       start=alert.started_at, end=alert.resolved_at, ticket_id=alert.ticket_id)
