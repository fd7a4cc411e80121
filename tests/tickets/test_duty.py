"""Office hours go to the operations desk; noon, nights, weekends and holidays to dispatch."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from sitewatch.config.models import DutySettings, WorkingCalendar
from sitewatch.tickets.duty import desk_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = WorkingCalendar(start=time(8, 30), end=time(17, 30), holidays=(date(2026, 10, 1),),
                         extra_workdays=(date(2026, 10, 10),))
DUTY = DutySettings(calendar="office")


@pytest.mark.parametrize("local, desk", [
    (datetime(2026, 11, 27, 10, 0), "operations"),        # Friday morning
    (datetime(2026, 11, 27, 12, 30), "dispatch-centre"),  # the noon break
    (datetime(2026, 11, 27, 13, 30), "operations"),       # back from noon
    (datetime(2026, 11, 27, 17, 30), "dispatch-centre"),  # office closed
    (datetime(2026, 11, 27, 3, 0), "dispatch-centre"),    # night
    (datetime(2026, 11, 28, 10, 0), "dispatch-centre"),   # Saturday
    (datetime(2026, 10, 1, 10, 0), "dispatch-centre"),    # National Day, a Thursday
    (datetime(2026, 10, 10, 10, 0), "operations"),        # a Saturday worked in lieu
])
def test_the_desk_follows_the_sites_local_time(local, desk):
    at = local.replace(tzinfo=SHANGHAI)
    assert desk_for(at, time_zone="Asia/Shanghai", duty=DUTY, calendar=OFFICE) == desk


def test_the_same_instant_is_office_hours_in_one_zone_and_night_in_another():
    at = datetime(2026, 11, 27, 2, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Shanghai, 03:00 in Berlin
    assert desk_for(at, time_zone="Asia/Shanghai", duty=DUTY, calendar=OFFICE) == "operations"
    assert desk_for(at, time_zone="Europe/Berlin", duty=DUTY, calendar=OFFICE) == "dispatch-centre"


def test_without_a_calendar_the_dispatch_centre_always_watches():
    at = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)
    assert desk_for(at, time_zone="Asia/Shanghai", duty=DutySettings(), calendar=None) == "dispatch-centre"
