"""A camera answering with broken XML, impossible dates and unusable URLs: the poller raises
only CollectorErrors (or reports them as partial errors), and event times are kept inside
the timestamp window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
import zeep.exceptions

from collector.errors import CollectorError, DecodeError, TimestampOutOfRange
from collector.onvif.client import CameraFault, OnvifClients
from collector.onvif.config import OnvifEndpoint
from collector.onvif.poller import OnvifPoller
from collector.results import PollResult
from domain.time import UTC

from .hostile_camera import HostileCamera, Reply, camera_now, envelope, hostile_camera, notification, pulled, system_time, xs

ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&lol2;</env:Body></env:Envelope>'
)


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


async def _poll(camera: HostileCamera, clients: OnvifClients, **endpoint: object) -> PollResult:
    """One poll; a CollectorError is returned as the result's only error, anything else raises."""
    settings = {"snapshot": False, "events_pull_timeout_s": 0, "timeout_s": 3.0} | endpoint
    poller = OnvifPoller(
        asset_id="cam-h", endpoint=OnvifEndpoint(host="127.0.0.1", port=camera.port, credential="cam-h", **settings),
        credentials=lambda: ("admin", "secret"), clients=clients,
    )
    try:
        return await poller.poll(datetime.now(UTC))
    except CollectorError as error:
        return PollResult(samples=(), errors=(error,))
    finally:
        await poller.close()


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
    # httpx raises InvalidURL, not a transport error, for these: an unusable XAddr is no service.
    **{
        f"events XAddr {what}": ("GetCapabilities", _capabilities(xaddr), CameraFault, "no event service")
        for what, xaddr in (
            ("with an open IPv6 bracket", "http://[::1"),
            ("with port 999999", "http://127.0.0.1:999999/e"),
            ("with a non-ASCII host", "http://\u2603/e"),
        )
    },
    **{
        f"subscription {what}": ("CreatePullPointSubscription", _subscription(address), DecodeError, "not an http(s) URL")
        for what, address in (("without an address", ""), ("over FTP", "ftp://x/y"))
    },
    "event in year 1 at +05:00": ("PullMessages", pulled(notification("0001-01-01T00:00:00+05:00")), DecodeError,
                                  "cannot be represented in UTC"),
    "event time of 5,000 characters": ("PullMessages", pulled(notification("x" * 5000)), DecodeError, "is not ISO 8601"),
    "event in 9999": ("PullMessages", pulled(notification("9999-12-31T20:00:00Z")), TimestampOutOfRange,
                      "max_timestamp_lead_s"),
    "SOAP fault without a reason": ("GetDeviceInformation",
                                    envelope("<env:Fault><env:Code><env:Value>zzz</env:Value></env:Code></env:Fault>"),
                                    CameraFault, "SOAP fault"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_reply_is_a_typed_error(case: str, camera: HostileCamera, clients: OnvifClients) -> None:
    operation, reply, kind, fragment = CASES[case]
    camera.replies[operation] = reply
    result = await _poll(camera, clients)
    [error] = result.errors
    assert type(error) is kind and fragment in error.message, repr(error)
    assert len(str(error)) < 500
    assert not [s for s in result.samples if s.channel == "tamper"]


# Known gaps in client.py (not in this change's files): these zeep failures escape _call
# untranslated. The scheduler's top-level guard still catches them (scheduler.poll_once);
# the tests pass, and strict xfail flags them, once client.py maps them onto DecodeError.
@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(ENTITY_BOMB, id="entity bomb",
                     marks=pytest.mark.xfail(strict=True, raises=zeep.exceptions.EntitiesForbidden, reason="client.py")),
        pytest.param(b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>',
                     id="envelope without a body", marks=pytest.mark.xfail(strict=True, raises=TypeError, reason="client.py")),
    ],
)
async def test_replies_client_py_does_not_translate_yet(reply: bytes, camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["GetDeviceInformation"] = reply
    [error] = (await _poll(camera, clients)).errors
    assert isinstance(error, DecodeError)


def _tamper(result: PollResult) -> list[datetime]:
    return [s.ts for s in result.samples if s.channel == "tamper"]


async def test_event_times_outside_the_window_are_refused(camera: HostileCamera, clients: OnvifClients) -> None:
    now = datetime.now(UTC)
    camera.replies["PullMessages"] = pulled(
        notification(xs(now - timedelta(days=8))),
        notification(xs(now + timedelta(minutes=6))),
        notification(xs(now - timedelta(minutes=1)), state="false"),
    )
    result = await _poll(camera, clients)
    assert [type(e) for e in result.errors] == [TimestampOutOfRange, TimestampOutOfRange]
    [kept] = _tamper(result)
    assert abs(kept - (now - timedelta(minutes=1))) < timedelta(seconds=5)


async def test_an_initial_state_dated_long_ago_holds_now(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["PullMessages"] = pulled(notification(xs(datetime.now(UTC) - timedelta(days=30)), operation="Initialized"))
    before = datetime.now(UTC)
    result = await _poll(camera, clients)
    [at] = _tamper(result)
    assert result.errors == () and before <= at <= datetime.now(UTC)


async def test_an_event_pushed_past_the_calendar_by_the_clock_offset(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["GetSystemDateAndTime"] = camera_now(-timedelta(hours=1))  # the camera is an hour slow
    camera.replies["PullMessages"] = pulled(notification("9999-12-31T23:59:59Z"))
    result = await _poll(camera, clients)
    [error] = result.errors
    assert type(error) is DecodeError and "outside the calendar" in error.message


async def test_arrival_stamping_replaces_any_event_time(camera: HostileCamera, clients: OnvifClients) -> None:
    camera.replies["PullMessages"] = pulled(
        notification("9999-12-31T20:00:00Z"), notification(xs(datetime.now(UTC) - timedelta(days=8)), state="false")
    )
    before = datetime.now(UTC)
    result = await _poll(camera, clients, timestamps="arrival")
    stamped = _tamper(result)
    assert result.errors == () and len(stamped) == 2
    assert all(before <= at <= datetime.now(UTC) for at in stamped)
