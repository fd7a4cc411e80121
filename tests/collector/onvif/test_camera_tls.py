"""Cameras over https, trusting what the operator names: a private CA or the camera's own
certificate (``ca_file``), the name checked unless ``check_hostname = false``; a certificate
not trusted, or for another name, is a TlsFailed saying which, and the rest of the fleet polls
on. Real sockets: the simulator (simulators/camera) and the hostile camera served over TLS
with certificates made by trustme (tests/tls_files.py)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from sitewatch.collector.errors import AuthFailed, CollectorError, DeviceUnreachable, TlsFailed
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.guards import pinned_url
from sitewatch.collector.onvif.poller import OnvifPoller
from sitewatch.collector.results import PollResult
from sitewatch.config.load import ConfigError, parse_config
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.fleet import CameraFleet, build
from sitewatch.simulators.camera.frames import SceneSpec, encode_jpeg, render
from tests.config.test_load import example_with
from tests.tls_files import CertFiles, Pki, self_signed

from .hostile_camera import hostile_camera, poll_once

CAMERA = "cam-1"
TS = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
PICTURE = encode_jpeg(render(SceneSpec(seed=4), at=TS))
BASIC = "Basic " + base64.b64encode(b"admin:secret").decode()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki", name="site-ca")


def server_context(files: CertFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    return context


@pytest.fixture
async def fleet(pki: Pki) -> AsyncIterator[CameraFleet]:
    """One simulated camera answering https only, with a certificate for 127.0.0.1 from the site's CA."""
    served = pki.issue("camera", "127.0.0.1")
    config = {"cameras": [{"camera_id": CAMERA}], "tls_cert_file": served.cert, "tls_key_file": served.key}
    async with build(config) as running:
        yield running


async def poll_fleet(fleet: CameraFleet, clients: OnvifClients, **endpoint: object) -> PollResult:
    """One poll of the simulated camera over https, snapshot and events included; a
    CollectorError is returned as the result's only error."""
    spec = fleet.spec_of(CAMERA)
    settings = {"scheme": "https", "timeout_s": 3.0, "events_pull_timeout_s": 0.1} | endpoint
    poller = OnvifPoller(
        asset_id=CAMERA, endpoint=OnvifEndpoint(host="127.0.0.1", port=fleet.port_of(CAMERA), credential="c",
                                                **settings),
        credentials=lambda: (spec.username, spec.password), clients=clients,
    )
    try:
        return await poller.poll(TS)
    except CollectorError as error:
        return PollResult(samples=(), errors=(error,))
    finally:
        await poller.close()


def values(result: PollResult) -> dict[str, float]:
    return {s.channel: s.value for s in result.samples}


def only_error(result: PollResult) -> CollectorError:
    [error] = result.errors
    return error


async def test_a_camera_with_a_private_ca_is_polled_over_https(
        fleet: CameraFleet, pki: Pki, clients: OnvifClients) -> None:
    result = await poll_fleet(fleet, clients, ca_file=pki.ca_file)
    assert result.errors == ()
    got = values(result)
    assert (got["reachable"], got["snapshot_ok"], got["tamper"]) == (1.0, 1.0, 0.0), "SOAP, snapshot and events"


async def test_without_its_ca_the_certificate_is_not_trusted_and_the_fleet_polls_on(
        fleet: CameraFleet, pki: Pki, clients: OnvifClients, tmp_path: Path) -> None:
    stranger = Pki(tmp_path / "other", name="other-ca")
    untrusted, wrong_ca, trusted = await asyncio.gather(
        poll_fleet(fleet, clients),
        poll_fleet(fleet, clients, ca_file=stranger.ca_file),
        poll_fleet(fleet, clients, ca_file=pki.ca_file),
    )
    error = only_error(untrusted)
    # A DeviceUnreachable: the health rules make the camera degraded, then offline.
    assert isinstance(error, TlsFailed) and isinstance(error, DeviceUnreachable)
    assert error.message == ("certificate not trusted: unable to get local issuer certificate "
                             "(trusting the system's CA bundle: no ca_file set)")
    assert "GetSystemDateAndTime https://127.0.0.1:" in error.where
    error = only_error(wrong_ca)
    assert isinstance(error, TlsFailed)
    assert error.message == f"certificate not trusted: unable to get local issuer certificate (trusting ca_file = " \
                            f"'{stranger.ca_file}')"
    assert trusted.errors == () and values(trusted)["snapshot_ok"] == 1.0, "the camera trusted still polls"


@pytest.mark.parametrize("own", ["issued by the CA", "self-signed"])
async def test_the_cameras_own_certificate_is_trusted_as_it_is(tmp_path: Path, clients: OnvifClients, own: str) -> None:
    """Neither is a CA's certificate, as an installer would copy it from the camera. The leaf
    issued by a CA is trusted as an anchor only with VERIFY_X509_PARTIAL_CHAIN; the self-signed
    one OpenSSL 3 takes as an anchor by itself (kept here: it is what cameras make)."""
    if own == "self-signed":
        served = self_signed(tmp_path / "camera", "camera", "127.0.0.1")
    else:
        served = Pki(tmp_path / "pki").issue("camera", "127.0.0.1")
    async with hostile_camera(tls=server_context(served)) as camera:
        result = await poll_once(camera, clients, ca_file=served.cert)
    assert result.errors == () and values(result)["reachable"] == 1.0


async def test_the_name_is_checked_unless_check_hostname_is_false(pki: Pki, clients: OnvifClients) -> None:
    served = pki.issue("camera", "cam-07.north.site.test")
    async with hostile_camera(tls=server_context(served)) as camera:
        checked = await poll_once(camera, clients, ca_file=pki.ca_file)
        unchecked = await poll_once(camera, clients, ca_file=pki.ca_file, check_hostname=False)
    error = only_error(checked)
    assert isinstance(error, TlsFailed)
    assert error.message == ("certificate is for cam-07.north.site.test, not 127.0.0.1 (address the camera by a "
                             "name its certificate carries, or set check_hostname = false)")
    assert unchecked.errors == () and values(unchecked)["reachable"] == 1.0
    assert camera.calls.count("GetSystemDateAndTime") == 1, "nothing was sent to the camera refused"


async def test_without_the_name_check_the_certificate_is_still_verified(
        pki: Pki, clients: OnvifClients, tmp_path: Path) -> None:
    served = Pki(tmp_path / "other", name="other-ca").issue("camera", "cam-07.north.site.test")
    async with hostile_camera(tls=server_context(served)) as camera:
        error = only_error(await poll_once(camera, clients, ca_file=pki.ca_file, check_hostname=False))
    assert isinstance(error, TlsFailed) and error.message.startswith("certificate not trusted: ")
    assert camera.calls == []


async def test_https_to_a_plain_http_port_says_so(clients: OnvifClients, pki: Pki) -> None:
    async with build({"cameras": [{"camera_id": CAMERA}]}) as plain:  # answers a ClientHello with HTTP 400
        error = only_error(await poll_fleet(plain, clients, ca_file=pki.ca_file))
    assert isinstance(error, TlsFailed)
    assert error.message.startswith("TLS handshake failed: ") and error.message.endswith("(does this port speak https?)")


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_basic_auth_is_answered_over_https_only(pki: Pki, clients: OnvifClients, scheme: str) -> None:
    tls = server_context(pki.issue("camera", "127.0.0.1")) if scheme == "https" else None
    async with hostile_camera(tls=tls) as camera:
        camera.snapshot = PICTURE
        camera.basic = ("admin", "secret")
        camera.with_media(snapshot_uri=f"{scheme}://127.0.0.1:{camera.port}/snapshot.jpg")
        result = await poll_once(camera, clients, snapshot=True, events=False, ca_file=pki.ca_file)
    if scheme == "https":
        assert result.errors == () and values(result)["snapshot_ok"] == 1.0
        assert camera.gets == [("/snapshot.jpg", ""), ("/snapshot.jpg", BASIC)], "the challenge was answered"
    else:
        assert type(only_error(result)) is AuthFailed
        assert camera.gets == [("/snapshot.jpg", "")], "the password went out in clear"


async def test_one_tls_context_per_trust_however_many_cameras_and_polls(pki: Pki, tmp_path: Path) -> None:
    other = Pki(tmp_path / "other", name="other-ca")
    clients = OnvifClients()  # its own, to count from zero
    try:
        async with (hostile_camera(tls=server_context(pki.issue("a", "127.0.0.1"))) as a,
                    hostile_camera(tls=server_context(pki.issue("b", "127.0.0.1"))) as b,
                    hostile_camera(tls=server_context(other.issue("c", "localhost"))) as c):
            for _ in range(3):
                results = await asyncio.gather(
                    poll_once(a, clients, ca_file=pki.ca_file),
                    poll_once(b, clients, ca_file=pki.ca_file),
                    poll_once(b, clients, ca_file=pki.ca_file, check_hostname=False),
                    poll_once(c, clients, ca_file=other.ca_file, check_hostname=False),
                )
                assert [r.errors for r in results] == [()] * 4
        # (site CA, checked), (site CA, unchecked), (other CA, unchecked): 12 polls, 4 camera
        # endpoints, 3 contexts.
        assert clients.tls_contexts_made == 3
    finally:
        await clients.aclose()


def test_a_ca_file_is_checked_when_the_configuration_loads(tmp_path: Path, pki: Pki) -> None:
    assert OnvifEndpoint(host="cam", credential="c", scheme="https", ca_file=pki.ca_file).ca_file == pki.ca_file
    missing, garbage = tmp_path / "nowhere.pem", tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for ca_file, reason in ((missing, "no such file"), (garbage, "no PEM certificate to trust in it")):
        with pytest.raises(ValidationError) as caught:
            OnvifEndpoint(host="cam", credential="c", scheme="https", ca_file=ca_file)
        [error] = caught.value.errors()
        assert error["loc"] == ("ca_file",) and f"{ca_file}: {reason}" in error["msg"]
    with pytest.raises(ConfigError) as caught:
        parse_config(with_camera(f'scheme = "https", port = 443, ca_file = "{garbage}"'))
    assert f"key assets[2].onvif.ca_file: Value error, {garbage}: no PEM certificate to trust in it" in str(caught.value)


def test_only_http_and_https(pki: Pki) -> None:
    with pytest.raises(ValidationError) as caught:
        OnvifEndpoint(host="cam", credential="c", scheme="ftp")
    assert [e["loc"] for e in caught.value.errors()] == [("scheme",)]
    camera = parse_config(with_camera(f'scheme = "https", port = 443, ca_file = "{pki.ca_file}", '
                                      "check_hostname = false")).assets[2].onvif
    assert camera is not None and camera.device_url == "https://10.20.0.71:443/onvif/device_service"
    assert (camera.ca_file, camera.check_hostname) == (pki.ca_file, False)
    assert OnvifEndpoint(host="cam", credential="c").device_url == "http://cam:80/onvif/device_service"


def test_a_url_on_another_host_is_pinned_to_the_cameras_scheme() -> None:
    url = "http://192.168.1.64/onvif/media_service"
    assert pinned_url(url, scheme="https", host="203.0.113.7", port=8443) == "https://203.0.113.7:8443/onvif/media_service"


def with_camera(onvif: str) -> str:
    """The example configuration with a camera asset whose onvif table also holds ``onvif``."""
    alarm_host = 'alarm_host = { host_id = "ah-north-01", zones = 8 }'
    camera = ('\n\n[[assets]]\nid = "cam-north-07"\nsite = "north"\nkind = "camera"\nname = "North 07 camera"\n'
              f'onvif = {{ host = "10.20.0.71", credential = "cameras/north-07", {onvif} }}')
    return example_with(alarm_host, alarm_host + camera)
