"""All cameras of a process share one HTTP server: each port still behaves as its own camera."""

from __future__ import annotations

import asyncio

from sitewatch.simulators.camera.fleet import CameraFleet

DEVICE_INFO = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
    b' xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><s:Header>'
    b"<wsse:Security><wsse:UsernameToken><wsse:Username>admin</wsse:Username><wsse:Password>sitewatch</wsse:Password>"
    b"</wsse:UsernameToken></wsse:Security></s:Header><s:Body>"
    b'<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
)


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> tuple[int, bytes]:
    """One request on a kept-alive connection: (status, body)."""
    writer.write(
        b"POST /onvif/device_service HTTP/1.1\r\nHost: camera\r\nContent-Type: application/soap+xml\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
    return int(lines[0].split()[1]), await asyncio.wait_for(reader.readexactly(length), 5)


async def test_each_port_answers_as_its_own_camera(fleet: CameraFleet):
    one = await asyncio.open_connection("127.0.0.1", fleet.port_of("cam-001"))
    two = await asyncio.open_connection("127.0.0.1", fleet.port_of("cam-002"))
    try:
        status_one, body_one = await _post(*one, DEVICE_INFO)
        status_two, body_two = await _post(*two, DEVICE_INFO)
        assert (status_one, status_two) == (200, 200)
        assert fleet.spec_of("cam-001").serial_number.encode() in body_one
        assert fleet.spec_of("cam-002").serial_number.encode() in body_two

        await fleet.inject("cam-001", "wrong_credentials")
        assert (await _post(*one, DEVICE_INFO))[0] == 400
        assert (await _post(*two, DEVICE_INFO))[0] == 200
    finally:
        for _, writer in (one, two):
            writer.close()


async def test_offline_closes_only_that_cameras_connections(fleet: CameraFleet):
    one = await asyncio.open_connection("127.0.0.1", fleet.port_of("cam-001"))
    two = await asyncio.open_connection("127.0.0.1", fleet.port_of("cam-002"))
    try:
        assert (await _post(*one, DEVICE_INFO))[0] == 200
        assert (await _post(*two, DEVICE_INFO))[0] == 200

        await fleet.inject("cam-001", "offline")
        assert await asyncio.wait_for(one[0].read(), 5) == b"", "the idle keep-alive connection is closed"
        assert (await _post(*two, DEVICE_INFO))[0] == 200, "the other camera's connection is untouched"

        await fleet.clear("cam-001", "offline")
        again = await asyncio.open_connection("127.0.0.1", fleet.port_of("cam-001"))
        try:
            assert (await _post(*again, DEVICE_INFO))[0] == 200
        finally:
            again[1].close()
    finally:
        for _, writer in (one, two):
            writer.close()


async def test_nothing_keeps_running_after_the_fleet_stops(fleet: CameraFleet):
    connection = await asyncio.open_connection("127.0.0.1", fleet.port_of("cam-002"))
    try:
        assert (await _post(*connection, DEVICE_INFO))[0] == 200
        assert any(t.get_name() == "cameras-date" for t in asyncio.all_tasks())
        await fleet.stop()
        assert await asyncio.wait_for(connection[0].read(), 5) == b""
        assert not any(t.get_name() == "cameras-date" for t in asyncio.all_tasks())
    finally:
        connection[1].close()
