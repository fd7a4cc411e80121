"""CameraClient and OnvifPoller against ipycam 1.3, an independent ONVIF camera, on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sitewatch.collector.errors import AuthFailed, DecodeError, DeviceTimeout, DeviceUnreachable
from sitewatch.collector.onvif.client import CameraClient, OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint, OnvifWorkarounds
from sitewatch.collector.onvif.decode import camera_utc, device_info, media_profiles, service_addresses
from sitewatch.collector.onvif.poller import OnvifPoller

from .ipycam_server import PASSWORD, USERNAME, serve_ipycam

TS = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _endpoint(port: int, **kwargs: object) -> OnvifEndpoint:
    # ipycam offers only Basic auth for its snapshot, over plain http: allowed here, as an
    # installer would for such a camera (see test_basic_auth_over_http_needs_the_endpoints_consent).
    settings = {"host": "127.0.0.1", "port": port, "credential": "cam-test", "timeout_s": 2.0,
                "allow_basic_over_http": True}
    return OnvifEndpoint(**(settings | kwargs))


def _camera(port: int, clients: OnvifClients, *, password: str = PASSWORD, **kwargs: object) -> CameraClient:
    return CameraClient(
        asset_id="cam-test", endpoint=_endpoint(port, **kwargs), credentials=lambda: (USERNAME, password), clients=clients
    )


async def test_device_information_profiles_and_uris(clients: OnvifClients) -> None:
    with serve_ipycam() as running:
        camera = _camera(running.port, clients)
        info = device_info(await camera.device_information())
        addresses = service_addresses(await camera.capabilities())
        profiles = media_profiles(await camera.profiles(addresses.media), device_id="cam-test")
        stream = await camera.stream_uri(addresses.media, profiles[0].token)
        snapshot = await camera.snapshot_uri(addresses.media, profiles[0].token)
        jpeg = await camera.fetch_snapshot(snapshot)
    assert (info.manufacturer, info.model, info.firmware, info.serial) == (
        "PythonCam", "VirtualCam-1", "1.3.0", "PY-000001",
    )
    assert addresses.media == f"http://127.0.0.1:{running.port}/onvif/media_service"
    assert addresses.events is None  # ipycam has no event service
    assert [p.token for p in profiles] == ["Profile_Main", "Profile_Sub"]
    assert stream.startswith("rtsp://")
    assert snapshot == f"http://127.0.0.1:{running.port}/snapshot.jpg"
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) > 1000


async def test_system_time_falls_back_to_a_signed_request(clients: OnvifClients) -> None:
    # ipycam answers "Sender not authorized" to an unsigned GetSystemDateAndTime.
    with serve_ipycam() as running:
        reply, sent, received = await _camera(running.port, clients).system_time()
        signed_first = await _camera(running.port, clients, workarounds=OnvifWorkarounds(auth_for_time=True)).system_time()
    assert abs((camera_utc(reply, device_id="c") - sent).total_seconds()) < 2
    assert sent <= received
    assert camera_utc(signed_first[0], device_id="c").year == sent.year


async def test_wrong_password_is_auth_failed(clients: OnvifClients) -> None:
    with serve_ipycam() as running:
        camera = _camera(running.port, clients, password="wrong")
        with pytest.raises(AuthFailed) as caught:
            await camera.device_information()
        with pytest.raises(AuthFailed):
            await camera.fetch_snapshot(f"http://127.0.0.1:{running.port}/snapshot.jpg")
    assert caught.value.device_id == "cam-test" and "GetDeviceInformation" in caught.value.where


async def test_basic_auth_over_http_needs_the_endpoints_consent(clients: OnvifClients) -> None:
    with serve_ipycam() as running:
        camera = _camera(running.port, clients, allow_basic_over_http=False)
        with pytest.raises(AuthFailed, match="allow_basic_over_http = true"):
            await camera.fetch_snapshot(f"http://127.0.0.1:{running.port}/snapshot.jpg")


async def test_token_is_stamped_with_the_camera_clock(clients: OnvifClients) -> None:
    # ipycam's clock is ours and it allows 300 s: a token stamped an hour ahead is refused,
    # which shows the measured offset is what dates the token; without the workaround the
    # offset is ignored.
    with serve_ipycam() as running:
        signed = _camera(running.port, clients)
        signed.clock_offset_s = 3600.0
        with pytest.raises(AuthFailed):
            await signed.device_information()
        unsigned = _camera(running.port, clients, workarounds=OnvifWorkarounds(sign_with_camera_clock=False))
        unsigned.clock_offset_s = 3600.0
        assert (await unsigned.device_information())["Manufacturer"] == "PythonCam"


async def test_stopped_camera_is_unreachable(clients: OnvifClients) -> None:
    with serve_ipycam() as running:
        port = running.port
    # Refused at once; the long budget only keeps a loaded machine from turning "refused"
    # into "no reply in time" (on CI, 2 s once passed before the refusal was seen).
    with pytest.raises(DeviceUnreachable):
        await _camera(port, clients, timeout_s=30.0).device_information()


async def test_silent_camera_is_a_timeout(clients: OnvifClients) -> None:
    # A listening socket that never accepts: the TCP handshake completes, no reply comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        camera = _camera(listener.getsockname()[1], clients, timeout_s=0.3)
        with pytest.raises(DeviceTimeout):
            await camera.device_information()


class _Garbage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><unclosed>"
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_malformed_xml_is_decode_error(clients: OnvifClients) -> None:
    with _serve(_Garbage) as port, pytest.raises(DecodeError):
        await _camera(port, clients).device_information()


async def test_poll_reports_reachable_clock_inventory_and_picture(clients: OnvifClients) -> None:
    with serve_ipycam() as running:
        poller = OnvifPoller(
            asset_id="cam-test", endpoint=_endpoint(running.port, events=False),
            credentials=lambda: (USERNAME, PASSWORD), clients=clients,
        )
        result = await poller.poll(TS)
        await poller.close()
    values = {s.channel: s.value for s in result.samples}
    assert result.errors == ()
    assert values["reachable"] == 1.0
    assert abs(values["clock_offset_s"]) < 2.0
    assert values["snapshot_ok"] == 1.0 and values["picture_ok"] == 1.0
    assert {s.ts for s in result.samples} == {TS}
    assert poller.device_info is not None and poller.device_info.serial == "PY-000001"
    assert poller.stream_uri == "rtsp://127.0.0.1:8554/video_main"
    # every channel the poll reported is declared (the rules need them before the first poll)
    assert {s.channel for s in result.samples} <= set(poller.channels)
    assert {"reachable", "clock_offset_s", "snapshot_ok", "picture_black"} <= set(poller.channels)
    assert "tamper" not in poller.channels, "events are off for this endpoint"


async def test_missing_event_service_is_a_partial_error(clients: OnvifClients) -> None:
    with serve_ipycam() as running:
        poller = OnvifPoller(
            asset_id="cam-test", endpoint=_endpoint(running.port, snapshot=False),
            credentials=lambda: (USERNAME, PASSWORD), clients=clients,
        )
        result = await poller.poll(TS)
    assert [s.channel for s in result.samples] == ["reachable", "clock_offset_s"]
    assert len(result.errors) == 1 and "no event service" in str(result.errors[0])


async def test_snapshot_failure_is_partial_and_rotation_needs_no_restart(clients: OnvifClients) -> None:
    credentials = {"password": PASSWORD}
    with serve_ipycam() as running:
        poller = OnvifPoller(
            asset_id="cam-test", endpoint=_endpoint(running.port, events=False),
            credentials=lambda: (USERNAME, credentials["password"]), clients=clients,
        )
        await poller.poll(TS)
        # An empty frame: ipycam's snapshot handler raises and drops the connection unanswered.
        running.camera.frame = running.camera.frame[:0]
        partial = await poller.poll(TS)
        running.camera.config.password = "rotated-pw"
        with pytest.raises(AuthFailed):
            await poller.poll(TS)
        credentials["password"] = "rotated-pw"  # the vault entry is rotated
        rotated = await poller.poll(TS)
    assert {s.channel: s.value for s in partial.samples}["snapshot_ok"] == 0.0
    assert len(partial.errors) == 1 and "snapshot" in str(partial.errors[0])
    assert {s.channel: s.value for s in rotated.samples}["reachable"] == 1.0


async def test_thirty_cameras_parse_the_wsdls_once() -> None:
    fresh = OnvifClients()
    try:
        with serve_ipycam() as running:
            pollers = [
                OnvifPoller(
                    asset_id=f"cam-{i:02d}", endpoint=_endpoint(running.port, events=False),
                    credentials=lambda: (USERNAME, PASSWORD), clients=fresh,
                )
                for i in range(30)
            ]
            assert fresh.wsdl_parses == 0  # construction does no work
            results = [await poller.poll(TS) for poller in pollers]
    finally:
        await fresh.aclose()
    assert all(r.errors == () for r in results)
    assert fresh.wsdl_parses == 2  # devicemgmt.wsdl and media.wsdl, for all 30 cameras
