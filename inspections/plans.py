"""The inspection plans of DOMAIN.md's table, as data, and when each one is next due.

Pure: no database, no clock. Everything is counted in the site's own calendar: "every
two weeks" and "monthly" run from the local date the last inspection was done (a round
at 01:00 in Shanghai on Feb 1 is a February round, though it is still Jan 31 in UTC).
Months are clamped to the month's end: monthly from Jan 31 is due Feb 28 (Feb 29 in a
leap year), and an overhaul 8 years after 2020-02-29 is due 2028-02-29.

A plan's ``due_on`` is the last day it may be done: the day after, it is overdue.
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sitewatch.i18n import lazy
from sitewatch.inspections.checklists import CHECKLISTS, Item

REGULATORS = frozenset({"regulator_station", "regulator_cabinet", "regulator_box"})
SECURITY = frozenset({"camera", "encoder", "nvr", "alarm_host"})


@dataclass(frozen=True, slots=True)
class Every:
    months: int = 0
    days: int = 0


@dataclass(frozen=True, slots=True)
class Season:
    name: str
    start: tuple[int, int]  # (month, day), local calendar
    end: tuple[int, int]  # inclusive


SPRING = Season("spring", (3, 1), (5, 31))
AUTUMN = Season("autumn", (9, 1), (11, 30))


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str  # also the InspectionRow.kind that does it
    title: str  # English, marked for translation: shown with i18n.gettext(title)
    source: str  # the rule book article
    target_kinds: frozenset[str]  # asset kinds (config AssetKind) or plant kinds (PlantItem.kind)
    every: Every | None = None
    seasons: tuple[Season, ...] = ()
    # Regulator overhaul: years in service by origin, counted from installed_on, then from the last overhaul.
    overhaul_years: Mapping[str, int] | None = None
    after_rain_days: int | None = None  # low-lying valve wells: due this many days after a rain
    min_people: int = 1
    min_dn_mm: int | None = None  # valves: applies from this size up
    below_dn_mm: int | None = None  # valves: applies below this size
    compare_with_scada: bool = False  # field readings checked against SCADA at the same moment

    @property
    def items(self) -> tuple[Item, ...]:
        return CHECKLISTS[self.kind]

    def applies_to(self, target: "Target") -> bool:
        if target.kind not in self.target_kinds:
            return False
        if self.after_rain_days is not None and not target.low_lying:
            return False
        if self.overhaul_years is not None and (target.origin is None or target.installed_on is None):
            return False
        if self.min_dn_mm is not None and (target.dn_mm is None or target.dn_mm < self.min_dn_mm):
            return False
        if self.below_dn_mm is not None and (target.dn_mm is None or target.dn_mm >= self.below_dn_mm):
            return False
        return True


PLANS: tuple[Plan, ...] = (
    Plan("regulator_round", lazy("Regulator round (at least two people, one in charge)"), "rule book 12 arts. 7-8",
         REGULATORS, every=Every(days=14), min_people=2, compare_with_scada=True),
    Plan("regulator_seasonal", lazy("Spring and autumn regulator maintenance"), "rule book 12 arts. 9-10",
         REGULATORS, seasons=(SPRING, AUTUMN), compare_with_scada=True),
    Plan("regulator_overhaul", lazy("Regulator overhaul by the maker"), "rule book 12 art. 10.4",
         REGULATORS, overhaul_years=MappingProxyType({"domestic": 5, "imported": 8})),
    Plan("valve_well_seasonal", lazy("Spring and autumn valve-well inspection"), "rule book 12 art. 11",
         frozenset({"valve_well"}), seasons=(SPRING, AUTUMN)),
    Plan("valve_well_after_rain", lazy("Low-lying valve well after rain"), "rule book 12 art. 11",
         frozenset({"valve_well"}), after_rain_days=2),
    Plan("valve_yearly", lazy("Valve DN65 and up: yearly overhaul"), "rule book 12 art. 12",
         frozenset({"valve"}), every=Every(months=12), min_dn_mm=65),
    Plan("valve_triennial", lazy("Valve under DN65: survey every three years"), "rule book 12 art. 12",
         frozenset({"valve"}), every=Every(months=36), below_dn_mm=65),
    Plan("cathodic_protection", lazy("Cathodic protection potential, quarterly"), "rule book 12 art. 13",
         frozenset({"cathodic_protection"}), every=Every(months=3)),
    Plan("security_monthly", lazy("Security system, monthly, device by device"), "rule books 1 and 19",
         SECURITY, every=Every(months=1)),
)
PLAN_KINDS = frozenset(p.kind for p in PLANS)
_BY_KIND = {p.kind: p for p in PLANS}


def plan(kind: str) -> Plan:
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"no inspection plan {kind!r}; known: {', '.join(sorted(PLAN_KINDS))}") from None


@dataclass(frozen=True, slots=True)
class Target:
    """Something a plan is done on: a configured asset or a plant item of a site."""

    site_id: str
    target_id: str
    kind: str
    name: str = ""
    dn_mm: int | None = None
    low_lying: bool = False
    installed_on: date | None = None
    origin: str | None = None  # regulators: domestic | imported


class Status(str, enum.Enum):
    OVERDUE = "overdue"
    DUE = "due"
    SCHEDULED = "scheduled"  # not yet within the horizon


@dataclass(frozen=True, slots=True)
class Due:
    kind: str
    target: Target
    status: Status
    due_on: date  # site-local: the last day it may be done
    last_done_on: date | None
    reason: str
    window_start: date | None = None  # seasonal plans: the season's first day
    extra: dict = field(default_factory=dict)


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's end (Jan 31 + 1 month = Feb 28 or 29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_date(ts: datetime, time_zone: str) -> date:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: timestamps must be timezone-aware")
    return ts.astimezone(ZoneInfo(time_zone)).date()


def next_due(
    p: Plan, target: Target, *, now: datetime, time_zone: str, last_done_at: datetime | None,
    rain_at: datetime | None = None, horizon_days: int = 7,
) -> Due | None:
    """When ``p`` is next due on ``target``; None when nothing is (no rain since the last
    after-rain check, an overhaul with no installation date)."""
    today = local_date(now, time_zone)
    last = local_date(last_done_at, time_zone) if last_done_at is not None else None
    horizon = timedelta(days=horizon_days)

    def status(due_on: date, starts: date | None = None) -> Status:
        if today > due_on:
            return Status.OVERDUE
        return Status.DUE if today >= (starts or due_on) - horizon else Status.SCHEDULED

    if p.after_rain_days is not None:
        if rain_at is None or (last_done_at is not None and last_done_at >= rain_at):
            return None
        rained = local_date(rain_at, time_zone)
        due_on = rained + timedelta(days=p.after_rain_days)
        return Due(p.kind, target, status(due_on, rained), due_on, last, f"rain on {rained.isoformat()}")
    if p.overhaul_years is not None:
        if target.origin is None or target.installed_on is None:
            return None
        years = p.overhaul_years[target.origin]
        base = last or target.installed_on
        due_on = add_months(base, 12 * years)
        since = "the last overhaul" if last else "installation"
        return Due(p.kind, target, status(due_on), due_on, last,
                   f"{target.origin}: {years} years after {since} ({base.isoformat()})")
    if p.seasons:
        return _seasonal(p, target, today=today, last=last, status=status)
    assert p.every is not None, f"plan {p.kind} has no schedule"
    if last is None:
        return Due(p.kind, target, Status.DUE, today, None, "never done")
    due_on = add_months(last, p.every.months) + timedelta(days=p.every.days)
    return Due(p.kind, target, status(due_on), due_on, last, f"last done {last.isoformat()}")


def _seasonal(p: Plan, target: Target, *, today: date, last: date | None, status) -> Due:  # noqa: ANN001
    windows = sorted(
        (date(year, *s.start), _end(year, s), s.name)
        for year in (today.year - 1, today.year, today.year + 1)
        for s in p.seasons
    )
    current = max((w for w in windows if w[0] <= today), key=lambda w: w[0])
    start, end, name = current
    done = last is not None and last >= start  # late is still done: it counts for the missed season
    if not done:
        return Due(p.kind, target, status(end, start), end, last, f"{name} {start.year}", window_start=start)
    start, end, name = min(w for w in windows if w[0] > today)
    return Due(p.kind, target, status(end, start), end, last, f"{name} {start.year}", window_start=start)


def _end(year: int, season: Season) -> date:
    month, day = season.end
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
