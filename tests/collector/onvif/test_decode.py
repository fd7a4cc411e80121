"""Golden cases for sitewatch.collector.onvif.decode, including vendor variants of event messages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.onvif.decode import (
    FACT_MAX_CHARS,
    CameraEvent,
    camera_event,
    camera_events,
    camera_utc,
    clock_offset_s,
    device_info,
    media_profiles,
    service_addresses,
    topic_path,
    usable_url,
)

TT = 'xmlns:tt="http://www.onvif.org/ver10/schema"'


def _message(data: str, *, op: str = "Changed", at: str = "2026-11-27T08:00:01Z", source: str = "") -> etree._Element:
    return etree.fromstring(
        f'<tt:Message {TT} UtcTime="{at}" PropertyOperation="{op}">'
        f"<tt:Source>{source}</tt:Source><tt:Data>{data}</tt:Data></tt:Message>"
    )


def _item(name: str, value: str) -> str:
    return f'<tt:SimpleItem Name="{name}" Value="{value}"/>'


def test_device_info_strips_and_tolerates_missing_fields() -> None:
    info = device_info({"Manufacturer": " HIKVISION ", "Model": "DS-2CD2043G2-I", "FirmwareVersion": "V5.7.3",
                        "SerialNumber": "DS-2CD2043G2-I20230101AAWRJ00001", "HardwareId": None})
    assert (info.manufacturer, info.model, info.firmware, info.hardware_id) == (
        "HIKVISION", "DS-2CD2043G2-I", "V5.7.3", "",
    )


def test_device_info_is_cut_and_printable() -> None:
    # A camera's 2 MiB "manufacturer" would go to the inventory and every page whole.
    info = device_info({"Manufacturer": "A" * 2_000_000, "Model": "DS-2CD\x1b[31m\x00", "SerialNumber": "\tX1\n"})
    assert info.manufacturer == "A" * FACT_MAX_CHARS
    assert (info.model, info.serial) == ("DS-2CD[31m", "X1")


def test_camera_utc_and_offset_against_the_middle_of_the_round_trip() -> None:
    reply = {"UTCDateTime": {"Date": {"Year": 2026, "Month": 11, "Day": 27},
                             "Time": {"Hour": 8, "Minute": 5, "Second": 0}}}
    camera = camera_utc(reply, device_id="c")
    sent = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
    assert camera == datetime(2026, 11, 27, 8, 5, tzinfo=UTC)
    assert clock_offset_s(camera, sent=sent, received=sent + timedelta(seconds=2)) == 299.0


@pytest.mark.parametrize("reply", [{}, {"UTCDateTime": None}, {"UTCDateTime": {"Date": {"Year": 2026}}}])
def test_unusable_time_is_a_decode_error(reply: dict) -> None:
    with pytest.raises(DecodeError):
        camera_utc(reply, device_id="c")


def test_service_addresses_and_profiles() -> None:
    caps = {"Media": {"XAddr": "http://10.0.0.9/onvif/Media"}, "Events": None}
    assert service_addresses(caps).media == "http://10.0.0.9/onvif/Media"
    assert service_addresses(caps).events is None
    profiles = media_profiles([{"token": "Profile_1", "Name": "mainStream"}, {"token": None}], device_id="c")
    assert [(p.token, p.name) for p in profiles] == [("Profile_1", "mainStream")]
    with pytest.raises(DecodeError):
        media_profiles([], device_id="c")


@pytest.mark.parametrize(
    ("topic", "path"),
    [
        ("tns1:VideoSource/MotionAlarm", "VideoSource/MotionAlarm"),
        (" ns0:VideoSource/MotionAlarm ", "VideoSource/MotionAlarm"),
        ("http://www.onvif.org/ver10/topics/VideoSource/SignalLoss", "VideoSource/SignalLoss"),
        ("tns1:RuleEngine/TamperDetector/Tamper", "RuleEngine/TamperDetector/Tamper"),
    ],
)
def test_topic_prefix_variants(topic: str, path: str) -> None:
    assert topic_path(topic) == path


@pytest.mark.parametrize(
    ("topic", "data", "kind", "state"),
    [
        ("tns1:VideoSource/MotionAlarm", _item("State", "true"), "motion", True),
        ("tns1:RuleEngine/CellMotionDetector/Motion", _item("IsMotion", "false"), "motion", False),
        ("tns1:VideoSource/GlobalSceneChange/ImagingService", _item("State", "1"), "tamper", True),
        ("tns1:RuleEngine/TamperDetector/Tamper", _item("IsTamper", "TRUE"), "tamper", True),
        ("tns1:VideoSource/SignalLoss", _item("State", "false"), "video_loss", False),
        ("tns1:Device/HardwareFailure/StorageFailure", _item("Failed", "true"), "storage_failure", True),
        # A firmware naming the item "Value" for the tamper detector.
        ("tns1:RuleEngine/TamperDetector/Tamper", _item("Value", "true"), "tamper", True),
        # A single item is unambiguous whatever its name.
        ("tns1:VideoSource/SignalLoss", _item("Signal", "0"), "video_loss", False),
    ],
)
def test_event_topics(topic: str, data: str, kind: str, state: bool) -> None:
    message = _message(data, source=_item("VideoSourceConfigurationToken", "VideoSourceToken"))
    event = camera_event(topic, message, device_id="c")
    assert event == CameraEvent(kind=kind, state=state, at=datetime(2026, 11, 27, 8, 0, 1, tzinfo=UTC),
                                source="VideoSourceToken")


def test_event_time_variants_and_stdlib_elements() -> None:
    # No zone (read as UTC), fractions and an offset; xml.etree works as well as lxml.
    no_zone = ET.fromstring(
        f'<tt:Message {TT} UtcTime="2026-11-27T08:00:01.250"><tt:Data>{_item("State", "true")}</tt:Data></tt:Message>'
    )
    assert camera_event("tns1:VideoSource/MotionAlarm", no_zone, device_id="c").at == datetime(
        2026, 11, 27, 8, 0, 1, 250000, tzinfo=UTC
    )
    shifted = _message(_item("State", "true"), at="2026-11-27T16:00:01+08:00")
    assert camera_event("tns1:VideoSource/MotionAlarm", shifted, device_id="c").at.hour == 8


def test_ignored_and_broken_messages() -> None:
    motion = _item("State", "true")
    assert camera_event("tns1:Monitoring/ProcessorUsage", _message(_item("Value", "12")), device_id="c") is None
    assert camera_event("tns1:VideoSource/MotionAlarm", _message(motion, op="Deleted"), device_id="c") is None
    events, errors = camera_events(
        [
            ("tns1:VideoSource/MotionAlarm", _message(_item("State", "maybe"))),
            ("tns1:VideoSource/MotionAlarm", _message(motion, at="yesterday")),
            ("tns1:VideoSource/SignalLoss", _message(_item("State", "true"))),
        ],
        device_id="c",
    )
    assert [e.kind for e in events] == ["video_loss"]
    assert len(errors) == 2 and all(isinstance(e, DecodeError) for e in errors)


@pytest.mark.parametrize(
    ("address", "usable"),
    [
        ("http://192.168.1.64/onvif/events", True),
        ("https://cam.site.internal:8443/onvif/events", True),
        ("http://[::1", False),  # httpx: InvalidURL
        ("http://127.0.0.1:999999/e", False),  # port out of range
        ("http://\u2603/e", False),  # non-ASCII host
        ("http://cam\t1/e", False),  # control character
        ("ftp://cam/e", False),
        ("/onvif/events", False),
        ("", False),
        (None, False),
    ],
)
def test_usable_url_keeps_what_an_http_client_can_post_to(address: object, usable: bool) -> None:
    assert usable_url(address) == (address if usable else None)


@pytest.mark.parametrize("reply", [None, "garbage", [1, 2]])
def test_a_reply_that_is_not_a_mapping_is_no_data_not_a_crash(reply: object) -> None:
    assert device_info(reply) == device_info({})
    assert service_addresses(reply) == service_addresses({})
    with pytest.raises(DecodeError, match="no UTCDateTime"):
        camera_utc(reply, device_id="c")
    with pytest.raises(DecodeError, match="no profile with a token"):
        media_profiles(reply, device_id="c")


def test_an_event_time_utc_cannot_hold_is_a_decode_error() -> None:
    motion = _item("State", "true")
    with pytest.raises(DecodeError, match="cannot be represented in UTC"):
        camera_event("tns1:VideoSource/MotionAlarm", _message(motion, at="0001-01-01T00:00:00+05:00"), device_id="c")
