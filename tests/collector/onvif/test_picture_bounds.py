"""A snapshot's pixel count is read from its JPEG header and refused over the endpoint's cap
before anything is decoded; pictures are judged off the event loop."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.picture import PictureChecker, PictureDecodeError, PictureTooLarge, decode_jpeg
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.frames import SceneSpec, encode_jpeg, render

from .hostile_camera import HostileCamera, poll_once

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _check_s(picture: bytes, *, max_pixels: int) -> float:
    """What judging ``picture`` takes, s: the fastest of three (the first pays for warming up)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        PictureChecker(asset_id="cam-p", max_pixels=max_pixels).check(picture, ts=T0)
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.fixture(scope="module")
def huge() -> bytes:
    """8192 x 8192 (67 Mpx) in well under a MiB: what took 1.4 s and +403 MB to decode."""
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((8192, 8192)).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def test_an_8192_square_snapshot_is_refused_from_its_header(huge: bytes) -> None:
    assert len(huge) < 8 << 20
    with pytest.raises(PictureTooLarge, match=r"8192x8192 pixels \(67.1 Mpx\) is over the 16.8 Mpx limit"):
        decode_jpeg(huge)
    # Only the header is read: the same header with the picture's data cut away gives the same refusal,
    # where decoding would fail on the missing data.
    scan = huge.index(b"\xff\xda")  # start of scan: its header's length, then the entropy-coded data
    header_only = huge[: scan + 2 + int.from_bytes(huge[scan + 2 : scan + 4], "big")]
    with pytest.raises(PictureTooLarge):
        decode_jpeg(header_only)
    with pytest.raises(PictureDecodeError, match="not a readable JPEG"):
        decode_jpeg(header_only, max_pixels=8192 * 8192)


def test_the_pixel_cap_is_the_checkers() -> None:
    picture = encode_jpeg(render(SceneSpec(seed=3, width=640, height=480), at=T0))
    with pytest.raises(DecodeError, match="640x480 pixels .* over the 0.1 Mpx limit") as caught:
        PictureChecker(asset_id="cam-p", max_pixels=100_000).check(picture, ts=T0)
    assert caught.value.device_id == "cam-p"
    assert PictureChecker(asset_id="cam-p").check(picture, ts=T0)


async def test_a_poll_refuses_the_huge_snapshot(huge: bytes, camera: HostileCamera, clients: OnvifClients) -> None:
    camera.snapshot = huge
    result = await poll_once(camera, clients, snapshot=True, events=False)
    [error] = result.errors
    assert type(error) is DecodeError and "over the 16.8 Mpx limit" in error.message
    assert {s.channel: s.value for s in result.samples}["snapshot_ok"] == 0.0


async def test_the_picture_is_judged_off_the_event_loop(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.snapshot = encode_jpeg(render(SceneSpec(seed=4), at=T0))
    assert (await poll_once(camera, clients, snapshot=True, events=False)).errors == ()  # WSDLs parsed, pools warm
    # Long to judge even at reduced scale: 20 MB of noise to entropy-decode (a 6000x6000 JPEG).
    noise = np.random.default_rng(1).integers(0, 256, (6000, 6000), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=75)
    camera.snapshot = picture = buffer.getvalue()
    limits = {"max_snapshot_bytes": 32 << 20, "max_snapshot_pixels": 8192 * 8192}
    on_the_loop_s = _check_s(picture, max_pixels=8192 * 8192)
    ticks = [time.perf_counter()]

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.002)
            ticks.append(time.perf_counter())

    ticker = asyncio.create_task(tick())
    try:
        result = await poll_once(camera, clients, snapshot=True, events=False, **limits)
        ticks.append(time.perf_counter())  # the check is the poll's last step: the stall ends here
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    assert result.errors == () and {s.channel: s.value for s in result.samples}["snapshot_ok"] == 1.0
    stall = max(later - earlier for earlier, later in itertools.pairwise(ticks))
    assert stall < on_the_loop_s / 2, f"the loop stalled {stall * 1000:.0f} ms (judging: {on_the_loop_s * 1000:.0f} ms)"


def test_the_pixel_cap_is_bounded() -> None:
    assert OnvifEndpoint(host="h", credential="c").max_snapshot_pixels == 4096 * 4096
    for wrong in (1000, 8192 * 8192 + 1):
        with pytest.raises(ValidationError, match="max_snapshot_pixels"):
            OnvifEndpoint(host="h", credential="c", max_snapshot_pixels=wrong)
