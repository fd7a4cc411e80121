"""Field types the configuration models share (the deployment's, paging's, the simulators')."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


# An IANA zone name ("Asia/Shanghai"), refused at load time if this machine does not know it.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
