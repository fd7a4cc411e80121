"""The latest judged snapshot of a camera is kept as a file for the asset page: polled from
simulators/camera over real sockets, it is byte for byte what the camera served, stamped
with the poll's time; a snapshot that fails or is too big leaves the previous one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sitewatch.collector.errors import AuthFailed
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.poller import OnvifPoller
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.fleet import CameraFleet, build
from sitewatch.storage.snapshots import SnapshotKeeper, read_snapshot, snapshot_folder
from tests.serving import FixedClock

CAMERA = "cam-1"
TS = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
JPEG_START = b"\xff\xd8\xff"  # SOI and the next marker


@pytest.fixture(scope="module", autouse=True)
async def default_executor_started() -> None:
    # The simulator encodes and the keeper writes in the loop's default executor, whose
    # worker thread lives as long as the loop: start it before the per-test thread check.
    await asyncio.to_thread(int)


@pytest.fixture
def camera_clock() -> FixedClock:
    """The camera's clock stands still, so the picture it serves can be asked for again."""
    return FixedClock(TS)


@pytest.fixture
async def fleet(camera_clock: FixedClock) -> AsyncIterator[CameraFleet]:
    async with build({"cameras": [{"camera_id": CAMERA}]}, clock=camera_clock) as running:
        yield running


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return snapshot_folder(tmp_path)


async def _poll(fleet: CameraFleet, clients: OnvifClients, keeper: SnapshotKeeper, ts: datetime,
                poller: OnvifPoller | None = None) -> tuple[OnvifPoller, dict[str, float]]:
    spec = fleet.spec_of(CAMERA)
    if poller is None:
        endpoint = OnvifEndpoint(host="127.0.0.1", port=fleet.port_of(CAMERA), credential=CAMERA, events=False,
                                 timeout_s=3.0)
        poller = OnvifPoller(asset_id=CAMERA, endpoint=endpoint, credentials=lambda: (spec.username, spec.password),
                             clients=clients, snapshots=keeper)
    result = await poller.poll(ts)
    assert result.errors == ()
    return poller, {s.channel: s.value for s in result.samples}


async def test_the_judged_snapshot_is_kept_as_the_camera_served_it(fleet, clients, folder) -> None:
    assert read_snapshot(folder, CAMERA) is None
    _, values = await _poll(fleet, clients, SnapshotKeeper(folder), TS)
    kept = read_snapshot(folder, CAMERA)
    assert values["snapshot_ok"] == 1.0 and values["picture_ok"] == 1.0
    assert kept is not None and kept.jpeg.startswith(JPEG_START)
    assert kept.jpeg == fleet.snapshot(CAMERA), "the bytes the camera served, not a re-encoding"
    assert kept.taken_at == TS, "stamped with the poll's time, as the verdict's samples are"
    assert sorted(p.name for p in folder.iterdir()) == [f"{CAMERA}.jpg"], "one file per camera, no leftovers"


async def test_only_the_latest_is_kept_whatever_its_verdict(fleet, clients, folder) -> None:
    keeper = SnapshotKeeper(folder)
    poller, _ = await _poll(fleet, clients, keeper, TS)
    first = read_snapshot(folder, CAMERA)
    await fleet.inject(CAMERA, "covered")
    later = TS + timedelta(minutes=1)
    _, values = await _poll(fleet, clients, keeper, later, poller)
    kept = read_snapshot(folder, CAMERA)
    assert values["picture_ok"] == 0.0, "the covered lens is judged a fault..."
    assert kept is not None and first is not None and kept.jpeg != first.jpeg
    assert kept.jpeg == fleet.snapshot(CAMERA) and kept.taken_at == later, "...and its picture shown"
    assert sorted(p.name for p in folder.iterdir()) == [f"{CAMERA}.jpg"]


async def test_a_refused_snapshot_keeps_the_previous_one(fleet, clients, folder) -> None:
    poller, _ = await _poll(fleet, clients, SnapshotKeeper(folder), TS)
    first = read_snapshot(folder, CAMERA)
    await fleet.inject(CAMERA, "wrong_credentials")  # the snapshot GET is answered 401 now
    with pytest.raises(AuthFailed):
        await poller.poll(TS + timedelta(minutes=1))
    assert read_snapshot(folder, CAMERA) == first


async def test_an_oversized_snapshot_keeps_the_previous_one(fleet, clients, folder, caplog) -> None:
    await _poll(fleet, clients, SnapshotKeeper(folder), TS)
    first = read_snapshot(folder, CAMERA)
    await fleet.inject(CAMERA, "covered")
    tiny = SnapshotKeeper(folder, max_bytes=100)  # every real JPEG is bigger
    poller, values = await _poll(fleet, clients, tiny, TS + timedelta(minutes=1))
    await _poll(fleet, clients, tiny, TS + timedelta(minutes=2), poller)
    assert values["snapshot_ok"] == 1.0 and values["picture_uniform"] == 1.0, "still judged and reported"
    assert read_snapshot(folder, CAMERA) == first
    refusals = [r for r in caplog.records if "not kept" in r.getMessage()]
    assert len(refusals) == 1 and "more than the 100 kept" in refusals[0].getMessage(), "said once, not every poll"
