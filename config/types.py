"""Field types the configuration models share (the deployment's, paging's, the simulators')."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder of tzdata ("America")
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _local(value: dt.time) -> dt.time:
    if value.tzinfo is not None:
        raise ValueError(f"{value.isoformat()} is a local time: write it without an offset (its time zone applies)")
    return value


# An IANA zone name ("Asia/Shanghai"), refused at load time if this machine does not know it.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
# A wall-clock time of the day (08:30), never one with an offset: the site's or rota's zone applies.
LocalTime = Annotated[dt.time, AfterValidator(_local)]
