"""The simulator through onvif-zeep's ONVIFCamera and raw HTTP: services, events, faults."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import httpx
import onvif
import pytest
from lxml import etree
from onvif import ONVIFCamera, ONVIFService
from onvif.exceptions import ONVIFError

from sitewatch.simulators.camera.fleet import CameraFleet

WSDL_DIR = os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl")
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
TIME_REQUEST = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)


def _camera(port: int, password: str = "sitewatch", *, adjust_time: bool = True) -> ONVIFCamera:
    return ONVIFCamera("127.0.0.1", port, "admin", password, adjust_time=adjust_time)


def _subscription_service(cam: ONVIFCamera, address: str, binding: str) -> ONVIFService:
    return ONVIFService(
        address, "admin", "sitewatch", os.path.join(WSDL_DIR, "events.wsdl"),
        dt_diff=cam.dt_diff, binding_name=f"{{{EVENTS_NS}}}{binding}",
    )


def _pulled_topics(pull: ONVIFService) -> list[str]:
    """Topics of the next PullMessages, from the raw reply: zeep drops wsnt:Topic's mixed-content text."""
    with pull.zeep_client.settings(raw_response=True):
        reply = pull.ws_client.PullMessages(Timeout="PT1S", MessageLimit=10)
    root = etree.fromstring(reply.content)
    return [t.text for t in root.iter("{http://docs.oasis-open.org/wsn/b-2}Topic")]


async def test_device_media_and_snapshot(fleet: CameraFleet):
    port = fleet.port_of("cam-001")

    def read():
        cam = _camera(port)
        media = cam.create_media_service()
        profiles = media.GetProfiles()
        uri = media.GetSnapshotUri({"ProfileToken": profiles[0].token}).Uri
        return cam.devicemgmt.GetDeviceInformation(), profiles, uri

    info, profiles, uri = await asyncio.to_thread(read)
    assert (info.Manufacturer, info.Model, info.SerialNumber) == ("Sitewatch Sim", "SW-IPC-2M", "SIM00000003")
    assert [p.token for p in profiles] == ["Profile_1", "Profile_2"]
    assert profiles[0].VideoEncoderConfiguration.Resolution.Width == 640
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(uri)).status_code == 401
        for auth in (httpx.DigestAuth("admin", "sitewatch"), httpx.BasicAuth("admin", "sitewatch")):
            response = await http.get(uri, auth=auth)
            assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"
            assert response.headers["content-type"] == "image/jpeg"
        assert (await http.get(uri, auth=httpx.DigestAuth("admin", "nope"))).status_code == 401


async def test_pullpoint_events_renew_and_reboot(fleet: CameraFleet):
    port = fleet.port_of("cam-001")
    cam = await asyncio.to_thread(_camera, port)
    created = await asyncio.to_thread(cam.create_events_service().CreatePullPointSubscription, {"InitialTerminationTime": "PT30S"})
    address = created.SubscriptionReference.Address._value_1
    pull = _subscription_service(cam, address, "PullPointSubscriptionBinding")
    manager = _subscription_service(cam, address, "SubscriptionManagerBinding")

    initial = set(await asyncio.to_thread(_pulled_topics, pull))
    assert "tns1:VideoSource/MotionAlarm" in initial and len(initial) == 4

    await fleet.inject("cam-001", "motion")
    await fleet.inject("cam-001", "tamper")
    got = await asyncio.to_thread(pull.PullMessages, {"Timeout": "PT2S", "MessageLimit": 1})
    assert len(got.NotificationMessage) == 1
    topics = ["tns1:VideoSource/MotionAlarm", *await asyncio.to_thread(_pulled_topics, pull)]
    assert topics == ["tns1:VideoSource/MotionAlarm", "tns1:VideoSource/GlobalSceneChange/ImagingService"]
    message = got.NotificationMessage[0].Message._value_1
    assert message.get("PropertyOperation") == "Changed"
    assert message.find(".//{*}Data/{*}SimpleItem").attrib == {"Name": "State", "Value": "true"}

    renewed = await asyncio.to_thread(manager.Renew, {"TerminationTime": "PT120S"})
    assert (renewed.TerminationTime - renewed.CurrentTime).total_seconds() == 120

    boot_before = fleet.boot_at("cam-001")
    await fleet.inject("cam-001", "reboot")
    assert fleet.boot_at("cam-001") >= boot_before and fleet.subscription_count("cam-001") == 0
    with pytest.raises(ONVIFError, match="no subscription"):
        await asyncio.to_thread(pull.PullMessages, {"Timeout": "PT1S", "MessageLimit": 10})


async def test_time_is_unauthenticated_and_drift_breaks_naive_signing(fleet: CameraFleet):
    port = fleet.port_of("cam-002")
    await fleet.inject("cam-002", "clock_drift", seconds=-3600)
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.post(f"http://127.0.0.1:{port}/onvif/device_service", content=TIME_REQUEST)
    assert response.status_code == 200, response.text
    cam = await asyncio.to_thread(_camera, port)  # reads the clock first, then signs with it
    assert abs(cam.dt_diff.total_seconds() + 3600) < 3
    assert (await asyncio.to_thread(cam.devicemgmt.GetDeviceInformation)).Model == "SW-IPC-2M"
    shown = await asyncio.to_thread(cam.devicemgmt.GetSystemDateAndTime)
    shown_at = datetime(shown.UTCDateTime.Date.Year, shown.UTCDateTime.Date.Month, shown.UTCDateTime.Date.Day,
                        shown.UTCDateTime.Time.Hour, shown.UTCDateTime.Time.Minute, tzinfo=UTC)
    assert abs((datetime.now(UTC) - shown_at).total_seconds() - 3600) < 120

    with pytest.raises(ONVIFError, match="Sender not authorized"):  # signs with its own clock
        await asyncio.to_thread(_camera, port, adjust_time=False)


async def test_wrong_credentials_and_offline(fleet: CameraFleet):
    port = fleet.port_of("cam-001")
    cam = await asyncio.to_thread(_camera, port)
    await fleet.inject("cam-001", "wrong_credentials")
    with pytest.raises(ONVIFError, match="Sender not authorized"):
        await asyncio.to_thread(cam.devicemgmt.GetDeviceInformation)
    await fleet.clear("cam-001", "wrong_credentials")
    assert (await asyncio.to_thread(cam.devicemgmt.GetDeviceInformation)).Model == "SW-IPC-2M"

    await fleet.inject("cam-001", "offline")
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"http://127.0.0.1:{port}/onvif/device_service", content=TIME_REQUEST)
        await fleet.clear("cam-001", "offline")
        assert (await http.post(f"http://127.0.0.1:{port}/onvif/device_service", content=TIME_REQUEST)).status_code == 200


async def test_picture_faults_change_the_snapshot(fleet: CameraFleet):
    normal = fleet.snapshot("cam-001")
    await fleet.inject("cam-001", "video_loss")
    lost = fleet.snapshot("cam-001")
    assert lost[:2] == b"\xff\xd8" and len(lost) < len(normal) / 2, "a dark frame compresses far better"
    await fleet.clear("cam-001")
    await fleet.inject("cam-001", "frozen")
    assert fleet.snapshot("cam-001") == fleet.snapshot("cam-001")
