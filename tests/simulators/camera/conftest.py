from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sitewatch.simulators.camera.fleet import CameraFleet, build
from sitewatch.simulators.camera.spec import FleetConfig, make_camera_specs


@pytest.fixture
async def fleet() -> AsyncIterator[CameraFleet]:
    # The system clock: onvif-python signs with its own time, as most clients do.
    fleet = build(FleetConfig(cameras=make_camera_specs(2, seed=3)))
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()
