"""A camera answering with broken XML, impossible dates and unusable URLs: the poller raises
only CollectorErrors (or reports them as partial errors), and event times are kept inside
the timestamp window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from sitewatch.collector.errors import AuthFailed, CollectorError, DecodeError, TimestampOutOfRange
from sitewatch.collector.onvif.client import CameraFault, OnvifClients
from sitewatch.collector.results import PollResult
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.domain.time import UTC

from .hostile_camera import (
    HostileCamera,
    Reply,
    camera_now,
    envelope,
    hostile_camera,
    notification,
    poll_once,
    pulled,
    system_time,
    xs,
)

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&lol2;</env:Body></env:Envelope>'
)


DTD_ONLY = b'<?xml version="1.0"?><!DOCTYPE x [<!ELEMENT x ANY>]>' + envelope("<x/>").split(b"?>", 1)[1]
BODYLESS = b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>'


def _capabilities(events_xaddr: str) -> bytes:
    return envelope(
        "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events>"
        f"<tt:XAddr>{events_xaddr}</tt:XAddr></tt:Events></tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def _subscription(address: str) -> bytes:
    return envelope(
        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
        f"<wsa:Address>{address}</wsa:Address></tev:SubscriptionReference></tev:CreatePullPointSubscriptionResponse>"
    )


@pytest.fixture
async def camera() -> AsyncIterator[HostileCamera]:
    async with hostile_camera() as running:
        yield running


# (operation, reply, error type, message fragment): each poll fails, or partly fails, with exactly that.
CASES: dict[str, tuple[str, Reply, type[CollectorError], str]] = {
    "year of 20 digits": ("GetSystemDateAndTime", system_time(year="9" * 20), DecodeError, "unusable UTCDateTime"),
    "year 0": ("GetSystemDateAndTime", system_time(year="0"), DecodeError, "unusable UTCDateTime"),
    "month 13": ("GetSystemDateAndTime", system_time(year="2026", month="13"), DecodeError, "unusable UTCDateTime"),
    "clock at the end of 9999": ("GetSystemDateAndTime", system_time(year="9999", month="12", day="31", hour="23"),
                                 DecodeError, "the end of the calendar"),
    "not XML": ("GetSystemDateAndTime", b"garbage", DecodeError, "not well-formed XML"),
    "not UTF-8": ("GetDeviceInformation", b'<?xml version="1.0" encoding="UTF-8"?><a>\xff</a>', DecodeError,
                  "not well-formed XML"),
    "empty reply": ("GetDeviceInformation", b"", DecodeError, "unusable reply"),
    "100,000 nested elements": ("GetDeviceInformation", envelope("<a>" * 100_000 + "</a>" * 100_000), DecodeError,
                                "Excessive depth"),
    "reply to another operation": ("GetCapabilities", envelope("<tds:GetDeviceInformationResponse/>"), CameraFault,
                                   "no event service"),
    # httpx raises InvalidURL or IDNAError, not a transport error, for these: decode.usable_url
    # checks as httpx would (since df1e14a), so an unusable XAddr is no service ...
    **{
        f"events XAddr {what}": ("GetCapabilities", _capabilities(xaddr), CameraFault, "no event service")
        for what, xaddr in (
            ("with an open IPv6 bracket", "http://[::1"),
            ("with port 999999", "http://127.0.0.1:999999/e"),
            ("with a non-ASCII host", "http://\u2603/e"),
            ("with a malformed xn-- label", "http://xn--/e"),
        )
    },
    # ... and an unusable subscription address no subscription.
    **{
        f"subscription {what}": ("CreatePullPointSubscription", _subscription(address), DecodeError, "not an http(s) URL")
        for what, address in (
            ("without an address", ""), ("over FTP", "ftp://x/y"), ("at an IPv6 literal that is not one", "http://[v1.x]/s")
        )
    },
    "event in year 1 at +05:00": ("PullMessages", pulled(notification("0001-01-01T00:00:00+05:00")), DecodeError,
                                  "cannot be represented in UTC"),
    "event time of 5,000 characters": ("PullMessages", pulled(notification("x" * 5000)), DecodeError, "is not ISO 8601"),
    "event in 9999": ("PullMessages", pulled(notification("9999-12-31T20:00:00Z")), TimestampOutOfRange,
                      "max_timestamp_lead_s"),
    # zeep would raise EntitiesForbidden, TypeError or IndexError of its own for these.
    "entity bomb": ("GetDeviceInformation", ENTITY_BOMB, DecodeError, "refused: a DTD declaring entities lol, lol2"),
    "DTD without entities": ("GetDeviceInformation", DTD_ONLY, DecodeError, "refused: a DTD (SOAP forbids one)"),
    "envelope without a body": ("GetDeviceInformation", BODYLESS, DecodeError, "a SOAP Envelope without a Body"),
    "empty body": ("GetSystemDateAndTime", envelope(""), DecodeError, "a SOAP Body without an element"),
    "two bodies": ("PullMessages", BODYLESS.replace(b"/>", b"><env:Body/><env:Body/></env:Envelope>"), DecodeError,
                   "with 2 Body elements"),
    "SOAP fault without a reason": ("GetDeviceInformation",
                                    envelope("<env:Fault><env:Code><env:Value>zzz</env:Value></env:Code></env:Fault>"),
                                    CameraFault, "SOAP fault"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_reply_is_a_typed_error(case: str, camera: HostileCamera, clients: OnvifClients) -> None:
    operation, reply, kind, fragment = CASES[case]
    camera.replies[operation] = reply
    result = await poll_once(camera, clients)
    [error] = result.errors
    assert type(error) is kind and fragment in error.message, repr(error)
    assert len(str(error)) < 500
    assert not [s for s in result.samples if s.channel == "tamper"]


async def test_a_refusal_without_xml_is_auth_failed(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["GetDeviceInformation"], camera.status["GetDeviceInformation"] = b"Unauthorized", 401
    [error] = (await poll_once(camera, clients)).errors
    assert type(error) is AuthFailed and error.message == "HTTP 401", repr(error)


# Sent as they are, these fail in httpx with InvalidURL, UnsupportedProtocol, IDNAError, or
# (a port past 65535) anyio's ExceptionGroup: none of them a TransportError. The camera
# answered; what it said is unusable.
SNAPSHOT_URIS = {
    "port 999999": "http://127.0.0.1:999999/snap.jpg",
    "port -1": "http://127.0.0.1:-1/snap.jpg",
    "an open IPv6 bracket": "http://[::1/snap.jpg",
    "an IPv6 literal that is not one": "http://[v1.x]/snap.jpg",
    "a malformed xn-- label": "http://xn--/snap.jpg",
    "FTP": "ftp://127.0.0.1/snap.jpg",
    "a relative path": "/snap.jpg",
    "5,000 characters of port": "http://127.0.0.1:" + "9" * 5000,
}


@pytest.mark.parametrize("uri", SNAPSHOT_URIS.values(), ids=list(SNAPSHOT_URIS))
async def test_an_unusable_snapshot_uri_is_a_decode_error(uri: str, camera: HostileCamera, clients: OnvifClients) -> None:
    camera.with_media(snapshot_uri=uri)
    result = await poll_once(camera, clients, snapshot=True, events=False)
    [error] = result.errors
    assert type(error) is DecodeError and "unusable URL" in error.message, repr(error)
    assert error.device_id == "cam-h" and len(str(error)) < 600
    assert [(s.channel, s.value) for s in result.samples if s.channel == "snapshot_ok"] == [("snapshot_ok", 0.0)]


def _tamper(result: PollResult) -> list[datetime]:
    return [s.ts for s in result.samples if s.channel == "tamper"]


@pytest.mark.parametrize(
    ("window", "old", "ahead"),
    [
        pytest.param(TimestampWindow(), timedelta(days=8), timedelta(minutes=6), id="default window"),
        # Times the default window believes: refused only if the poller applies the one it was given.
        pytest.param(TimestampWindow(max_age_s=300, max_lead_s=60), timedelta(minutes=10), timedelta(seconds=90),
                     id="configured window"),
    ],
)
async def test_event_times_outside_the_window_are_refused(
    window: TimestampWindow, old: timedelta, ahead: timedelta, camera: HostileCamera, clients: OnvifClients
) -> None:
    now = datetime.now(UTC)
    camera.replies["PullMessages"] = pulled(
        notification(xs(now - old)),
        notification(xs(now + ahead)),
        notification(xs(now - timedelta(seconds=30)), state="false"),
    )
    result = await poll_once(camera, clients, window=window)
    too_old, too_far_ahead = result.errors
    assert type(too_old) is TimestampOutOfRange and f"at most {window.max_age_s:g} s old" in too_old.message
    assert type(too_far_ahead) is TimestampOutOfRange and f"at most {window.max_lead_s:g} s ahead" in too_far_ahead.message
    [kept] = _tamper(result)
    assert abs(kept - (now - timedelta(seconds=30))) < timedelta(seconds=5)


async def test_an_initial_state_dated_long_ago_holds_now(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["PullMessages"] = pulled(notification(xs(datetime.now(UTC) - timedelta(days=30)), operation="Initialized"))
    before = datetime.now(UTC)
    result = await poll_once(camera, clients)
    [at] = _tamper(result)
    assert result.errors == () and before <= at <= datetime.now(UTC)


async def test_an_event_pushed_past_the_calendar_by_the_clock_offset(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["GetSystemDateAndTime"] = camera_now(-timedelta(hours=1))  # the camera is an hour slow
    camera.replies["PullMessages"] = pulled(notification("9999-12-31T23:59:59Z"))
    result = await poll_once(camera, clients)
    [error] = result.errors
    assert type(error) is DecodeError and "outside the calendar" in error.message


async def test_arrival_stamping_replaces_any_event_time(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["PullMessages"] = pulled(
        notification("9999-12-31T20:00:00Z"), notification(xs(datetime.now(UTC) - timedelta(days=8)), state="false")
    )
    before = datetime.now(UTC)
    result = await poll_once(camera, clients, timestamps="arrival")
    stamped = _tamper(result)
    assert result.errors == () and len(stamped) == 2
    assert all(before <= at <= datetime.now(UTC) for at in stamped)
