from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from sitewatch.domain.time import UTC
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs

# 2026-03-10 02:00 UTC is 10:00 in Asia/Shanghai: mid-morning demand.
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


class FrozenClock:
    """Time stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._monotonic_s = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic_s

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic_s += seconds


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def fleet(clock: FrozenClock) -> AsyncIterator[RegulatorFleet]:
    fleet = build(FleetConfig(stations=make_station_specs(2, seed=11)), clock=clock)
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()
