"""A camera that answers each ONVIF operation with whatever reply a test gives it.

The simulator (simulators/camera) is a well-behaved camera with named faults; a hostile
camera needs replies no firmware should send — broken XML, entity bombs, impossible
dates — so this one serves canned SOAP over real HTTP on 127.0.0.1, one reply per
operation, each overridable. Time-bearing replies are built from our clock at request time.
It also answers GET (a snapshot) with ``snapshot``, behind Basic auth if ``basic`` is set, and
can flood: a ``Flood`` reply of any size is written a piece at a time as the client reads, so
a 300 MiB "snapshot" costs this process nothing and shows how much the client took.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sitewatch.collector.errors import CollectorError
from sitewatch.collector.onvif.client import OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.poller import OnvifPoller
from sitewatch.collector.results import PollResult
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.domain.time import UTC

MiB = 1 << 20
_PIECE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Flood:
    """A body of ``size`` bytes: ``prefix``, then ``filler`` repeated; announced by a
    Content-Length, or sent chunked (no length known in advance) when ``declare_length`` is False."""

    size: int
    prefix: bytes = b""
    filler: bytes = b"A"
    declare_length: bool = True
    content_type: str = "application/soap+xml; charset=utf-8"


Reply = bytes | Callable[[], bytes] | Flood  # the whole HTTP body; status 200 unless a test sets another

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


def subscription_at(address: str) -> Callable[[], bytes]:
    """CreatePullPointSubscription answering a 10-minute subscription at ``address``."""

    def reply() -> bytes:
        now = datetime.now(UTC)
        return envelope(
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{address}</wsa:Address></tev:SubscriptionReference>"
            f"<wsnt:CurrentTime>{xs(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{xs(now + timedelta(minutes=10))}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>"
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
        self.scheme = "http"  # "https" when served with a TLS context: its addresses say so
        self.replies: dict[str, Reply] = {}
        self.status: dict[str, int] = {}
        self.calls: list[str] = []
        self.snapshot: Reply = b""  # the body of every GET
        self.basic: tuple[str, str] | None = None  # (username, password) a GET must carry as Basic auth
        self.gets: list[tuple[str, str]] = []  # (path, Authorization header or "") of each GET
        self.flooded: list[int] = []  # bytes of each Flood written before it ended or the client left
        self.flood_ended = asyncio.Event()
        self._connections: set[asyncio.Task[None]] = set()

    def with_media(self, *, snapshot_uri: str) -> None:
        """A media service with one profile, whose snapshot is at ``snapshot_uri``; no events."""
        self.replies |= {
            "GetCapabilities": envelope(
                "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
                f"<tt:XAddr>{self.scheme}://127.0.0.1:{self.port}/onvif/media</tt:XAddr></tt:Media>"
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
        base = f"{self.scheme}://127.0.0.1:{self.port}"
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
            "CreatePullPointSubscription": subscription_at(f"{base}/onvif/subscription"),
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
                reply = await self.answer(head, reader)
                if isinstance(reply, Flood):
                    await self._flood(reply, writer)
                else:
                    writer.write(reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, asyncio.CancelledError):
            pass  # the client closed its keep-alive connection (or its TLS session), or the camera is shutting down
        finally:
            writer.close()
            self._connections.discard(task)

    async def answer(self, head: bytes, reader: asyncio.StreamReader) -> bytes | Flood:
        """The whole HTTP response to the request whose head was read (its body is still in ``reader``),
        or a Flood to write as the response."""
        if head.startswith(b"GET "):
            return self._get(head)
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        body = await reader.readexactly(length)
        found = _OPERATION.search(body)
        operation = found.group(1).decode() if found else "?"
        self.calls.append(operation)
        reply = self.replies[operation] if operation in self.replies else self.defaults()[operation]
        content = reply() if callable(reply) else reply
        if isinstance(content, Flood):
            return content
        status = self.status.get(operation, 200)
        return (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
            f"Content-Length: {len(content)}\r\n\r\n".encode() + content
        )

    def _get(self, head: bytes) -> bytes | Flood:
        request_line, *lines = head.decode("latin-1").split("\r\n")
        sent = [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("authorization:")]
        authorization = sent[0] if sent else ""
        self.gets.append((request_line.split(" ")[1], authorization))
        if self.basic is not None and authorization != "Basic " + base64.b64encode(":".join(self.basic).encode()).decode():
            return b'HTTP/1.1 401 X\r\nWWW-Authenticate: Basic realm="camera"\r\nContent-Length: 0\r\n\r\n'
        content = self.snapshot() if callable(self.snapshot) else self.snapshot
        if isinstance(content, Flood):
            return content
        return f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(content)}\r\n\r\n".encode() + content

    async def _flood(self, flood: Flood, writer: asyncio.StreamWriter) -> None:
        length = f"Content-Length: {flood.size}" if flood.declare_length else "Transfer-Encoding: chunked"
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {flood.content_type}\r\n{length}\r\n\r\n".encode())
        filler = (flood.filler * (_PIECE // len(flood.filler) + 1))[:_PIECE]
        sent = 0
        try:
            while sent < flood.size:
                piece = (flood.prefix + filler if sent == 0 else filler)[: min(_PIECE, flood.size - sent)]
                writer.write(piece if flood.declare_length else b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()  # waits while the client does not read: the socket buffers hold the rest
                sent += len(piece)
            if not flood.declare_length:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        finally:
            self.flooded.append(sent)
            self.flood_ended.set()

    async def close_connections(self) -> None:
        """End the keep-alive connections the client left open, so no handler outlives the test."""
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)


@contextlib.asynccontextmanager
async def hostile_camera(
    camera: HostileCamera | None = None, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> AsyncIterator[HostileCamera]:
    """``camera`` (a new HostileCamera by default) served on ``host`` (a loopback address) until the
    block ends; over https with ``tls`` (a server context)."""
    camera = camera or HostileCamera()
    server = await asyncio.start_server(camera.serve, host, 0, ssl=tls)
    camera.port = server.sockets[0].getsockname()[1]
    camera.scheme = "https" if tls is not None else "http"
    async with server:
        try:
            yield camera
        finally:
            await camera.close_connections()


async def poll_once(
    camera: HostileCamera, clients: OnvifClients, *, window: TimestampWindow | None = None, **endpoint: object
) -> PollResult:
    """One poll of ``camera`` (snapshot and events off unless given); a CollectorError is
    returned as the result's only error, anything else raises."""
    settings = {"snapshot": False, "events_pull_timeout_s": 0, "timeout_s": 3.0, "scheme": camera.scheme} | endpoint
    poller = OnvifPoller(
        asset_id="cam-h", endpoint=OnvifEndpoint(host="127.0.0.1", port=camera.port, credential="cam-h", **settings),
        credentials=lambda: ("admin", "secret"), clients=clients, window=window or TimestampWindow(),
    )
    try:
        return await poller.poll(datetime.now(UTC))
    except CollectorError as error:
        return PollResult(samples=(), errors=(error,))
    finally:
        await poller.close()
