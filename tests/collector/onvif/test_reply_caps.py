"""Byte caps on camera replies, enforced while the body streams in: a camera that sends a
300 MiB "snapshot" or an endless SOAP reply costs a few MiB, the connection is dropped, and
the poll reports a DecodeError like any other malformed reply; other cameras go on."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.guards import MalformedReply, checked_reply
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.frames import SceneSpec, encode_jpeg, render

from .hostile_camera import Flood, HostileCamera, MiB, envelope, hostile_camera, poll_once

JPEG_START = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PICTURE = encode_jpeg(render(SceneSpec(seed=1), at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC)))
# A reply cut off inside its first text node (the flood's filler goes on from there).
DEVICE_INFO_START = envelope("<tds:GetDeviceInformationResponse><tds:Manufacturer>").split(b"</env:Body>")[0]


def _kib(field: str) -> int:
    """A VmRSS/VmHWM line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> None:
    # Linux (proc(5), clear_refs): "5" resets the peak resident set size to the current one.
    Path("/proc/self/clear_refs").write_text("5")


async def _flood_ended(camera: HostileCamera) -> int:
    """Bytes the flood got into the socket before the client hung up (the server sees it a little later)."""
    async with asyncio.timeout(10):
        await camera.flood_ended.wait()
    return camera.flooded[-1]


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
async def test_a_300_mib_snapshot_is_refused_at_8_mib_without_the_memory(
    declare_length: bool, camera: HostileCamera, clients: OnvifClients
) -> None:
    camera.snapshot = Flood(300 * MiB, prefix=JPEG_START, declare_length=declare_length, content_type="image/jpeg")
    rss_before = _kib("VmRSS")
    _reset_peak_rss()
    result = await poll_once(camera, clients, snapshot=True, events=False)
    grown = _kib("VmHWM") - rss_before
    [error] = result.errors
    expected = (
        "snapshot of 300 MiB (Content-Length) larger than 8 MiB: refused unread" if declare_length
        else "snapshot larger than 8 MiB: refused after 8 MiB"
    )
    assert type(error) is DecodeError and error.message == expected, repr(error)
    values = {s.channel: s.value for s in result.samples if s.channel != "clock_offset_s"}
    assert values == {"reachable": 1.0, "snapshot_ok": 0.0}
    assert grown < 48 * MiB, f"resident memory grew by {grown / MiB:.0f} MiB"
    # The connection was dropped: the camera could not push more than the cap and the socket buffers.
    assert await _flood_ended(camera) < 48 * MiB


async def test_the_snapshot_cap_is_the_endpoints(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.snapshot = Flood(2 * MiB, prefix=JPEG_START, declare_length=False, content_type="image/jpeg")
    result = await poll_once(camera, clients, snapshot=True, events=False, max_snapshot_bytes=MiB)
    [error] = result.errors
    assert type(error) is DecodeError and error.message == "snapshot larger than 1 MiB: refused after 1 MiB"
    camera.snapshot = PICTURE  # under the cap: judged as usual
    result = await poll_once(camera, clients, snapshot=True, events=False, max_snapshot_bytes=MiB)
    assert result.errors == () and {s.channel: s.value for s in result.samples}["picture_ok"] == 1.0


async def test_the_rest_of_the_fleet_is_unaffected(clients: OnvifClients) -> None:
    async with hostile_camera() as flooding, hostile_camera() as normal:
        for camera in (flooding, normal):
            camera.with_media(snapshot_uri=f"http://127.0.0.1:{camera.port}/snapshot.jpg")
        flooding.snapshot = Flood(300 * MiB, prefix=JPEG_START, declare_length=False, content_type="image/jpeg")
        normal.snapshot = PICTURE
        flooded, fine = await asyncio.gather(
            poll_once(flooding, clients, snapshot=True, events=False),
            poll_once(normal, clients, snapshot=True, events=False),
        )
        await _flood_ended(flooding)
    assert [type(e) for e in flooded.errors] == [DecodeError]
    assert fine.errors == () and {s.channel: s.value for s in fine.samples}["picture_ok"] == 1.0


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        pytest.param(Flood(50 * MiB, prefix=DEVICE_INFO_START, declare_length=False),
                     "SOAP reply larger than 2 MiB: refused after 2 MiB", id="an enormous text node, chunked"),
        pytest.param(Flood(3 * MiB, prefix=DEVICE_INFO_START),
                     "SOAP reply of 3 MiB (Content-Length) larger than 2 MiB: refused unread", id="3 MiB announced"),
    ],
)
async def test_a_soap_reply_over_2_mib_is_refused(
    reply: Flood, message: str, camera: HostileCamera, clients: OnvifClients
) -> None:
    camera.replies["GetDeviceInformation"] = reply
    [error] = (await poll_once(camera, clients, events=False)).errors
    assert type(error) is DecodeError and error.message == message, repr(error)
    assert "GetDeviceInformation" in error.where
    assert await _flood_ended(camera) < 48 * MiB


async def test_a_soap_reply_under_the_cap_still_reads(camera: HostileCamera, clients: OnvifClients) -> None:
    manufacturer = "M" * (MiB + 1)  # a long text node, but no reply cap or parser limit reached
    camera.replies["GetDeviceInformation"] = envelope(
        f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{manufacturer}</tds:Manufacturer>"
        "<tds:Model>H-1</tds:Model><tds:FirmwareVersion>1</tds:FirmwareVersion><tds:SerialNumber>0</tds:SerialNumber>"
        "<tds:HardwareId>0</tds:HardwareId></tds:GetDeviceInformationResponse>"
    )
    assert (await poll_once(camera, clients, events=False)).errors == ()


def test_deep_nesting_is_refused_without_huge_tree() -> None:
    # libxml2 allows 256 levels, or 2048 with XML_PARSE_HUGE (lxml's huge_tree): an ONVIF reply
    # needs about 15.
    deep = envelope("<a>" * 1000 + "</a>" * 1000)
    with pytest.raises(MalformedReply, match="Excessive depth"):
        checked_reply(deep, status=200)


def test_the_snapshot_cap_is_bounded() -> None:
    assert OnvifEndpoint(host="h", credential="c").max_snapshot_bytes == 8 * MiB
    for wrong in (1000, 65 * MiB):
        with pytest.raises(ValidationError, match="max_snapshot_bytes"):
            OnvifEndpoint(host="h", credential="c", max_snapshot_bytes=wrong)
