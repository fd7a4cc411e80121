"""PullPoint events, renewal, re-creation after a reboot and clock drift, against simulators/camera."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from sitewatch.collector.errors import AuthFailed, DeviceUnreachable
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint, OnvifWorkarounds
from sitewatch.collector.onvif.poller import OnvifPoller
from sitewatch.domain.time import SystemClock
from sitewatch.simulators.camera.fleet import CameraFleet, build

CAMERA = "cam-1"
TS = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)


class SteppedClock(SystemClock):
    """Real time plus a jump the test makes, shared by camera and collector, to drive
    subscription lifetimes without waiting."""

    def __init__(self) -> None:
        self.advanced_s = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.advanced_s)

    def monotonic(self) -> float:
        return super().monotonic() + self.advanced_s


@pytest.fixture(scope="module", autouse=True)
async def default_executor_started() -> None:
    # The simulator encodes snapshots in the event loop's default executor, whose worker
    # thread lives as long as the loop: start it before the per-test thread check looks.
    await asyncio.to_thread(int)


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
async def fleet(clock: SteppedClock) -> AsyncIterator[CameraFleet]:
    async with build({"cameras": [{"camera_id": CAMERA}]}, clock=clock) as running:
        yield running


def _poller(
    fleet: CameraFleet, clients: OnvifClients, *, clock: SteppedClock | None = None, **workarounds: object
) -> OnvifPoller:
    spec = fleet.spec_of(CAMERA)
    endpoint = OnvifEndpoint(
        host="127.0.0.1", port=fleet.port_of(CAMERA), credential="cam-1", timeout_s=3.0, snapshot=False,
        events_pull_timeout_s=0.2, workarounds=OnvifWorkarounds(**workarounds),
    )
    return OnvifPoller(
        asset_id=CAMERA, endpoint=endpoint, credentials=lambda: (spec.username, spec.password),
        clients=clients, clock=clock,
    )


def _events(result: object) -> dict[str, float]:
    return {s.channel: s.value for s in result.samples if s.channel in {"motion", "tamper", "video_loss", "storage_failure"}}


async def test_tamper_arrives_as_a_sample_and_clears(fleet: CameraFleet, clients: OnvifClients) -> None:
    poller = _poller(fleet, clients)
    first = await poller.poll(TS)
    await fleet.inject(CAMERA, "tamper")
    tampered = await poller.poll(TS)
    await fleet.clear(CAMERA, "tamper")
    cleared = await poller.poll(TS)
    await poller.close()
    assert first.errors == () and _events(first) == {"motion": 0.0, "tamper": 0.0, "video_loss": 0.0, "storage_failure": 0.0}
    assert _events(tampered) == {"tamper": 1.0}
    assert _events(cleared) == {"tamper": 0.0}
    assert fleet.subscription_count(CAMERA) == 0  # unsubscribed on close


async def test_renews_before_expiry_but_not_too_often(
    fleet: CameraFleet, clients: OnvifClients, clock: SteppedClock
) -> None:
    poller = _poller(fleet, clients, clock=clock, subscription_s=60, renew_margin_s=50, min_renew_interval_s=20)
    renewals = []
    # Seconds to jump before each poll; the subscription has 60 s, renewal is due with 50 s
    # left, but never sooner than 20 s after the last create or renew.
    for jump_s in (0, 15, 10, 5, 10, 10):
        clock.advanced_s += jump_s
        result = await poller.poll(TS)
        assert result.errors == ()
        assert poller.events is not None
        renewals.append(poller.events.renewed)
    await poller.close()
    # 15 s: 45 s left but too soon; 25 s: renewed; +5: 55 s left; +15: too soon; +25: renewed.
    assert renewals == [0, 0, 1, 1, 1, 2]
    assert poller.events.created == 1


async def test_recreates_the_subscription_after_a_reboot(fleet: CameraFleet, clients: OnvifClients) -> None:
    poller = _poller(fleet, clients)
    await poller.poll(TS)
    await fleet.inject(CAMERA, "reboot")  # the camera forgets every subscription
    await fleet.inject(CAMERA, "motion")
    after = await poller.poll(TS)
    await poller.close()
    assert after.errors == ()
    assert poller.events is not None and poller.events.created == 2
    assert _events(after)["motion"] == 1.0  # the new subscription's initial state


async def test_drifted_clock_still_authenticates(fleet: CameraFleet, clients: OnvifClients) -> None:
    await fleet.inject(CAMERA, "clock_drift", seconds=-900.0)
    drifted = await _poller(fleet, clients).poll(TS)
    with pytest.raises(AuthFailed):
        await _poller(fleet, clients, sign_with_camera_clock=False).poll(TS)
    offset = {s.channel: s.value for s in drifted.samples}["clock_offset_s"]
    assert -902.0 < offset < -898.0 and drifted.errors == ()


async def test_changed_password_is_auth_failed(fleet: CameraFleet, clients: OnvifClients) -> None:
    await fleet.inject(CAMERA, "wrong_credentials")
    with pytest.raises(AuthFailed):
        await _poller(fleet, clients).poll(TS)


async def test_snapshot_with_digest_auth_is_judged(fleet: CameraFleet, clients: OnvifClients) -> None:
    spec = fleet.spec_of(CAMERA)
    endpoint = OnvifEndpoint(host="127.0.0.1", port=fleet.port_of(CAMERA), credential="cam-1", events=False)
    poller = OnvifPoller(asset_id=CAMERA, endpoint=endpoint, credentials=lambda: (spec.username, spec.password), clients=clients)
    good = await poller.poll(TS)
    await fleet.inject(CAMERA, "covered")
    covered = await poller.poll(TS)
    assert good.errors == () and {s.channel: s.value for s in good.samples}["snapshot_ok"] == 1.0
    values = {s.channel: s.value for s in covered.samples}
    assert values["snapshot_ok"] == 1.0 and values["picture_ok"] == 0.0


async def test_offline_camera_is_unreachable_then_recovers(fleet: CameraFleet, clients: OnvifClients) -> None:
    poller = _poller(fleet, clients)
    await poller.poll(TS)
    await fleet.inject(CAMERA, "offline")
    with pytest.raises(DeviceUnreachable):
        await poller.poll(TS)
    await fleet.clear(CAMERA, "offline")
    back = await poller.poll(TS)
    await poller.close()
    assert back.errors == () and {s.channel: s.value for s in back.samples}["reachable"] == 1.0
    assert poller.device_info is not None and poller.device_info.manufacturer == "Sitewatch Sim"
