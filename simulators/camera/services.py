"""Device and media service responses: pure functions of the camera's identity and clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from sitewatch.simulators.camera.events import VIDEO_SOURCE_TOKEN
from sitewatch.simulators.camera.soap import NS, SoapFault, child_text, el, xs_bool
from sitewatch.simulators.camera.spec import CameraSpec

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
EVENTS_PATH = "/onvif/events_service"
SNAPSHOT_PATH = "/onvif/snapshot"


@dataclass(frozen=True, slots=True)
class StreamProfile:
    token: str
    name: str
    width_px: int
    height_px: int
    fps: int
    bitrate_kbps: int


def profiles_of(spec: CameraSpec) -> tuple[StreamProfile, ...]:
    """A main stream at the sensor's size and a quarter-size sub stream, as most cameras ship."""
    return (
        StreamProfile("Profile_1", "mainStream", spec.width_px, spec.height_px, 25, 4096),
        StreamProfile("Profile_2", "subStream", spec.width_px // 2, spec.height_px // 2, 15, 512),
    )


def system_date_and_time(camera_now: datetime) -> etree._Element:
    utc = el(
        "tt:UTCDateTime",
        el("tt:Time", el("tt:Hour", str(camera_now.hour)), el("tt:Minute", str(camera_now.minute)), el("tt:Second", str(camera_now.second))),
        el("tt:Date", el("tt:Year", str(camera_now.year)), el("tt:Month", str(camera_now.month)), el("tt:Day", str(camera_now.day))),
    )
    return el(
        "tds:GetSystemDateAndTimeResponse",
        el(
            "tds:SystemDateAndTime",
            el("tt:DateTimeType", "NTP"),
            el("tt:DaylightSavings", "false"),
            el("tt:TimeZone", el("tt:TZ", "UTC0")),
            utc,
        ),
    )


def device_information(spec: CameraSpec) -> etree._Element:
    return el(
        "tds:GetDeviceInformationResponse",
        el("tds:Manufacturer", spec.manufacturer),
        el("tds:Model", spec.model),
        el("tds:FirmwareVersion", spec.firmware_version),
        el("tds:SerialNumber", spec.serial_number),
        el("tds:HardwareId", spec.hardware_id),
    )


def capabilities(base_url: str) -> etree._Element:
    device = el("tt:Device", el("tt:XAddr", base_url + DEVICE_PATH))
    events = el(
        "tt:Events",
        el("tt:XAddr", base_url + EVENTS_PATH),
        el("tt:WSSubscriptionPolicySupport", "false"),
        el("tt:WSPullPointSupport", "true"),
        el("tt:WSPausableSubscriptionManagerInterfaceSupport", "false"),
    )
    media = el(
        "tt:Media",
        el("tt:XAddr", base_url + MEDIA_PATH),
        el(
            "tt:StreamingCapabilities",
            el("tt:RTPMulticast", "false"),
            el("tt:RTP_TCP", "true"),
            el("tt:RTP_RTSP_TCP", "true"),
        ),
    )
    return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", device, events, media))


def services(base_url: str) -> etree._Element:
    def service(prefix: str, path: str) -> etree._Element:
        return el(
            "tds:Service",
            el("tds:Namespace", NS[prefix]),
            el("tds:XAddr", base_url + path),
            el("tds:Version", el("tt:Major", "2"), el("tt:Minor", "60")),
        )

    return el(
        "tds:GetServicesResponse",
        service("tds", DEVICE_PATH),
        service("trt", MEDIA_PATH),
        service("tev", EVENTS_PATH),
    )


def get_profiles(spec: CameraSpec) -> etree._Element:
    return el("trt:GetProfilesResponse", *(_profile(spec, p, "trt:Profiles") for p in profiles_of(spec)))


def get_profile(spec: CameraSpec, request: etree._Element) -> etree._Element:
    return el("trt:GetProfileResponse", _profile(spec, _requested_profile(spec, request), "trt:Profile"))


def stream_uri(spec: CameraSpec, request: etree._Element, *, host: str) -> etree._Element:
    profile = _requested_profile(spec, request)
    uri = f"rtsp://{host}:{spec.rtsp_port}/{spec.camera_id}/{profile.token}"
    return el("trt:GetStreamUriResponse", _media_uri(uri))


def snapshot_uri(spec: CameraSpec, request: etree._Element, *, base_url: str) -> etree._Element:
    profile = _requested_profile(spec, request)
    return el("trt:GetSnapshotUriResponse", _media_uri(f"{base_url}{SNAPSHOT_PATH}/{profile.token}.jpg"))


def _media_uri(uri: str) -> etree._Element:
    return el(
        "trt:MediaUri",
        el("tt:Uri", uri),
        el("tt:InvalidAfterConnect", "false"),
        el("tt:InvalidAfterReboot", "false"),
        el("tt:Timeout", "PT0S"),
    )


def _requested_profile(spec: CameraSpec, request: etree._Element) -> StreamProfile:
    token = child_text(request, "trt:ProfileToken")
    for profile in profiles_of(spec):
        if profile.token == token:
            return profile
    raise SoapFault(sender=True, subcode="ter:NoProfile", reason=f"no profile with token {token!r}")


def _profile(spec: CameraSpec, p: StreamProfile, tag: str) -> etree._Element:
    source = el(
        "tt:VideoSourceConfiguration",
        el("tt:Name", "VideoSourceConfig_1"),
        el("tt:UseCount", "2"),
        el("tt:SourceToken", VIDEO_SOURCE_TOKEN),
        el("tt:Bounds", x="0", y="0", width=str(spec.width_px), height=str(spec.height_px)),
        token="VideoSourceConfig_1",
    )
    encoder = el(
        "tt:VideoEncoderConfiguration",
        el("tt:Name", f"VideoEncoder_{p.token}"),
        el("tt:UseCount", "1"),
        el("tt:Encoding", "H264"),
        el("tt:Resolution", el("tt:Width", str(p.width_px)), el("tt:Height", str(p.height_px))),
        el("tt:Quality", "4"),
        el(
            "tt:RateControl",
            el("tt:FrameRateLimit", str(p.fps)),
            el("tt:EncodingInterval", "1"),
            el("tt:BitrateLimit", str(p.bitrate_kbps)),
        ),
        el(
            "tt:Multicast",
            el("tt:Address", el("tt:Type", "IPv4"), el("tt:IPv4Address", "0.0.0.0")),
            el("tt:Port", "0"),
            el("tt:TTL", "1"),
            el("tt:AutoStart", xs_bool(False)),
        ),
        el("tt:SessionTimeout", "PT60S"),
        token=f"VideoEncoder_{p.token}",
    )
    return el(tag, el("tt:Name", p.name), source, encoder, token=p.token, fixed="true")
