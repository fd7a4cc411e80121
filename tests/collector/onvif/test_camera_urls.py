"""URLs a camera hands us are pinned to the configured camera, and Basic auth is not sent in
clear unless the endpoint allows it: credentials never reach a host other than the configured
one. A second server on 127.0.0.2 plays the host a camera (or whoever spoofs its replies) names."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from sitewatch.collector.errors import AuthFailed
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.guards import pinned_url
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.frames import SceneSpec, encode_jpeg, render

from .hostile_camera import HostileCamera, envelope, hostile_camera, poll_once, subscription_at

PICTURE = encode_jpeg(render(SceneSpec(seed=2), at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC)))
BASIC = "Basic " + base64.b64encode(b"admin:secret").decode()


@pytest.fixture
async def camera() -> AsyncIterator[HostileCamera]:
    async with hostile_camera() as running:
        running.snapshot = PICTURE
        yield running


@pytest.fixture
async def elsewhere() -> AsyncIterator[HostileCamera]:
    """Another host, which asks for Basic credentials as a camera would."""
    async with hostile_camera(host="127.0.0.2") as running:
        running.snapshot = PICTURE
        running.basic = ("admin", "secret")
        yield running


async def test_a_snapshot_uri_on_another_host_is_fetched_from_the_camera(
    camera: HostileCamera, elsewhere: HostileCamera, clients: OnvifClients
) -> None:
    camera.basic = ("admin", "secret")
    camera.with_media(snapshot_uri=f"http://127.0.0.2:{elsewhere.port}/snapshot.jpg?channel=1")
    result = await poll_once(camera, clients, snapshot=True, events=False, allow_basic_over_http=True)
    assert result.errors == () and {s.channel: s.value for s in result.samples}["snapshot_ok"] == 1.0
    assert elsewhere.gets == []
    assert camera.gets == [("/snapshot.jpg?channel=1", ""), ("/snapshot.jpg?channel=1", BASIC)]


async def test_service_addresses_on_another_host_are_called_on_the_camera(
    camera: HostileCamera, elsewhere: HostileCamera, clients: OnvifClients
) -> None:
    other = f"http://127.0.0.2:{elsewhere.port}"
    camera.with_media(snapshot_uri=f"{other}/snapshot.jpg")
    camera.replies["GetCapabilities"] = envelope(
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Events><tt:XAddr>{other}/onvif/events</tt:XAddr></tt:Events>"
        f"<tt:Media><tt:XAddr>{other}/onvif/media</tt:XAddr></tt:Media>"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )

    camera.replies["CreatePullPointSubscription"] = subscription_at(f"{other}/onvif/subscription")
    result = await poll_once(camera, clients, snapshot=True)
    assert result.errors == ()
    assert elsewhere.calls == [] and elsewhere.gets == []
    assert {"GetProfiles", "GetSnapshotUri", "CreatePullPointSubscription", "PullMessages", "Unsubscribe"} <= set(
        camera.calls
    )
    assert [path for path, _ in camera.gets] == ["/snapshot.jpg"]


async def test_basic_auth_over_plain_http_is_refused_and_says_how_to_allow_it(
    camera: HostileCamera, clients: OnvifClients
) -> None:
    camera.basic = ("admin", "secret")
    camera.with_media(snapshot_uri=f"http://127.0.0.1:{camera.port}/snapshot.jpg")
    [error] = (await poll_once(camera, clients, snapshot=True, events=False)).errors
    assert type(error) is AuthFailed, repr(error)
    assert "Basic" in error.message and "allow_basic_over_http = true" in error.message
    assert camera.gets == [("/snapshot.jpg", "")], "the password went out in clear"


async def test_basic_auth_over_plain_http_when_the_endpoint_allows_it(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.basic = ("admin", "secret")
    camera.with_media(snapshot_uri=f"http://127.0.0.1:{camera.port}/snapshot.jpg")
    result = await poll_once(camera, clients, snapshot=True, events=False, allow_basic_over_http=True)
    assert result.errors == () and camera.gets == [("/snapshot.jpg", ""), ("/snapshot.jpg", BASIC)]


@pytest.mark.parametrize(
    ("url", "pinned"),
    [
        # Behind NAT a camera reports its inside address: the configured one is what reaches it.
        ("http://192.168.1.64/onvif/media_service", "http://203.0.113.7:8081/onvif/media_service"),
        ("https://192.168.1.64:443/snap.jpg?ch=1&x=%20", "http://203.0.113.7:8081/snap.jpg?ch=1&x=%20"),
        ("http://user:pw@evil.example:80/s", "http://203.0.113.7:8081/s"),
        ("http://[fe80::1]:80/s", "http://203.0.113.7:8081/s"),
        # The configured host itself, on another port: the same device (ONVIF on 8000, HTTP on 80).
        ("http://203.0.113.7:80/snap.jpg", "http://203.0.113.7:80/snap.jpg"),
        ("https://203.0.113.7/snap.jpg", "https://203.0.113.7/snap.jpg"),
    ],
)
def test_pinned_url(url: str, pinned: str) -> None:
    assert pinned_url(url, host="203.0.113.7", port=8081) == pinned


def test_pinned_url_names_hosts_as_the_config_does() -> None:
    assert pinned_url("http://CAM-7.site.lan:8000/x", host="cam-7.Site.LAN", port=80) == "http://CAM-7.site.lan:8000/x"
    assert pinned_url("http://[FE80::1]:8000/x", host="fe80::1", port=80) == "http://[FE80::1]:8000/x"
    assert pinned_url("http://10.0.0.9/x", host="fe80::1", port=8081) == "http://[fe80::1]:8081/x"
