"""Pure: MQTT topic + payload bytes -> validated alarm-host message -> Samples.

Topics (``{prefix}`` defaults to ``sitewatch/alarmhost``):

- ``{prefix}/{host_id}/status``  retained ``{"online": bool, "ts": ISO 8601}``; the last will
  is ``{"online": false}`` without ``ts`` (see ``StatusPayload``).
- ``{prefix}/{host_id}/event``   QoS 1 ``EventPayload``.

Every failure is a ``DecodeError`` naming the host (or the topic, for an unknown host) and
saying exactly what is wrong, so the consumer can count it and set the payload aside. Anyone
who can reach the broker can publish here, so nothing a payload holds may raise anything
else: not nesting deep enough to exhaust the parser's recursion, not an integer too long for
``int()``, not NaN or 1e400, not a time that UTC cannot hold. A device time outside the
window around its arrival is a ``TimestampOutOfRange`` (see ``TimestampPolicy``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.domain.samples import Sample

EventType = Literal[
    "heartbeat",
    "zone_alarm",
    "zone_restore",
    "zone_fault",
    "zone_fault_restore",
    "tamper",
    "tamper_restore",
    "armed",
    "disarmed",
    "mains_lost",
    "mains_restored",
    "battery_low",
    "battery_ok",
]

ZONE_EVENTS = frozenset({"zone_alarm", "zone_restore", "zone_fault", "zone_fault_restore"})

# Event type -> (channel, value) it sets; zone events put the zone number into the channel.
_STATE_OF: dict[str, tuple[str, float]] = {
    "heartbeat": ("online", 1.0),
    "zone_alarm": ("zone_{zone:02d}_alarm", 1.0),
    "zone_restore": ("zone_{zone:02d}_alarm", 0.0),
    "zone_fault": ("zone_{zone:02d}_fault", 1.0),
    "zone_fault_restore": ("zone_{zone:02d}_fault", 0.0),
    "tamper": ("tamper", 1.0),
    "tamper_restore": ("tamper", 0.0),
    "armed": ("armed", 1.0),
    "disarmed": ("armed", 0.0),
    "mains_lost": ("mains_ok", 0.0),
    "mains_restored": ("mains_ok", 1.0),
    "battery_low": ("battery_low", 1.0),
    "battery_ok": ("battery_low", 0.0),
}

MAX_PAYLOAD_BYTES = 4096  # a real event is ~150 bytes; anything this big is not one of ours
# Our payloads are flat objects (depth 1). The limit is checked before parsing, because
# json.loads recurses once per level and ~1,000 nested "[" end in RecursionError.
MAX_NESTING = 4
# zone <= 999 and battery_v <= 60 V: no field needs more digits; int() of a 4,301-digit
# string raises a plain ValueError and costs quadratic time below that.
MAX_INTEGER_DIGITS = 20
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True, slots=True)
class TimestampPolicy:
    """Whose clock stamps a message: the host's, checked against ``window``, or ours on arrival."""

    window: TimestampWindow = field(default_factory=TimestampWindow)
    arrival_hosts: frozenset[str] = field(default_factory=frozenset)  # hosts with a clock known to be wrong


def _iso_8601(value: object) -> datetime:
    # pydantic's lax datetime also takes numbers and digit strings as Unix times; hosts are
    # documented to send ISO 8601 text, and a number here means a host out of spec.
    if not isinstance(value, str):
        # ValueError, not TypeError: pydantic turns only that into a validation error.
        raise ValueError(f"must be ISO 8601 text, not {type(value).__name__}")  # noqa: TRY004
    return datetime.fromisoformat(value)


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_8601)]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StatusPayload(_Payload):
    """Retained on ``{prefix}/{host_id}/status``."""

    online: StrictBool
    # Absent in the last will: the will is registered when the host connects, long before
    # the broker sends it, so any time in it would be wrong. The consumer stamps arrival time.
    ts: IsoTime | None = None


class EventPayload(_Payload):
    """Published at QoS 1, not retained, on ``{prefix}/{host_id}/event``."""

    event_id: str = Field(min_length=1, max_length=64, description="unique per host; used to drop redeliveries")
    ts: IsoTime = Field(description="when the host saw it, ISO 8601 with offset")
    type: EventType
    zone: StrictInt | None = Field(default=None, ge=1, le=999, description="required for zone_* types, else absent")
    battery_v: float | None = Field(
        default=None, ge=0, le=60, strict=True, allow_inf_nan=False, description="battery voltage, V"
    )

    @model_validator(mode="after")
    def _zone_where_relevant(self) -> EventPayload:
        if self.type in ZONE_EVENTS and self.zone is None:
            raise ValueError(f"{self.type} needs a zone")
        if self.type not in ZONE_EVENTS and self.zone is not None:
            raise ValueError(f"{self.type} takes no zone")
        return self


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    host_id: str
    asset_id: str
    event_id: str
    ts: datetime  # UTC
    type: EventType
    zone: int | None = None
    battery_v: float | None = None  # V


@dataclass(frozen=True, slots=True)
class HostStatus:
    host_id: str
    asset_id: str
    online: bool
    ts: datetime  # UTC: the payload's, or the arrival time for a last will
    from_will: bool  # no ts in the payload: the broker sent the host's last will


Message = AlarmEvent | HostStatus


def status_topic(prefix: str, host_id: str) -> str:
    return f"{prefix}/{host_id}/status"


def event_topic(prefix: str, host_id: str) -> str:
    return f"{prefix}/{host_id}/event"


def subscriptions(prefix: str) -> tuple[str, str]:
    return (f"{prefix}/+/status", f"{prefix}/+/event")


def host_subscriptions(prefix: str, host_ids: Iterable[str]) -> tuple[str, ...]:
    """The topics of these hosts alone (status and event: one filter each)."""
    return tuple(f"{prefix}/{host_id}/+" for host_id in sorted(host_ids))


def host_of(topic: str, *, prefix: str) -> tuple[str, str] | None:
    """``(host_id, "status"|"event")`` of a topic in our scheme, else None."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 2 or not parts[0] or parts[1] not in ("status", "event"):
        return None
    return parts[0], parts[1]


def decode_message(
    *,
    topic: str,
    payload: bytes,
    prefix: str,
    hosts: Mapping[str, str],
    received_at: datetime,
    timestamps: TimestampPolicy = TimestampPolicy(),
    zones: Mapping[str, int] | None = None,
) -> Message:
    """Validate one message; ``hosts`` maps host_id -> asset_id. Raises DecodeError only.

    ``zones`` maps host_id -> its configured zone count (``alarm_host.zones``): a zone above
    it would set a channel no rule judges. A host absent from it takes any zone up to 999.
    """
    parsed = host_of(topic, prefix=prefix)
    if parsed is None:
        raise DecodeError(device_id=topic, message="topic is not in the alarm-host scheme", where=topic)
    host_id, kind = parsed
    asset_id = hosts.get(host_id)
    if asset_id is None:
        raise DecodeError(device_id=host_id, message=f"unknown host {host_id!r}", where=topic)

    def bad(message: str) -> DecodeError:
        return DecodeError(device_id=host_id, message=_bounded(message), where=topic)

    try:
        document = _json_object(payload)
    except _Unusable as exc:
        raise bad(str(exc)) from None
    model = StatusPayload if kind == "status" else EventPayload
    try:
        valid = model.model_validate(document)
    except ValidationError as exc:
        raise bad(f"{kind} payload: {_errors(exc)}") from None
    zone_count = zones.get(host_id) if zones is not None else None
    if isinstance(valid, EventPayload) and valid.zone is not None and zone_count is not None and valid.zone > zone_count:
        raise bad(f"zone {valid.zone} is above the host's {zone_count} zones (alarm_host.zones)")
    if valid.ts is None or host_id in timestamps.arrival_hosts:
        ts = received_at
    else:
        ts = timestamps.window.check(valid.ts, received_at=received_at, device_id=host_id, where=topic)
    if isinstance(valid, StatusPayload):
        return HostStatus(host_id=host_id, asset_id=asset_id, online=valid.online, ts=ts, from_will=valid.ts is None)
    return AlarmEvent(
        host_id=host_id,
        asset_id=asset_id,
        event_id=valid.event_id,
        ts=ts,
        type=valid.type,
        zone=valid.zone,
        battery_v=valid.battery_v,
    )


class _Unusable(Exception):
    """The payload is not a JSON object we can even look at; the text says why."""


# A JSON string, for the nesting count to skip. The closing quote is optional: a string left
# open runs to the end of the text in one match. Required, each quote of a text like
# '"\\"\\"\\"...' began a match that ran to the end before failing, and 4 KB took ~0.45 s
# (tests/corpus/mqtt/). json.loads never reads past a string it cannot end, so the brackets
# after one need no counting.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')
_NESTING_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _json_object(payload: bytes) -> dict[str, object]:
    if not payload:
        raise _Unusable("empty payload")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _Unusable(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        # Explicitly UTF-8: json.loads(bytes) would also guess UTF-16 and UTF-32.
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unusable(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    brackets = (_NESTING_STEP[c] for c in _JSON_STRING.sub("", text) if c in _NESTING_STEP)
    depth = max(accumulate(brackets, initial=0))
    if depth > MAX_NESTING:
        raise _Unusable(f"nested {depth} levels deep; payloads are flat objects (at most {MAX_NESTING})")
    try:
        document = json.loads(
            text,
            parse_int=_integer,
            parse_float=_finite_float,
            parse_constant=_no_constant,
            object_pairs_hook=_json_object_pairs,
        )
    except json.JSONDecodeError as exc:
        raise _Unusable(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _Unusable(f"expected a JSON object, got {type(document).__name__}")
    return document


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Unusable(f"integer of {len(text.lstrip('-'))} digits (at most {MAX_INTEGER_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Unusable(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> float:
    # Python's json accepts NaN, Infinity and -Infinity; JSON does not, and neither do we.
    raise _Unusable(f"{name} is not a JSON number")


def _json_object_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = {}
    for key, value in pairs:
        if key in document:
            raise _Unusable(f"duplicate key {key!r}: which of its values is meant is ambiguous")
        for text in (key, value) if isinstance(value, str) else (key,):
            if not _is_utf8_encodable(text):
                # JSON allows "\ud800" alone; no log handler or API response can encode it.
                raise _Unusable(f"{text!r} holds an unpaired surrogate: not text")
        document[key] = value
    return document


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bounded(message: str) -> str:
    # Errors quote the payload's own text (an unknown key, a bad time): keep log lines short.
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def host_channels(zones: int) -> dict[str, str]:
    """Every channel a host with ``zones`` zones can report, with its unit (for the rules)."""
    channels = {template: "state" for template, _ in _STATE_OF.values() if "{zone" not in template}
    for zone in range(1, zones + 1):
        for template in ("zone_{zone:02d}_alarm", "zone_{zone:02d}_fault"):
            channels[template.format(zone=zone)] = "state"
    return channels | {"battery_v": "V"}


def to_samples(message: Message) -> list[Sample]:
    """The state channels a message sets (unit "state": 0/1), plus ``battery_v`` in V."""
    if isinstance(message, HostStatus):
        return [Sample(message.asset_id, "online", message.ts, 1.0 if message.online else 0.0, "state")]
    template, value = _STATE_OF[message.type]
    samples = [Sample(message.asset_id, template.format(zone=message.zone), message.ts, value, "state")]
    if message.battery_v is not None:
        samples.append(Sample(message.asset_id, "battery_v", message.ts, message.battery_v, "V"))
    return samples


def payload_schemas() -> dict[str, object]:
    """JSON Schema of both payloads, as published in ``schema.json`` for device integrators."""
    return {
        "$comment": "Sitewatch alarm-host MQTT payloads; generated from collector/mqtt/decode.py",
        "status": StatusPayload.model_json_schema(),
        "event": EventPayload.model_json_schema(),
    }


def _errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
