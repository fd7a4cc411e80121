"""What people read instead of channel names: a label per channel and its value in words or units.

    label("outlet_kpa")                   -> "Outlet pressure" / "出口压力"
    show("outlet_kpa", 2.4871, "kPa")     -> "2.49 kPa"
    show("door_open", 1.0, "state")       -> "Open" / "打开"
    show("picture_laplacian_var", 790.2, "score") -> "790"

Both translate into the current locale (``i18n.using`` / the page's locale). Channels come
from the collectors: Modbus profiles (config), ``collector/mqtt/decode.py: host_channels``,
``collector/onvif/poller.py: camera_channels``. A channel not listed here is shown by its
name, and a unit not listed here as written, so a new profile still shows something true.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sitewatch import i18n
from sitewatch.i18n import lazy

NO_VALUE = "—"


@dataclass(frozen=True, slots=True)
class Channel:
    label: str  # i18n.lazy: translated where shown
    states: tuple[str, str] | None = None  # words for 0 and 1 of a state channel (lazy)
    digits: int | None = None  # None: the unit's digits
    duration: bool = False  # seconds shown as days / hours / minutes
    signed: bool = False  # a deviation: "+2.3 s"


_OPEN_CLOSED = (lazy("Closed"), lazy("Open"))
_YES_NO = (lazy("No"), lazy("Yes"))
_NORMAL_ALARM = (lazy("Normal"), lazy("Alarm"))
_NORMAL_FAULT = (lazy("Normal"), lazy("Fault"))

CHANNELS: dict[str, Channel] = {
    # Regulator stations (Modbus profile regulator-v1)
    "inlet_mpa": Channel(lazy("Inlet pressure")),
    "outlet_kpa": Channel(lazy("Outlet pressure")),
    "flow_nm3h": Channel(lazy("Flow")),
    "temperature_c": Channel(lazy("Gas temperature")),
    "filter_dp_kpa": Channel(lazy("Filter differential pressure")),
    "gas_lel_pct": Channel(lazy("Gas concentration")),
    "slam_shut_closed": Channel(lazy("Slam-shut valve"), states=(lazy("Open"), lazy("Tripped (closed)"))),
    "relief_open": Channel(lazy("Relief valve"), states=(lazy("Closed"), lazy("Venting"))),
    "door_open": Channel(lazy("Door"), states=_OPEN_CLOSED),
    "mains_ok": Channel(lazy("Mains power"), states=(lazy("Power off"), lazy("Power on"))),
    "battery_v": Channel(lazy("Battery voltage")),
    "uptime_s": Channel(lazy("RTU running time"), duration=True),
    # Alarm hosts (MQTT); zones below
    "online": Channel(lazy("Connection"), states=(lazy("Offline"), lazy("Online"))),
    "tamper": Channel(lazy("Tamper"), states=_NORMAL_ALARM),
    "armed": Channel(lazy("Armed"), states=(lazy("Disarmed"), lazy("Armed"))),
    "battery_low": Channel(lazy("Backup battery"), states=(lazy("Normal"), lazy("Battery low"))),
    # Cameras, encoders, NVRs (ONVIF)
    "reachable": Channel(lazy("Reachable"), states=(lazy("Unreachable"), lazy("Reachable"))),
    "clock_offset_s": Channel(lazy("Camera clock offset"), digits=1, signed=True),
    "snapshot_ok": Channel(lazy("Snapshot"), states=(lazy("Not taken"), lazy("Taken"))),
    "picture_ok": Channel(lazy("Picture"), states=(lazy("Faulty"), lazy("Sharp"))),
    "picture_black": Channel(lazy("Picture black"), states=_YES_NO),
    "picture_overexposed": Channel(lazy("Picture overexposed"), states=_YES_NO),
    "picture_uniform": Channel(lazy("Lens covered"), states=_YES_NO),
    "picture_frozen": Channel(lazy("Picture frozen"), states=_YES_NO),
    "picture_defocus": Channel(lazy("Picture blurred"), states=_YES_NO),
    "picture_mean_level": Channel(lazy("Picture brightness (0-255)")),
    "picture_laplacian_var": Channel(lazy("Picture sharpness")),
    "picture_change": Channel(lazy("Change since the last snapshot"), digits=1),
    "motion": Channel(lazy("Motion"), states=(lazy("None"), lazy("Detected"))),
    "video_loss": Channel(lazy("Video signal"), states=(lazy("Present"), lazy("Lost"))),
    "storage_failure": Channel(lazy("Recording storage"), states=_NORMAL_FAULT),
    # Modbus gateways (collector/modbus/gateway.py)
    "connected": Channel(lazy("Connection"), states=(lazy("Offline"), lazy("Online"))),
    "stations_answering": Channel(lazy("Stations answering")),
}

# Alarm-host zones: zone_03_alarm, zone_12_fault (collector/mqtt/decode.py).
_ZONE = re.compile(r"^zone_(\d+)_(alarm|fault)$")
_ZONE_LABELS = {"alarm": lazy("Zone %(zone)s alarm"), "fault": lazy("Zone %(zone)s fault")}
_ZONE_STATES = {"alarm": _NORMAL_ALARM, "fault": _NORMAL_FAULT}

# Units as written after a number, and the digits worth reading: 2.49 kPa, not 2.4871935.
# "level" (0-255 grey) and "score" (sharpness) are the picture check's figures: no unit shown.
UNITS: dict[str, tuple[str, int]] = {
    "MPa": ("MPa", 3), "kPa": ("kPa", 2), "Nm3/h": ("Nm³/h", 1), "degC": ("°C", 1), "%LEL": ("%LEL", 1),
    "V": ("V", 2), "s": ("s", 0), "level": ("", 0), "score": ("", 0),
    "count": ("", 0), "%": ("%", 0),
}
_UNKNOWN_UNIT_DIGITS = 3

# The picture check decides one fault at most, in this order (collector/onvif/picture.py).
_PICTURE_FAULTS = (
    ("picture_black", lazy("Black")),
    ("picture_overexposed", lazy("Overexposed")),
    ("picture_uniform", lazy("Covered")),
    ("picture_frozen", lazy("Frozen")),
    ("picture_defocus", lazy("Blurred")),
)


def _channel(channel: str) -> Channel | None:
    known = CHANNELS.get(channel)
    if known is not None:
        return known
    zone = _ZONE.match(channel)
    if zone is not None:
        return Channel(_ZONE_LABELS[zone.group(2)], states=_ZONE_STATES[zone.group(2)])
    return None


def label(channel: str) -> str:
    """The channel's name for people, in the current locale; the channel itself if unknown."""
    zone = _ZONE.match(channel)
    if zone is not None:
        return i18n.gettext(_ZONE_LABELS[zone.group(2)], zone=int(zone.group(1)))
    known = CHANNELS.get(channel)
    return channel if known is None else i18n.gettext(known.label)


def unit_text(unit: str) -> str:
    """A unit as printed after a number (Nm³/h, °C); empty for unitless figures and states."""
    if unit == "state":
        return ""
    return UNITS.get(unit, (unit, 0))[0]


def digits(channel: str, unit: str) -> int:
    known = _channel(channel)
    if known is not None and known.digits is not None:
        return known.digits
    return UNITS.get(unit, ("", _UNKNOWN_UNIT_DIGITS))[1]


def states(channel: str, unit: str) -> dict[int, str] | None:
    """The words for 0 and 1 of a state channel (a chart's axis), None for a measurement."""
    if unit != "state":
        return None
    known = _channel(channel)
    words = known.states if known is not None and known.states is not None else _YES_NO
    return {0: i18n.gettext(words[0]), 1: i18n.gettext(words[1])}


def show(channel: str, value: float | None, unit: str) -> str:
    """A value as people read it: a word for a state, a number with its unit and digits."""
    if value is None or math.isnan(value):
        return NO_VALUE
    words = states(channel, unit)
    if words is not None:
        return words[1] if value >= 0.5 else words[0]
    known = _channel(channel)
    if known is not None and known.duration:
        return duration(value)
    places = digits(channel, unit)
    value = round(value, places) or 0.0  # -0.04 shown to one place is "0.0", not "-0.0"
    sign = "+" if known is not None and known.signed else ""
    number = f"{value:{sign},.{places}f}"
    suffix = unit_text(unit)
    return f"{number} {suffix}" if suffix else number


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return i18n.gettext("%(days)s d %(hours)s h", days=days, hours=hours)
    return i18n.gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)


def picture_verdict(values: Mapping[str, float]) -> str | None:
    """One word for the latest snapshot's picture check (Sharp, Blurred, Black, Frozen ...);
    None when no picture was judged. ``values``: channel -> latest value."""
    for channel, word in _PICTURE_FAULTS:
        if values.get(channel, 0.0) >= 0.5:
            return i18n.gettext(word)
    ok = values.get("picture_ok")
    if ok is None or math.isnan(ok):
        return None
    return i18n.gettext("Sharp") if ok >= 0.5 else i18n.gettext("Faulty")
