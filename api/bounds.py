"""What a request may name: the bounds of every id, time, day and period in a path, a query
string or a body, each refused with a 422 that says what is allowed, never a 500.

- **Ids** of stored objects (tickets, alerts, inspections, flags, deliveries, and a
  complaint's ticket): whole numbers from 1 to 2^63 - 1, the databases' BIGINT. A larger
  one used to reach the database driver and fail there (SQLite: "Python int too large").
- **Times** (``start``/``end`` of /api/samples, ``received_from``/``received_before`` of
  /api/complaints, and times in bodies): ISO 8601 with an offset, in the years
  2000 to 2099 as written. Year 1 with a positive offset is no instant Python can hold in UTC.
- **Days** of the 08:30 logs: ``YYYY-MM-DD`` in the same years (the pages step a day either side).
- **Periods** of reports: ``YYYY-MM`` or ``YYYY-Qn`` in the same years.
- **Samples**: /api/samples reads at most :data:`MAX_SAMPLES_SPAN` (31 days) and at most
  100,000 rows; longer views are the trend's buckets (/api/assets/{asset_id}/trend).

Request bodies have their own bounds (api/limits.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, Field

from sitewatch.domain.time import UTC

MAX_ID = 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
FIRST_YEAR, LAST_YEAR = 2000, 2099
YEARS = f"the years {FIRST_YEAR} to {LAST_YEAR}"
MAX_SAMPLES_SPAN = timedelta(days=31)
MONTH_PATTERN = r"^20\d\d-(0[1-9]|1[0-2])$"
QUARTER_PATTERN = r"^20\d\d-Q[1-4]$"


def _instant(ts: datetime) -> datetime:
    if not FIRST_YEAR <= ts.year <= LAST_YEAR:  # before converting: year 1 at +05:00 has no UTC
        raise ValueError(f"a time must lie in {YEARS}")
    return ts.astimezone(UTC)


def _day(day: date) -> date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"a day must lie in {YEARS}")
    return day


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if re.fullmatch(pattern, text) is None:
            raise ValueError(f"{what}, in {YEARS}")
        return text

    return check


Instant = Annotated[AwareDatetime, AfterValidator(_instant)]  # in UTC once validated
Day = Annotated[date, AfterValidator(_day)]
StoredId = Annotated[int, Field(ge=1, le=MAX_ID)]  # in a body
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a stored object's id, 1 to 2^63 - 1")]
# Checked by a validator, for a message people can read; the pattern is there for the schema's readers.
MonthPath = Annotated[str, AfterValidator(_matching(MONTH_PATTERN, "a month is YYYY-MM")),
                      Path(description=f"YYYY-MM, in {YEARS}", json_schema_extra={"pattern": MONTH_PATTERN})]
QuarterPath = Annotated[str, AfterValidator(_matching(QUARTER_PATTERN, "a quarter is YYYY-Qn with n 1 to 4")),
                        Path(description=f"YYYY-Qn, in {YEARS}", json_schema_extra={"pattern": QUARTER_PATTERN})]


def stored_id(text: str) -> int | None:
    """``text`` as an id if it is one (ASCII digits, within :data:`MAX_ID`), else None: the
    scope guard leaves anything else to the route's own 422."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None
