"""Which desk a new fault goes to, by the site's local time (DOMAIN.md, rule book 12 art. 5)."""

from __future__ import annotations

from datetime import datetime

from sitewatch.config.models import DutySettings, WorkingCalendar
from sitewatch.domain.time import to_local


def desk_for(at: datetime, *, time_zone: str, duty: DutySettings, calendar: WorkingCalendar | None) -> str:
    """The operations desk in office hours outside the noon break; else the dispatch centre."""
    if calendar is None:
        return duty.off_hours_desk
    local = to_local(at, time_zone)
    day = local.date()
    working_day = day not in calendar.holidays and (
        local.isoweekday() in calendar.workdays or day in calendar.extra_workdays
    )
    now = local.time()
    office = working_day and calendar.start <= now < calendar.end and not duty.noon_start <= now < duty.noon_end
    return duty.office_desk if office else duty.off_hours_desk
