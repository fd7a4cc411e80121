"""The only module that imports zeep: SOAP calls to ONVIF cameras, errors translated.

Why zeep directly and not ``onvif.ONVIFCamera`` (onvif-zeep 0.2.12): building an
ONVIFCamera parses each WSDL again (≈55 ms per service, measured: devicemgmt + media +
events ≈110 ms per camera), makes network calls in its constructor, swallows a failing
CreatePullPointSubscription (bare ``except``), removes ``http_proxy``/``https_proxy`` from
the whole process's environment, and importing ``onvif`` runs ``logging.basicConfig``. We
use onvif-zeep for its WSDL files only, located without importing the package.

Async, not a thread pool: zeep's ``AsyncTransport`` posts over ``httpx.AsyncClient``, so
cameras are polled concurrently on the event loop with ``asyncio.timeout`` per call and no
threads to leak. Parsing a reply (≈0.5 ms) runs on the loop; ``bench/bench_onvif.py``
measures the whole call.

Sharing: ``OnvifClients`` (one per process, made by the runtime) parses each WSDL once and
holds one zeep client per WSDL for every camera. zeep applies ``client.wsse`` to each
request; ours (``_Signer``) reads the calling task's camera credentials and clock offset
from a context variable, so cameras with different passwords and clocks share one client.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import zeep.exceptions
import zeep.helpers
from zeep import AsyncClient, Settings
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from sitewatch.collector.errors import (
    AuthFailed,
    CollectorError,
    DecodeError,
    DeviceTimeout,
    DeviceUnreachable,
    TlsFailed,
)
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.collector.onvif.decode import usable_url
from sitewatch.collector.onvif.guards import MalformedReply, checked_reply, pinned_url, url_problem
from sitewatch.collector.onvif.transport import REPLY_CAP, TRUST, PerCameraTransport, ReplyTooLarge, TlsRefused, Trust
from sitewatch.domain.time import Clock, SystemClock

Credentials = Callable[[], tuple[str, str]]  # → (username, password), read at every call

_DEVICE = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
_MEDIA = "{http://www.onvif.org/ver10/media/wsdl}MediaBinding"
_EVENTS = "{http://www.onvif.org/ver10/events/wsdl}EventBinding"
_PULLPOINT = "{http://www.onvif.org/ver10/events/wsdl}PullPointSubscriptionBinding"
_SUBSCRIPTION = "{http://www.onvif.org/ver10/events/wsdl}SubscriptionManagerBinding"
_WSDL_OF = {_DEVICE: "devicemgmt.wsdl", _MEDIA: "media.wsdl", _EVENTS: "events.wsdl",
            _PULLPOINT: "events.wsdl", _SUBSCRIPTION: "events.wsdl"}

# Fault subcodes meaning "your credentials": ONVIF Core 5.11.2 (ter:NotAuthorized) and
# WS-Security 1.1 (wsse:FailedAuthentication, wsse:InvalidSecurity[Token]).
_AUTH_SUBCODES = {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken"}


class CameraFault(CollectorError):
    """The camera answered with a SOAP fault that is not about credentials."""

    def __init__(self, *, device_id: str, message: str, where: str = "", subcodes: tuple[str, ...] = ()) -> None:
        super().__init__(device_id=device_id, message=message, where=where)
        self.subcodes = subcodes  # local names, e.g. ("ResourceUnknownFault",)


@dataclass(frozen=True, slots=True)
class _Signing:
    username: str
    password: str
    offset_s: float  # camera clock minus ours


_SIGNING: contextvars.ContextVar[_Signing | None] = contextvars.ContextVar("onvif_signing", default=None)
_HTTP_STATUS: contextvars.ContextVar[int] = contextvars.ContextVar("onvif_http_status", default=0)
_REPLY_XML: contextvars.ContextVar[Any] = contextvars.ContextVar("onvif_reply_xml", default=None)
_WSNT = "{http://docs.oasis-open.org/wsn/b-2}"


class _Signer:
    """zeep's ``wsse`` hook: a WS-UsernameToken (PasswordDigest) for the calling task's camera."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def apply(self, envelope: Any, headers: Any) -> tuple[Any, Any]:
        signing = _SIGNING.get()
        if signing is None:
            return envelope, headers
        # Created on the camera's clock: a camera drifted past its tolerance (ipycam: 300 s)
        # rejects a token stamped with ours. Must be UTC: zeep replaces the zone, it does not
        # convert.
        created = self._clock.now() + timedelta(seconds=signing.offset_s)
        token = UsernameToken(signing.username, signing.password, use_digest=True, created=created)
        return token.apply(envelope, headers)

    def verify(self, envelope: Any) -> None:
        """Cameras do not sign replies."""


class _Transport(AsyncTransport):
    """Records each reply's HTTP status (zeep's Fault does not carry it) and refuses broken XML.

    zeep parses with lxml's recover mode when ``strict=False`` (which cameras' schema
    deviations need), and recover mode turns a truncated reply into a silently empty one.
    ``checked_reply`` parses strictly first (≈0.05 ms for a typical reply) and refuses what
    zeep would fail on with exceptions of its own: a DTD, an envelope without a Body.
    """

    async def post_xml(self, address: str, envelope: Any, headers: Any) -> Any:
        response = await super().post_xml(address, envelope, headers)
        _HTTP_STATUS.set(response.status_code)
        _REPLY_XML.set(None)
        if response.content:
            _REPLY_XML.set(checked_reply(response.content, status=response.status_code))
        return response


class OnvifClients:
    """Parsed WSDLs and HTTP connection pools shared by every camera of the process.

    Construction does no I/O; each WSDL is parsed on first use (≈55 ms), once.
    ``wsdl_parses`` counts the parses, for tests and the benchmark.
    """

    def __init__(self, *, wsdl_dir: Path | None = None, clock: Clock | None = None) -> None:
        self._wsdl_dir = wsdl_dir
        # Our side of every clock comparison and token date: the process's injected clock.
        self.clock = clock or SystemClock()
        # trust_env=False: cameras are on the site LAN; an office http_proxy must not catch
        # their traffic (onvif-zeep deletes the proxy variables process-wide instead).
        self._cameras = PerCameraTransport()
        self._http = httpx.AsyncClient(trust_env=False, timeout=None, transport=self._cameras)
        self._wsdl_http = httpx.Client(trust_env=False)  # zeep wants one; our WSDLs are local files
        self._transport = _Transport(client=self._http, wsdl_client=self._wsdl_http)
        # strict=False: cameras stray from the schema. No huge_tree: lxml's limits stay (guards.py).
        self._settings = Settings(strict=False, xml_huge_tree=False)
        self._signer = _Signer(self.clock)
        self._clients: dict[str, AsyncClient] = {}
        self.wsdl_parses = 0

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    @property
    def tls_contexts_made(self) -> int:
        """TLS contexts made so far: one per (ca_file, check_hostname) in use, however many cameras."""
        return self._cameras.contexts_made

    def service(self, binding: str, address: str) -> AsyncServiceProxy:
        wsdl = _WSDL_OF[binding]
        client = self._clients.get(wsdl)
        if client is None:
            document = Document(str(self._find_wsdl_dir() / wsdl), self._transport, settings=self._settings)
            self.wsdl_parses += 1
            client = AsyncClient(wsdl=document, wsse=self._signer, transport=self._transport, settings=self._settings)
            self._clients[wsdl] = client
        # zeep 4.3.3: AsyncClient.create_service returns a synchronous proxy whose calls
        # never await the transport, so build the async proxy ourselves.
        return AsyncServiceProxy(client, client.wsdl.bindings[binding], address=address)

    def _find_wsdl_dir(self) -> Path:
        if self._wsdl_dir is None:
            # onvif-zeep installs its WSDLs as a top-level site-packages/wsdl folder; find it
            # without importing onvif (whose import configures the root logger).
            spec = importlib.util.find_spec("onvif")
            if spec is None or spec.origin is None:
                raise RuntimeError("onvif-zeep is not installed: no WSDL files")
            self._wsdl_dir = Path(spec.origin).parent.parent / "wsdl"
        return self._wsdl_dir

    async def aclose(self) -> None:
        await self._http.aclose()
        self._wsdl_http.close()


@dataclass(frozen=True, slots=True)
class Subscription:
    address: str
    lifetime_s: float  # TerminationTime - CurrentTime, both on the camera's clock


@dataclass(frozen=True, slots=True)
class Pulled:
    notifications: list[tuple[str, Any]]  # (topic, tt:Message element)
    lifetime_s: float | None  # remaining, when the camera reports it


class CameraClient:
    """ONVIF calls to one camera. Construction does no I/O; one call at a time."""

    def __init__(
        self, *, asset_id: str, endpoint: OnvifEndpoint, credentials: Credentials, clients: OnvifClients
    ) -> None:
        self._asset_id = asset_id
        self._endpoint = endpoint
        self._credentials = credentials
        self._clients = clients
        self._trust = Trust(endpoint.ca_file, endpoint.check_hostname)
        # Camera clock minus ours, s: the poller sets it from each GetSystemDateAndTime; every
        # signed call until the next one is dated with it.
        self.clock_offset_s = 0.0
        # Kept between snapshots: it answers the camera's last digest challenge at once (same
        # nonce, next count), so a steady snapshot is one GET, not a 401 and a second GET. A
        # camera that no longer takes that nonce challenges again, and DigestAuth answers that.
        self._digest: httpx.DigestAuth | None = None
        self._digest_credentials: tuple[str, str] | None = None

    async def system_time(self) -> tuple[Mapping[str, Any], datetime, datetime]:
        """GetSystemDateAndTime → (reply, sent, received), unauthenticated unless the camera demands it."""
        auth_first = self._endpoint.workarounds.auth_for_time
        now = self._clients.clock.now
        sent = now()
        try:
            reply = await self._call(_DEVICE, self._endpoint.device_url, "GetSystemDateAndTime", signed=auth_first)
        except AuthFailed:
            if auth_first:
                raise
            # Not the spec, but ipycam 1.3 and some NVRs answer "not authorized" here.
            sent = now()
            reply = await self._call(_DEVICE, self._endpoint.device_url, "GetSystemDateAndTime", signed=True)
        return reply, sent, now()

    async def device_information(self) -> Mapping[str, Any]:
        return await self._call(_DEVICE, self._endpoint.device_url, "GetDeviceInformation")

    async def capabilities(self) -> Mapping[str, Any]:
        return await self._call(_DEVICE, self._endpoint.device_url, "GetCapabilities", Category="All")

    async def profiles(self, media: str) -> list[Mapping[str, Any]]:
        return await self._call(_MEDIA, media, "GetProfiles")

    async def stream_uri(self, media: str, profile_token: str) -> str:
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        reply = await self._call(_MEDIA, media, "GetStreamUri", StreamSetup=setup, ProfileToken=profile_token)
        return self._uri(reply, "GetStreamUri")

    async def snapshot_uri(self, media: str, profile_token: str) -> str:
        reply = await self._call(_MEDIA, media, "GetSnapshotUri", ProfileToken=profile_token)
        return self._uri(reply, "GetSnapshotUri")

    async def fetch_snapshot(self, uri: str) -> bytes:
        """GET the snapshot, at most ``max_snapshot_bytes`` of it, with HTTP digest auth, or basic
        when the camera asks for basic and the request is https or the endpoint allows it."""
        username, password = self._credentials()
        url = self._pinned(uri, where=f"GET {uri[:200]!r}")
        where = f"GET {url[:200]!r}"  # the camera's text, of any length and content
        http = self._clients.http
        cap = {REPLY_CAP: self._endpoint.max_snapshot_bytes}
        if self._digest is None or self._digest_credentials != (username, password):  # first, or rotated
            self._digest, self._digest_credentials = httpx.DigestAuth(username, password), (username, password)
        digest = self._digest
        response = await self._guard(lambda: http.get(url, auth=digest, extensions=cap), where=where, what="snapshot")
        challenge = response.headers.get("WWW-Authenticate", "").lower()
        if response.status_code == 401 and challenge.startswith("basic"):
            # ipycam and many encoders offer only basic auth for snapshots: the password in clear.
            if httpx.URL(url).scheme != "https" and not self._endpoint.allow_basic_over_http:
                message = ("snapshot: the camera asks for Basic auth over plain http, which would send the "
                           "password in clear; not sent (use https, or set allow_basic_over_http = true on "
                           "this camera's onvif endpoint)")
                raise AuthFailed(device_id=self._asset_id, message=message, where=where)
            basic = httpx.BasicAuth(username, password)
            response = await self._guard(lambda: http.get(url, auth=basic, extensions=cap), where=where, what="snapshot")
        if response.status_code in (401, 403):
            raise AuthFailed(device_id=self._asset_id, message=f"snapshot refused ({response.status_code})", where=where)
        if response.status_code != 200:
            raise CameraFault(device_id=self._asset_id, message=f"snapshot HTTP {response.status_code}", where=where)
        return response.content

    async def create_pullpoint(self, events: str, *, lifetime_s: float) -> Subscription:
        # The type is a union of xs:dateTime and xs:duration: zeep 4.3.3 writes a timedelta
        # there as str() ("0:10:00"), which cameras refuse, so give the duration as text.
        reply = await self._call(
            _EVENTS, events, "CreatePullPointSubscription", InitialTerminationTime=_duration(lifetime_s)
        )
        try:
            address = reply["SubscriptionReference"]["Address"]["_value_1"]
        except (KeyError, TypeError) as exc:
            raise DecodeError(device_id=self._asset_id, message="subscription without address", where=events) from exc
        if usable_url(address) is None:
            message = f"subscription address {str(address)[:100]!r} is not an http(s) URL"
            raise DecodeError(device_id=self._asset_id, message=message, where=events)
        lifetime = self._lifetime(reply)
        return Subscription(address=address, lifetime_s=lifetime if lifetime is not None else lifetime_s)

    async def pull_messages(self, address: str, *, timeout_s: float, limit: int = 100) -> Pulled:
        reply = await self._call(
            _PULLPOINT, address, "PullMessages", Timeout=timedelta(seconds=timeout_s), MessageLimit=limit
        )
        # zeep 4.3.3 drops the text of mixed-content elements, and wsnt:Topic carries the
        # topic as text (Topic._value_1 comes back None): read the notifications from the XML.
        notifications = []
        document = _REPLY_XML.get()
        for note in document.iter(f"{_WSNT}NotificationMessage") if document is not None else ():
            topic = note.find(f"{_WSNT}Topic")
            holder = note.find(f"{_WSNT}Message")
            if topic is not None and topic.text and holder is not None and len(holder):
                notifications.append((topic.text, holder[0]))
        return Pulled(notifications=notifications, lifetime_s=self._lifetime(reply))

    async def renew(self, address: str, *, lifetime_s: float) -> float | None:
        reply = await self._call(_SUBSCRIPTION, address, "Renew", TerminationTime=_duration(lifetime_s))
        return self._lifetime(reply)

    async def unsubscribe(self, address: str) -> None:
        await self._call(_SUBSCRIPTION, address, "Unsubscribe")

    def _lifetime(self, reply: Mapping[str, Any]) -> float | None:
        current, termination = reply.get("CurrentTime"), reply.get("TerminationTime")
        if isinstance(current, datetime) and isinstance(termination, datetime):
            return (termination - current).total_seconds()
        return None

    def _uri(self, reply: Mapping[str, Any], operation: str) -> str:
        uri = reply.get("Uri") if isinstance(reply, Mapping) else None
        if not uri:
            raise DecodeError(device_id=self._asset_id, message=f"{operation} returned no Uri")
        return str(uri)

    async def _call(self, binding: str, address: str, operation: str, *, signed: bool = True, **kwargs: Any) -> Any:
        """One SOAP call, signed (unless ``signed`` is False), translated into collector errors."""
        url = self._pinned(address, where=f"{operation} {address}")
        service = self._clients.service(binding, url)
        signing = None
        if signed:
            username, password = self._credentials()
            offset = self.clock_offset_s if self._endpoint.workarounds.sign_with_camera_clock else 0.0
            signing = _Signing(username, password, offset)
        token = _SIGNING.set(signing)
        _HTTP_STATUS.set(0)
        where = f"{operation} {url}"
        try:
            try:
                reply = await self._guard(lambda: service[operation](**kwargs), where=where, what="SOAP reply")
            except zeep.exceptions.Fault as fault:
                raise self._fault(fault, where=where) from fault
            except zeep.exceptions.TransportError as exc:
                if exc.status_code in (401, 403):
                    raise AuthFailed(device_id=self._asset_id, message=f"HTTP {exc.status_code}", where=where) from exc
                raise DecodeError(device_id=self._asset_id, message=f"unusable reply: {exc}"[:300], where=where) from exc
            except MalformedReply as exc:
                if exc.status in (401, 403):
                    # A refusal is a refusal whatever its body (an HTML page, plain text).
                    raise AuthFailed(device_id=self._asset_id, message=f"HTTP {exc.status}", where=where) from exc
                raise DecodeError(device_id=self._asset_id, message=str(exc)[:300], where=where) from exc
            except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, zeep.exceptions.ValidationError) as exc:
                raise DecodeError(device_id=self._asset_id, message=f"malformed reply: {exc}"[:300], where=where) from exc
        finally:
            _SIGNING.reset(token)
        return zeep.helpers.serialize_object(reply, dict)

    def _pinned(self, url: str, *, where: str) -> str:
        """A URL the camera gave (an XAddr, a snapshot URI, a subscription address), as we send it.

        One httpx cannot send to is a DecodeError, not whatever httpx or anyio would raise
        (see ``url_problem``); one naming another host goes to the configured camera instead
        (``pinned_url``), so our credentials never leave for a host the camera chose.
        """
        problem = url_problem(url)
        if problem is not None:
            raise DecodeError(device_id=self._asset_id, message=f"unusable URL: {problem}"[:300], where=where)
        return pinned_url(url, scheme=self._endpoint.scheme, host=self._endpoint.host, port=self._endpoint.port)

    async def _guard(self, send: Callable[[], Awaitable[Any]], *, where: str, what: str) -> Any:
        """``send()`` within the endpoint's timeout, with the endpoint's TLS trust; httpx errors,
        a refused certificate and a reply over its cap translated."""
        timeout_s = self._endpoint.timeout_s
        trusting = TRUST.set(self._trust)
        try:
            async with asyncio.timeout(timeout_s):
                return await send()
        except TlsRefused as exc:
            raise TlsFailed(device_id=self._asset_id, message=str(exc), where=where) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise DeviceTimeout(device_id=self._asset_id, message=f"no reply within {timeout_s} s", where=where) from exc
        except httpx.TransportError as exc:  # refused, reset, DNS, closed mid-reply
            raise DeviceUnreachable(device_id=self._asset_id, message=f"{type(exc).__name__}: {exc}", where=where) from exc
        except ReplyTooLarge as exc:
            raise DecodeError(device_id=self._asset_id, message=exc.describe(what), where=where) from exc
        finally:
            TRUST.reset(trusting)

    def _fault(self, fault: zeep.exceptions.Fault, *, where: str) -> CollectorError:
        subcodes = tuple(str(getattr(code, "localname", code)).rsplit(":", 1)[-1] for code in fault.subcodes or ())
        message = f"SOAP fault {fault.code}: {fault.message}"
        status = _HTTP_STATUS.get()
        if status in (401, 403) or _AUTH_SUBCODES.intersection(subcodes):
            return AuthFailed(device_id=self._asset_id, message=message, where=where)
        if not subcodes and "not authorized" in str(fault.message).lower():
            # Text fallback for faults without a subcode that arrive with HTTP 200/400/500;
            # ipycam 1.3 sends "Sender not authorized" (code s:Receiver, no subcode) but
            # with HTTP 401, which the status check above already catches.
            return AuthFailed(device_id=self._asset_id, message=message, where=where)
        return CameraFault(device_id=self._asset_id, message=message, where=where, subcodes=subcodes)


def _duration(seconds: float) -> str:
    return f"PT{round(seconds)}S"
