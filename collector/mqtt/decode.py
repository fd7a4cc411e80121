"""Pure: MQTT topic + payload bytes -> validated alarm-host message -> Samples.

Topics (``{prefix}`` defaults to ``sitewatch/alarmhost``):

- ``{prefix}/{host_id}/status``  retained ``{"online": bool, "ts": ISO 8601}``; the last will
  is ``{"online": false}`` without ``ts`` (see ``StatusPayload``).
- ``{prefix}/{host_id}/event``   QoS 1 ``EventPayload``.

Every failure is a ``DecodeError`` naming the host (or the topic, for an unknown host) and
saying exactly what is wrong, so the consumer can count it and set the payload aside.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from collector.errors import DecodeError
from domain.samples import Sample
from domain.time import require_utc

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


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StatusPayload(_Payload):
    """Retained on ``{prefix}/{host_id}/status``."""

    online: StrictBool
    # Absent in the last will: the will is registered when the host connects, long before
    # the broker sends it, so any time in it would be wrong. The consumer stamps arrival time.
    ts: AwareDatetime | None = None


class EventPayload(_Payload):
    """Published at QoS 1, not retained, on ``{prefix}/{host_id}/event``."""

    event_id: str = Field(min_length=1, max_length=64, description="unique per host; used to drop redeliveries")
    ts: AwareDatetime = Field(description="when the host saw it, ISO 8601 with offset")
    type: EventType
    zone: StrictInt | None = Field(default=None, ge=1, le=999, description="required for zone_* types, else absent")
    battery_v: float | None = Field(default=None, ge=0, le=60, description="battery voltage, V")

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


def host_of(topic: str, *, prefix: str) -> tuple[str, str] | None:
    """``(host_id, "status"|"event")`` of a topic in our scheme, else None."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 2 or not parts[0] or parts[1] not in ("status", "event"):
        return None
    return parts[0], parts[1]


def decode_message(
    *, topic: str, payload: bytes, prefix: str, hosts: Mapping[str, str], received_at: datetime
) -> Message:
    """Validate one message; ``hosts`` maps host_id -> asset_id. Raises DecodeError."""
    parsed = host_of(topic, prefix=prefix)
    if parsed is None:
        raise DecodeError(device_id=topic, message="topic is not in the alarm-host scheme", where=topic)
    host_id, kind = parsed
    asset_id = hosts.get(host_id)
    if asset_id is None:
        raise DecodeError(device_id=host_id, message=f"unknown host {host_id!r}", where=topic)

    def bad(message: str) -> DecodeError:
        return DecodeError(device_id=host_id, message=message, where=topic)

    if len(payload) > MAX_PAYLOAD_BYTES:
        raise bad(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise bad(f"expected a JSON object, got {type(document).__name__}")
    model = StatusPayload if kind == "status" else EventPayload
    try:
        valid = model.model_validate(document)
    except ValidationError as exc:
        raise bad(f"{kind} payload: {_errors(exc)}") from None
    if isinstance(valid, StatusPayload):
        ts = received_at if valid.ts is None else valid.ts
        return HostStatus(
            host_id=host_id, asset_id=asset_id, online=valid.online, ts=require_utc(ts), from_will=valid.ts is None
        )
    return AlarmEvent(
        host_id=host_id,
        asset_id=asset_id,
        event_id=valid.event_id,
        ts=require_utc(valid.ts),
        type=valid.type,
        zone=valid.zone,
        battery_v=valid.battery_v,
    )


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
