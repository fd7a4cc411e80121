"""Who is on call for a desk at an instant, and the rota as a list of shifts (for a page).

A rota is written in its own local wall time (handover 08:30, a swap from 18:00 to 08:30),
so every boundary is turned into the first instant at which the local clock shows that time
or later, and compared in UTC. That is a plain wall-clock comparison on every ordinary day;
on DST nights it stays well-defined and monotonic: a boundary in a repeated hour (clocks go
back) is passed at its first occurrence and not undone when the hour repeats, and a boundary
in a gap (clocks go forward over it) is passed at the jump, the first reading after it.
Hence a shift across the changeover is 23 h or 25 h long, never shifted by an hour.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from sitewatch.domain.time import require_utc, to_local
from sitewatch.paging.config import Rota, RotaOverride
from sitewatch.tickets.sla import (
    first_instant_reading,  # the SLA windows' reading of wall time: one rule for both
)

Shift = tuple[dt.datetime, dt.datetime, str | None]  # from (UTC, inclusive), to (UTC, exclusive), person id


def on_call(rota: Rota, at: dt.datetime) -> str | None:
    """The id of the person on call at ``at`` (aware), or None when the rota names nobody.

    Swaps first (the later-listed winning), then the shift day's ``dates`` entry, then the
    weekly turn. The shift day is the local date of the last handover at or before ``at``:
    at 03:00 it is still the previous day's shift.
    """
    at = require_utc(at)
    zone = ZoneInfo(rota.time_zone)
    for override in reversed(rota.overrides):
        start, end = _override_span(override, zone)
        if start <= at < end:
            return override.person
    return _planned(rota, _shift_day(rota, at, zone))


def shifts(rota: Rota, start: dt.datetime, end: dt.datetime) -> list[Shift]:
    """Who is on call over [start, end), as (from, to, person) in UTC, each run of the same
    person (or of nobody) merged into one entry and cut at ``start`` and ``end``."""
    start, end = require_utc(start), require_utc(end)
    if end <= start:
        return []
    zone = ZoneInfo(rota.time_zone)
    # The answer can only change at a handover or at a swap's start or end; between two
    # consecutive such instants it is constant, so asking on_call at each piece's start is exact.
    # One day of margin on each side of the local dates: a handover's instant is near its date.
    first_day = to_local(start, rota.time_zone).date() - dt.timedelta(days=1)
    last_day = to_local(end, rota.time_zone).date() + dt.timedelta(days=1)
    cuts = {start, end}
    day = first_day
    while day <= last_day:
        cuts.add(first_instant_reading(day, rota.handover, zone))
        day += dt.timedelta(days=1)
    for override in rota.overrides:
        cuts.update(_override_span(override, zone))
    edges = sorted(cut for cut in cuts if start <= cut <= end)
    result: list[Shift] = []
    for piece_start, piece_end in itertools.pairwise(edges):
        person = on_call(rota, piece_start)
        if result and result[-1][2] == person:
            result[-1] = (result[-1][0], piece_end, person)
        else:
            result.append((piece_start, piece_end, person))
    return result


def _shift_day(rota: Rota, at: dt.datetime, zone: ZoneInfo) -> dt.date:
    today = at.astimezone(zone).date()
    if first_instant_reading(today, rota.handover, zone) <= at:
        return today
    return today - dt.timedelta(days=1)


def _planned(rota: Rota, shift_day: dt.date) -> str | None:
    if shift_day in rota.dates:
        return rota.dates[shift_day]
    if not rota.weekly or rota.weekly_from is None or shift_day < rota.weekly_from:
        return None
    week = (shift_day - rota.weekly_from).days // 7
    return rota.weekly[week % len(rota.weekly)]


def _override_span(override: RotaOverride, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    return (first_instant_reading(override.start.date(), override.start.time(), zone),
            first_instant_reading(override.end.date(), override.end.time(), zone))
