"""Pure: ONVIF replies (plain mappings from client.py, event messages as XML elements) → values.

Nothing here does I/O or imports zeep, so every vendor variant has a golden test. A reply
is whatever the camera sent: zeep hands over None for a reply to another operation, and a
camera's dates, numbers and URLs may be anything. Nothing here raises but DecodeError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.onvif.guards import url_problem
from sitewatch.domain.time import UTC

EventKind = Literal["motion", "tamper", "video_loss", "storage_failure"]
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the inventory keeps of a camera (GetDeviceInformation)."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


@dataclass(frozen=True, slots=True)
class MediaProfile:
    token: str
    name: str


@dataclass(frozen=True, slots=True)
class ServiceAddresses:
    """XAddrs from GetCapabilities; None when the camera has no such service."""

    media: str | None
    events: str | None


@dataclass(frozen=True, slots=True)
class CameraEvent:
    kind: EventKind
    state: bool
    at: datetime  # UTC, on the camera's clock
    source: str  # e.g. the video source token; "" when the camera names none
    # PropertyOperation "Initialized": the state held when the subscription began, which a
    # camera may date from when that state began (a storage failure weeks ago), not from now.
    initialized: bool = False


FACT_MAX_CHARS = 128  # a camera's manufacturer, model, firmware, serial: real ones are far shorter


def device_info(reply: Mapping[str, Any] | None) -> DeviceInfo:
    fields = reply if isinstance(reply, Mapping) else {}  # no reply: every field missing

    def text(key: str) -> str:
        # Cut, and without control characters: it goes to the inventory and onto pages as it is.
        value = fields.get(key)
        return "" if value is None else "".join(c for c in str(value)[:FACT_MAX_CHARS] if c.isprintable()).strip()

    return DeviceInfo(
        manufacturer=text("Manufacturer"),
        model=text("Model"),
        firmware=text("FirmwareVersion"),
        serial=text("SerialNumber"),
        hardware_id=text("HardwareId"),
    )


def camera_utc(reply: Mapping[str, Any], *, device_id: str) -> datetime:
    """The camera's UTC time from GetSystemDateAndTime (whole seconds, as cameras report it)."""
    utc = reply.get("UTCDateTime") if isinstance(reply, Mapping) else None
    if not utc:
        # LocalDateTime alone is useless without parsing the POSIX TimeZone string; no camera
        # seen so far omits UTCDateTime, so refuse rather than guess.
        raise DecodeError(device_id=device_id, message="GetSystemDateAndTime has no UTCDateTime")
    try:
        date, time = utc["Date"], utc["Time"]
        camera = datetime(
            int(date["Year"]), int(date["Month"]), int(date["Day"]),
            int(time["Hour"]), int(time["Minute"]), int(time["Second"]), tzinfo=UTC,
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: a year of 20 digits
        raise DecodeError(device_id=device_id, message=_bounded(f"unusable UTCDateTime {utc!r}")) from exc
    if camera > _LAST_SIGNABLE:
        # Calls are signed with our time plus the camera's offset, which would pass the
        # end of the calendar (OverflowError inside zeep) a moment after this reading.
        raise DecodeError(device_id=device_id, message=f"camera clock reads {camera.isoformat()}: the end of the calendar")
    return camera


_LAST_SIGNABLE = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def clock_offset_s(camera: datetime, *, sent: datetime, received: datetime) -> float:
    """Camera clock minus ours, in seconds, against the middle of the round trip.

    The camera truncates to whole seconds, so the offset of a synchronised camera reads
    between -1 and 0 s; anything beyond a few seconds is drift.
    """
    middle = sent + (received - sent) / 2
    return (camera - middle).total_seconds()


def service_addresses(capabilities: Mapping[str, Any] | None) -> ServiceAddresses:
    """A service whose XAddr is not a usable http(s) URL counts as absent."""

    def xaddr(name: str) -> str | None:
        section = capabilities.get(name) if isinstance(capabilities, Mapping) else None
        return usable_url(section.get("XAddr")) if isinstance(section, Mapping) else None

    return ServiceAddresses(media=xaddr("Media"), events=xaddr("Events"))


def usable_url(address: object) -> str | None:
    """``address`` if an HTTP client can post to it, else None.

    Camera-supplied URLs go straight to httpx, which raises InvalidURL (not a transport
    error) for a bad port, an unclosed IPv6 bracket, a non-ASCII host or a control character,
    and IDNAError for a host of a malformed ``xn--`` label; port 0 cannot be connected to.
    What httpx refuses is ``url_problem``'s to say (found by tests/collector/onvif/test_decode_fuzz.py:
    ``http://xn--a/`` and ``http://cam:0/`` were kept here, then refused when sent).
    """
    if not isinstance(address, str) or not address.isprintable():
        return None
    try:
        parts = urlsplit(address)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0..65535
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.hostname.isascii():
        return None
    return address if url_problem(address) is None else None


def media_profiles(reply: Sequence[Mapping[str, Any]] | None, *, device_id: str) -> tuple[MediaProfile, ...]:
    profiles = tuple(
        MediaProfile(token=str(p["token"]), name=str(p.get("Name") or ""))
        for p in (reply if isinstance(reply, Sequence) else ())
        if isinstance(p, Mapping) and p.get("token")
    )
    if not profiles:
        raise DecodeError(device_id=device_id, message="GetProfiles returned no profile with a token")
    return profiles


# Topic path (namespace prefix removed) → event kind and the Data item that carries the state.
_TOPICS: dict[str, tuple[EventKind, str]] = {
    "VideoSource/MotionAlarm": ("motion", "State"),
    # Cameras with analytics report motion through the rule engine instead (Axis, Hikvision).
    "RuleEngine/CellMotionDetector/Motion": ("motion", "IsMotion"),
    "RuleEngine/MotionRegionDetector/Motion": ("motion", "State"),
    "VideoSource/GlobalSceneChange/ImagingService": ("tamper", "State"),
    "VideoSource/GlobalSceneChange/AnalyticsService": ("tamper", "State"),
    "VideoSource/GlobalSceneChange/RecordingService": ("tamper", "State"),
    "RuleEngine/TamperDetector/Tamper": ("tamper", "IsTamper"),
    "VideoSource/SignalLoss": ("video_loss", "State"),
    "Device/HardwareFailure/StorageFailure": ("storage_failure", "Failed"),
}
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def topic_path(topic: str) -> str:
    """``tns1:VideoSource/MotionAlarm`` → ``VideoSource/MotionAlarm``.

    Cameras differ in the prefix (``tns1:``, ``ns0:``, ``tnsonvif:``), and a few send the
    full topic URI (``http://www.onvif.org/ver10/topics/VideoSource/MotionAlarm``).
    """
    topic = topic.strip().strip("/")
    if "/topics/" in topic:
        return topic.split("/topics/", 1)[1]
    head, sep, rest = topic.partition("/")
    return head.split(":", 1)[-1] + sep + rest


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _simple_items(message: Any, section: str) -> dict[str, str]:
    """Name → Value of the SimpleItems under the message's Source or Data element."""
    for child in message:
        if _local(child.tag) == section:
            return {
                item.get("Name", ""): item.get("Value", "")
                for item in child.iter()
                if _local(item.tag) == "SimpleItem"
            }
    return {}


def _utc_time(text: str | None, *, device_id: str) -> datetime:
    if not text:
        raise DecodeError(device_id=device_id, message="event message without UtcTime")
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise DecodeError(device_id=device_id, message=f"event UtcTime {text[:60]!r} is not ISO 8601") from exc
    # Some firmwares omit the zone although the attribute is defined as UTC.
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00
        raise DecodeError(device_id=device_id, message=f"event UtcTime {text!r} cannot be represented in UTC") from None


def camera_event(topic: str, message: Any, *, device_id: str) -> CameraEvent | None:
    """One PullMessages notification → CameraEvent, or None for topics we do not monitor.

    ``message`` is the ``tt:Message`` element (lxml or xml.etree). A ``Deleted`` property
    (a rule removed) gives None: it says nothing about the picture.
    """
    known = _TOPICS.get(topic_path(topic))
    if known is None or message is None:
        return None
    if _local(message.tag) != "Message":
        # zeep hands over the wrapper when the Message element is not namespace-qualified.
        inner = next((c for c in message if _local(c.tag) == "Message"), None)
        if inner is None:
            raise DecodeError(device_id=device_id, message=_bounded(f"{topic}: no tt:Message element"))
        message = inner
    if message.get("PropertyOperation") == "Deleted":
        return None
    kind, item = known
    data = _simple_items(message, "Data")
    # The spec names the item per topic; some firmwares call it "State" or "Value"
    # everywhere, and a single item is unambiguous whatever its name.
    raw = data.get(item) or data.get("State") or data.get("Value")
    if raw is None and len(data) == 1:
        raw = next(iter(data.values()))
    if raw is None or raw.strip().lower() not in _TRUE | _FALSE:
        raise DecodeError(device_id=device_id, message=_bounded(f"{topic}: no boolean state in {data!r}"))
    source = _simple_items(message, "Source")
    return CameraEvent(
        kind=kind,
        state=raw.strip().lower() in _TRUE,
        at=_utc_time(message.get("UtcTime"), device_id=device_id),
        source=next(iter(source.values()), ""),
        initialized=message.get("PropertyOperation") == "Initialized",
    )


def _bounded(message: str) -> str:
    # Errors quote what the camera sent (a topic, its items), and a reply may be megabytes:
    # an error is a log line and the device's last error, so it quotes a part.
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def camera_events(
    notifications: Iterable[tuple[str, Any]], *, device_id: str
) -> tuple[list[CameraEvent], list[DecodeError]]:
    """Decode every (topic, message); an unreadable message is an error, the rest still count."""
    events: list[CameraEvent] = []
    errors: list[DecodeError] = []
    for topic, message in notifications:
        try:
            event = camera_event(topic, message, device_id=device_id)
        except DecodeError as error:
            errors.append(error)
            continue
        if event is not None:
            events.append(event)
    return events, errors
