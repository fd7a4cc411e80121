"""One simulated camera: its state (faults, clock, password, subscriptions) and its HTTP routes.

Every camera of a process is served by one app on all their ports (listeners.py); a request
goes to the camera on the port it came to. SOAP requests to any service path are dispatched on the Body's element name, as most
cameras do; PullMessages, Renew and Unsubscribe go to a subscription's own address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from sitewatch.domain.time import Clock
from sitewatch.simulators.camera.auth import HttpAuth, check_username_token
from sitewatch.simulators.camera.events import TOPICS, EventService, Notification
from sitewatch.simulators.camera.faults import ActiveFault
from sitewatch.simulators.camera.frames import SceneSpec, encode_jpeg, render
from sitewatch.simulators.camera.listeners import PortListeners
from sitewatch.simulators.camera.services import (
    DEVICE_PATH,
    EVENTS_PATH,
    MEDIA_PATH,
    SNAPSHOT_PATH,
    capabilities,
    device_information,
    get_profile,
    get_profiles,
    profiles_of,
    services,
    snapshot_uri,
    stream_uri,
    system_date_and_time,
)
from sitewatch.simulators.camera.soap import (
    CONTENT_TYPE,
    Request,
    SoapFault,
    envelope,
    fault_envelope,
    parse_request,
    qname,
)
from sitewatch.simulators.camera.spec import CameraSpec

SUBSCRIPTION_PATH = "/onvif/subscription"
CHANGED_PASSWORD_SUFFIX = "-changed-on-site"


class Camera:
    def __init__(
        self, spec: CameraSpec, *, clock: Clock, host: str, listeners: PortListeners[Camera], scheme: str = "http"
    ) -> None:
        self.spec = spec
        self.faults: dict[str, ActiveFault] = {}
        self.port: int | None = None  # the bound port, kept across `offline`
        self.boot_at: datetime | None = None  # fleet clock
        self.clock_offset_s = 0.0  # camera clock minus true time
        self._clock = clock
        self._host = host
        self._scheme = scheme  # "https" when the fleet serves TLS: the addresses it reports say so
        self._http_auth = HttpAuth()
        self._scene = SceneSpec(seed=spec.seed, lighting=spec.lighting, width=spec.width_px, height=spec.height_px)
        self.events = EventService(
            now=clock.now,
            offset=lambda: timedelta(seconds=self.clock_offset_s),
            default_lifetime_s=spec.default_subscription_s,
        )
        self._listeners = listeners
        self._operations = {
            qname("tds:GetSystemDateAndTime"): lambda r, s: system_date_and_time(self.camera_now()),
            qname("tds:GetDeviceInformation"): lambda r, s: device_information(self.spec),
            qname("tds:GetCapabilities"): lambda r, s: capabilities(self.base_url),
            qname("tds:GetServices"): lambda r, s: services(self.base_url),
            qname("trt:GetProfiles"): lambda r, s: get_profiles(self.spec),
            qname("trt:GetProfile"): lambda r, s: get_profile(self.spec, r.operation),
            qname("trt:GetStreamUri"): lambda r, s: stream_uri(self.spec, r.operation, host=self._host),
            qname("trt:GetSnapshotUri"): lambda r, s: snapshot_uri(self.spec, r.operation, base_url=self.base_url),
            qname("tev:GetEventProperties"): lambda r, s: self.events.get_event_properties(),
            qname("tev:CreatePullPointSubscription"): lambda r, s: self.events.create(
                r.operation, address=self._subscription_url, initial=self._initial_states()
            ),
            qname("wsnt:Renew"): lambda r, s: self.events.renew(_needs(s), r.operation),
            qname("wsnt:Unsubscribe"): lambda r, s: self.events.unsubscribe(_needs(s)),
        }

    @property
    def base_url(self) -> str:
        return f"{self._scheme}://{self._host}:{self.port}"

    @property
    def password(self) -> str:
        """The password the camera accepts now; `wrong_credentials` means someone changed it."""
        if "wrong_credentials" in self.faults:
            return self.spec.password + CHANGED_PASSWORD_SUFFIX
        return self.spec.password

    def camera_now(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self.clock_offset_s)

    async def listen(self) -> None:
        self.port = await self._listeners.open(self, port=self.port or self.spec.port)

    async def close(self) -> None:
        self.events.wake_all()  # a waiting PullMessages would hold the shutdown up
        if self.port is not None:
            await self._listeners.close(self.port)

    def boot(self, *, clock_s: float | None = None) -> None:
        """Power-on: uptime from now, no subscriptions; the clock re-synced, or at `clock_s`."""
        now = self._clock.now()
        self.boot_at = now
        self.events.drop_all()
        self.faults.pop("clock_drift", None)
        self.clock_offset_s = 0.0 if clock_s is None else clock_s - now.timestamp()

    def fault_started(self, fault: ActiveFault) -> None:
        self.faults[fault.name] = fault
        if fault.name == "clock_drift":
            self.clock_offset_s = fault.params["seconds"]
        if fault.name in TOPICS:
            self.events.publish(Notification(TOPICS[fault.name], fault.started_at, True))

    def fault_ended(self, name: str) -> None:
        del self.faults[name]
        if name == "clock_drift":
            self.clock_offset_s = 0.0
        if name in TOPICS:
            self.events.publish(Notification(TOPICS[name], self._clock.now(), False))

    def snapshot_jpeg(self) -> bytes:
        return encode_jpeg(render(self._scene, at=self._clock.now(), faults=self.faults.values()))

    async def soap(self, http: HttpRequest) -> Response:
        sub_id = http.path_params.get("sub_id")
        try:
            request = parse_request(await http.body())
            payload = await self._answer(request, sub_id)
        except SoapFault as fault:
            return Response(fault_envelope(fault), status_code=fault.status, media_type=CONTENT_TYPE)
        return Response(envelope(payload), media_type=CONTENT_TYPE)

    async def _answer(self, request: Request, sub_id: str | None) -> etree._Element:
        # GetSystemDateAndTime is pre-auth in the ONVIF Core spec: clients read the
        # camera's clock with it to sign their tokens.
        if request.name != qname("tds:GetSystemDateAndTime"):
            check_username_token(
                request.header,
                username=self.spec.username,
                password=self.password,
                camera_now=self.camera_now(),
                tolerance_s=self.spec.auth_tolerance_s,
            )
        if request.name == qname("tev:PullMessages"):
            return await self.events.pull_messages(_needs(sub_id), request.operation)
        operation = self._operations.get(request.name)
        if operation is None:
            raise SoapFault(sender=False, subcode="ter:ActionNotSupported", reason=f"not supported: {request.name}")
        return operation(request, sub_id)

    async def snapshot(self, http: HttpRequest) -> Response:
        if not self._http_auth.check(
            http.headers.get("authorization"), method=http.method, username=self.spec.username, password=self.password
        ):
            return Response(status_code=401, headers={"WWW-Authenticate": self._http_auth.challenge()})
        if http.path_params["token"] not in {p.token for p in profiles_of(self.spec)}:
            return Response(status_code=404)
        jpeg = await asyncio.to_thread(self.snapshot_jpeg)
        return Response(jpeg, media_type="image/jpeg")

    def _subscription_url(self, sub_id: str) -> str:
        return f"{self.base_url}{SUBSCRIPTION_PATH}/{sub_id}"

    def _initial_states(self) -> list[Notification]:
        now = self._clock.now()
        return [Notification(t, now, name in self.faults, "Initialized") for name, t in TOPICS.items()]


def camera_app(camera_of: Callable[[Scope], Camera]) -> Starlette:
    """The routes every camera answers, each request handled by `camera_of(its scope)`."""

    async def soap(http: HttpRequest) -> Response:
        return await camera_of(http.scope).soap(http)

    async def snapshot(http: HttpRequest) -> Response:
        return await camera_of(http.scope).snapshot(http)

    soap_paths = (DEVICE_PATH, MEDIA_PATH, EVENTS_PATH)
    routes = [Route(path, soap, methods=["POST"]) for path in soap_paths]
    routes.append(Route(SUBSCRIPTION_PATH + "/{sub_id}", soap, methods=["POST"]))
    routes.append(Route(SNAPSHOT_PATH + "/{token}.jpg", snapshot, methods=["GET"]))
    return Starlette(routes=routes)


def _needs(sub_id: str | None) -> str:
    if sub_id is None:
        raise SoapFault(sender=True, subcode="ter:InvalidArgVal", reason="send this to a subscription's address")
    return sub_id
