"""Arrival deadlines (DOMAIN.md "Faults and how fast someone must arrive").

Two bases, both set per contract in ``[sla.zones.*]``:

* ``calendar``: elapsed time. Six hours after the call is six hours later by any clock,
  so across a DST change the local wall clock moves by five or seven.
* ``working_hours``: only the zone calendar's working time counts. Working windows are laid
  out on the site's local wall clock (08:30-17:30 is 08:30-17:30 whatever the UTC offset),
  and the time inside them is measured as elapsed time, so a window that a DST change runs
  through counts the hours actually spent in it.

Everything returned is aware UTC; the local zone is used only to place the windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sitewatch.config.models import SlaZone, WorkingCalendar
from sitewatch.domain.time import UTC, require_utc

# How far ahead a working-hours deadline is looked for. Past this, the calendar (not the
# ticket) is wrong, and saying so beats looping over the years to come.
SEARCH_YEARS = 3
_SEARCH_DAYS = SEARCH_YEARS * 366


def arrive_by(
    *,
    opened_at: datetime,
    zone: SlaZone,
    calendars: Mapping[str, WorkingCalendar],
    time_zone: str,
) -> datetime:
    """When someone must be on site for a ticket opened at ``opened_at`` in ``zone``.

    ``time_zone`` is the site's IANA zone; only the working-hours basis uses it.
    Raises ValueError for a naive ``opened_at``, a missing calendar, or a calendar that
    has no (or too little) working time within ``SEARCH_YEARS``.
    """
    opened = require_utc(opened_at)
    allowed = timedelta(hours=zone.hours)
    if zone.basis == "calendar":
        # Added in UTC on purpose: adding to a local aware datetime is wall-clock arithmetic
        # in Python and would be an hour off across a DST change.
        return opened + allowed
    calendar = _zone_calendar(zone=zone, calendars=calendars)
    tz = ZoneInfo(time_zone)
    if not calendar.workdays and not calendar.extra_workdays:
        raise ValueError(f"calendar {zone.calendar!r} has no workdays and no extra workdays")
    remaining = allowed
    first_day = opened.astimezone(tz).date()
    last_day = first_day + timedelta(days=_SEARCH_DAYS)
    for start, end in _windows(calendar=calendar, tz=tz, first_day=first_day, last_day=last_day):
        if end <= opened:
            continue
        counted_from = max(start, opened)
        available = end - counted_from
        if remaining <= available:
            # Ending exactly at closing time stays on that day: the hours were all worked by then.
            return counted_from + remaining
        remaining -= available
    raise ValueError(
        f"calendar {zone.calendar!r} has less than {zone.hours} working hours in the "
        f"{SEARCH_YEARS} years after {opened.isoformat()} ({time_zone}); check workdays and holidays"
    )


def working_seconds_between(
    *,
    start: datetime,
    end: datetime,
    calendar: WorkingCalendar,
    time_zone: str,
) -> float:
    """Working time of ``calendar`` in [start, end), in seconds; the inverse of ``arrive_by``.

    Raises ValueError for naive datetimes or an ``end`` before ``start`` (a negative
    duration in SLA statistics would hide the bug that produced it).
    """
    start_utc, end_utc = require_utc(start), require_utc(end)
    if end_utc < start_utc:
        raise ValueError(f"end {end_utc.isoformat()} is before start {start_utc.isoformat()}")
    tz = ZoneInfo(time_zone)
    total = timedelta()
    windows = _windows(
        calendar=calendar,
        tz=tz,
        first_day=start_utc.astimezone(tz).date(),
        last_day=end_utc.astimezone(tz).date(),
    )
    for window_start, window_end in windows:
        overlap = min(window_end, end_utc) - max(window_start, start_utc)
        if overlap > timedelta():
            total += overlap
    return total.total_seconds()


def is_breached(*, arrive_by: datetime, arrived_at: datetime | None, now: datetime) -> bool:
    """Whether the arrival deadline is missed; arriving exactly on the deadline is in time.

    The SLA clock stops on arrival: once ``arrived_at`` is known, ``now`` no longer matters.
    """
    deadline = require_utc(arrive_by)
    if arrived_at is not None:
        return require_utc(arrived_at) > deadline
    return require_utc(now) > deadline


def same_day_resolve_by(*, opened_at: datetime, arrive_by: datetime, time_zone: str) -> datetime:
    """The resolution deadline: the end of the site-local day the ticket opened (DOMAIN.md:
    same-day resolution), or of the day of its arrive-by if that is later — nobody can be
    held to fixing before they are due on site. Past it, a committed time with a reason
    replaces it (sitewatch.tickets.workflow.commit_resolution).
    """
    tz = ZoneInfo(time_zone)
    day = max(require_utc(opened_at).astimezone(tz).date(), require_utc(arrive_by).astimezone(tz).date())
    # The first instant of the next local day; midnight may fall in a DST gap in some zones.
    return first_instant_reading(day + timedelta(days=1), time(0, 0), tz)


def _zone_calendar(*, zone: SlaZone, calendars: Mapping[str, WorkingCalendar]) -> WorkingCalendar:
    # Config validation already checks this; repeated here because this function is also
    # called with hand-built zones (tests, what-if tools) and a KeyError would say too little.
    if zone.calendar is None:
        raise ValueError("a working_hours zone needs a calendar")
    try:
        return calendars[zone.calendar]
    except KeyError:
        raise ValueError(
            f"unknown calendar {zone.calendar!r}; known: {', '.join(sorted(calendars)) or 'none'}"
        ) from None


def is_working_day(day: date, calendar: WorkingCalendar) -> bool:
    # A holiday wins even over an extra workday: the listed day off is the later decision.
    if day in calendar.holidays:
        return False
    return day.isoweekday() in calendar.workdays or day in calendar.extra_workdays


def _windows(
    *, calendar: WorkingCalendar, tz: ZoneInfo, first_day: date, last_day: date
) -> Iterator[tuple[datetime, datetime]]:
    """The [start, end) working windows of each local day from first_day to last_day, in UTC.

    One day of margin on each side: where clocks go back across midnight, an instant's
    local date can disagree with the order of the windows, and an extra day costs nothing.
    """
    day = first_day - timedelta(days=1)
    while day <= last_day + timedelta(days=1):
        if is_working_day(day, calendar):
            yield first_instant_reading(day, calendar.start, tz), first_instant_reading(
                day, calendar.end, tz
            )
        day += timedelta(days=1)


def first_instant_reading(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first instant at which the local clock shows ``day`` ``wall`` or later, in UTC.

    Usually there is exactly one such reading. When clocks go back it happens twice and we
    take the first (the earlier, stricter deadline). When clocks go forward over it (a DST
    gap, e.g. 02:30 in Berlin on the last Sunday of March) it never happens and we take the
    moment of the jump, the first instant the clock shows a later time. This keeps windows
    ordered and never longer than the time actually spent in them. (zoneinfo's own choice
    for a gap, fold=0, would instead start a window an hour after the jump.)
    """
    naive = datetime.combine(day, wall)
    fold0 = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    fold1 = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if fold0 <= fold1:  # equal when unique; fold=0 is the first of a repeated reading
        return fold0
    # In a gap PEP 495 maps fold=1 with the offset after the jump (an instant before it)
    # and fold=0 with the offset before (an instant after it), so the jump lies between.
    return _jump_between(before=fold1, after=fold0, tz=tz)


def _jump_between(*, before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    # zoneinfo has no public list of transitions, so bisect on whole seconds (offsets change
    # on whole seconds); a gap of an hour takes about twelve steps.
    old_offset = before.astimezone(tz).utcoffset()
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
