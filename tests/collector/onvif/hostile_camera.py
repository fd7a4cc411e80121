"""A camera that answers each ONVIF operation with whatever reply a test gives it.

The simulator (simulators/camera) is a well-behaved camera with named faults; a hostile
camera needs replies no firmware should send — broken XML, entity bombs, impossible
dates — so this one serves canned SOAP over real HTTP on 127.0.0.1, one reply per
operation, each overridable. Time-bearing replies are built from our clock at request time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from domain.time import UTC

Reply = bytes | Callable[[], bytes]  # the whole HTTP body; status 200 unless a test sets another

NAMESPACES = (
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"'
)
_OPERATION = re.compile(
    rb"<(?:\w+:)?(GetSystemDateAndTime|GetDeviceInformation|GetCapabilities|CreatePullPointSubscription"
    rb"|PullMessages|Renew|Unsubscribe|GetProfiles|GetStreamUri|GetSnapshotUri)\b"
)


def envelope(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {NAMESPACES}><env:Body>{body}</env:Body></env:Envelope>'.encode()


def xs(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def system_time(*, year: str, month: str = "12", day: str = "6", hour: str = "8") -> bytes:
    return envelope(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
        "<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime>"
        f"<tt:Time><tt:Hour>{hour}</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>0</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{year}</tt:Year><tt:Month>{month}</tt:Month><tt:Day>{day}</tt:Day></tt:Date>"
        "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def camera_now(offset: timedelta = timedelta(0)) -> Callable[[], bytes]:
    """GetSystemDateAndTime: our clock plus ``offset`` (the camera's drift)."""

    def reply() -> bytes:
        at = datetime.now(UTC) + offset
        return system_time(year=str(at.year), month=str(at.month), day=str(at.day), hour=str(at.hour)).replace(
            b"<tt:Minute>0</tt:Minute><tt:Second>0</tt:Second>",
            f"<tt:Minute>{at.minute}</tt:Minute><tt:Second>{at.second}</tt:Second>".encode(),
        )

    return reply


def notification(utc_time: str, *, operation: str = "Changed", state: str = "true") -> str:
    return (
        "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\">"
        "tns1:VideoSource/GlobalSceneChange/ImagingService</wsnt:Topic><wsnt:Message>"
        f'<tt:Message UtcTime="{utc_time}" PropertyOperation="{operation}">'
        '<tt:Source><tt:SimpleItem Name="Source" Value="vs0"/></tt:Source>'
        f'<tt:Data><tt:SimpleItem Name="State" Value="{state}"/></tt:Data></tt:Message>'
        "</wsnt:Message></wsnt:NotificationMessage>"
    )


def pulled(*notifications: str) -> Callable[[], bytes]:
    """PullMessages answering these notifications (once each pull)."""

    def reply() -> bytes:
        now = datetime.now(UTC)
        return envelope(
            f"<tev:PullMessagesResponse><tev:CurrentTime>{xs(now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{xs(now + timedelta(minutes=10))}</tev:TerminationTime>"
            f"{''.join(notifications)}</tev:PullMessagesResponse>"
        )

    return reply


def media_uri(operation: str, uri: str) -> bytes:
    """GetStreamUri / GetSnapshotUri answering ``uri``."""
    return envelope(
        f"<trt:{operation}Response><trt:MediaUri><tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false"
        "</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
        f"</trt:MediaUri></trt:{operation}Response>"
    )


class HostileCamera:
    def __init__(self) -> None:
        self.port = 0
        self.replies: dict[str, Reply] = {}
        self.status: dict[str, int] = {}
        self.calls: list[str] = []
        self._connections: set[asyncio.Task[None]] = set()

    def with_media(self, *, snapshot_uri: str) -> None:
        """A media service with one profile, whose snapshot is at ``snapshot_uri``; no events."""
        self.replies |= {
            "GetCapabilities": envelope(
                "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
                f"<tt:XAddr>http://127.0.0.1:{self.port}/onvif/media</tt:XAddr></tt:Media>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>"
            ),
            "GetProfiles": envelope(
                '<trt:GetProfilesResponse><trt:Profiles token="p0"><tt:Name>main</tt:Name></trt:Profiles>'
                "</trt:GetProfilesResponse>"
            ),
            "GetStreamUri": media_uri("GetStreamUri", f"rtsp://127.0.0.1:{self.port}/main"),
            "GetSnapshotUri": media_uri("GetSnapshotUri", snapshot_uri),
        }

    def defaults(self) -> dict[str, Reply]:
        base = f"http://127.0.0.1:{self.port}"

        def subscription() -> bytes:
            now = datetime.now(UTC)
            return envelope(
                "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                f"<wsa:Address>{base}/onvif/subscription</wsa:Address></tev:SubscriptionReference>"
                f"<wsnt:CurrentTime>{xs(now)}</wsnt:CurrentTime>"
                f"<wsnt:TerminationTime>{xs(now + timedelta(minutes=10))}</wsnt:TerminationTime>"
                "</tev:CreatePullPointSubscriptionResponse>"
            )

        return {
            "GetSystemDateAndTime": camera_now(),
            "GetDeviceInformation": envelope(
                "<tds:GetDeviceInformationResponse><tds:Manufacturer>Hostile</tds:Manufacturer>"
                "<tds:Model>H-1</tds:Model><tds:FirmwareVersion>6.6.6</tds:FirmwareVersion>"
                "<tds:SerialNumber>0</tds:SerialNumber><tds:HardwareId>0</tds:HardwareId>"
                "</tds:GetDeviceInformationResponse>"
            ),
            "GetCapabilities": envelope(
                "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events>"
                f"<tt:XAddr>{base}/onvif/events</tt:XAddr><tt:WSSubscriptionPolicySupport>false"
                "</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>"
                "</tt:Events></tds:Capabilities></tds:GetCapabilitiesResponse>"
            ),
            "CreatePullPointSubscription": subscription,
            "PullMessages": pulled(),
            "Renew": envelope("<wsnt:RenewResponse/>"),
            "Unsubscribe": envelope("<wsnt:UnsubscribeResponse/>"),
        }

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(await self.answer(head, reader))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed its keep-alive connection, or the camera is shutting down
        finally:
            writer.close()
            self._connections.discard(task)

    async def answer(self, head: bytes, reader: asyncio.StreamReader) -> bytes:
        """The whole HTTP response to the request whose head was read (its body is still in ``reader``)."""
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        body = await reader.readexactly(length)
        found = _OPERATION.search(body)
        operation = found.group(1).decode() if found else "?"
        self.calls.append(operation)
        reply = self.replies[operation] if operation in self.replies else self.defaults()[operation]
        content = reply() if callable(reply) else reply
        status = self.status.get(operation, 200)
        return (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
            f"Content-Length: {len(content)}\r\n\r\n".encode() + content
        )

    async def close_connections(self) -> None:
        """End the keep-alive connections the client left open, so no handler outlives the test."""
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


@contextlib.asynccontextmanager
async def hostile_camera(camera: HostileCamera | None = None) -> AsyncIterator[HostileCamera]:
    """``camera`` (a new HostileCamera by default) served on 127.0.0.1 until the block ends."""
    camera = camera or HostileCamera()
    server = await asyncio.start_server(camera.serve, "127.0.0.1", 0)
    camera.port = server.sockets[0].getsockname()[1]
    async with server:
        try:
            yield camera
        finally:
            await camera.close_connections()
