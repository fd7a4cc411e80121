"""The snapshot GET answers the camera's last digest challenge at once (one request per steady
poll, not a 401 and a retry), and still follows the camera when it changes its nonce or the
password is rotated: a camera on 127.0.0.1 that checks the digest and records the nonce answered."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator

import pytest

from sitewatch.collector.errors import AuthFailed
from sitewatch.collector.onvif.client import CameraClient, OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint

from .hostile_camera import HostileCamera, hostile_camera

JPEG = b"\xff\xd8\xff\xe0 not really a picture"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class DigestCamera(HostileCamera):
    """Serves GET requests (a snapshot) behind digest auth; ``nonce`` is the only one it accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.nonce = "n-1"
        self.password = "secret"
        self.sent: list[str] = []  # per request: "" (no credentials) or the nonce answered

    async def answer(self, head: bytes, reader: asyncio.StreamReader) -> bytes:
        found = re.search(r"(?im)^authorization: digest (.*)$", head.decode())
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', found.group(1))) if found else {}
        self.sent.append(fields.get("nonce", ""))
        if fields.get("nonce") == self.nonce and fields.get("response") == self._expected(fields):
            return b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n" + f"Content-Length: {len(JPEG)}\r\n\r\n".encode() + JPEG
        challenge = f'Digest realm="cam", qop="auth", nonce="{self.nonce}"'
        return f"HTTP/1.1 401 X\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\n\r\n".encode()

    def _expected(self, fields: dict[str, str]) -> str:
        """RFC 7616's response for qop=auth, MD5."""
        ha1 = _md5(f"{fields.get('username')}:cam:{self.password}")
        ha2 = _md5(f"GET:{fields.get('uri')}")
        return _md5(f"{ha1}:{self.nonce}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")


@pytest.fixture
async def camera() -> AsyncIterator[DigestCamera]:
    async with hostile_camera(DigestCamera()) as running:
        yield running


def _client(camera: DigestCamera, clients: OnvifClients, password: list[str]) -> CameraClient:
    endpoint = OnvifEndpoint(host="127.0.0.1", port=camera.port, credential="cam-d", timeout_s=3.0)
    return CameraClient(asset_id="cam-d", endpoint=endpoint, credentials=lambda: ("admin", password[0]),
                        clients=clients)


async def test_a_steady_snapshot_is_one_request(camera: DigestCamera, clients: OnvifClients) -> None:
    client = _client(camera, clients, ["secret"])
    uri = f"http://127.0.0.1:{camera.port}/snapshot.jpg"
    for _ in range(3):
        assert await client.fetch_snapshot(uri) == JPEG
    assert camera.sent == ["", "n-1", "n-1", "n-1"]


async def test_a_new_nonce_and_a_rotated_password_are_followed(camera: DigestCamera, clients: OnvifClients) -> None:
    password = ["secret"]
    client = _client(camera, clients, password)
    uri = f"http://127.0.0.1:{camera.port}/snapshot.jpg"
    assert await client.fetch_snapshot(uri) == JPEG
    camera.nonce = "n-2"  # the camera forgot the old one (a reboot, an expiry)
    assert await client.fetch_snapshot(uri) == JPEG
    camera.password = password[0] = "rotated"
    assert await client.fetch_snapshot(uri) == JPEG
    assert camera.sent == ["", "n-1", "n-1", "n-2", "", "n-2"]
    password[0] = "wrong"
    with pytest.raises(AuthFailed):
        await client.fetch_snapshot(uri)
