"""Golden cases: every event type to its Samples, every malformed payload to a precise DecodeError."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.mqtt.decode import (
    AlarmEvent,
    HostStatus,
    decode_message,
    payload_schemas,
    to_samples,
)
from sitewatch.domain.samples import Sample

PREFIX = "sitewatch/alarmhost"
HOSTS = {"ah-001": "alarm-north-01"}
ARRIVED = datetime(2025, 3, 1, 8, 0, 5, tzinfo=UTC)
TS_TEXT = "2025-03-01T16:00:00+08:00"  # a host on local time: stored as UTC
TS = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "collector" / "mqtt" / "schema.json"


def _decode(payload: object, *, leaf: str = "event", host: str = "ah-001") -> AlarmEvent | HostStatus:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_message(topic=f"{PREFIX}/{host}/{leaf}", payload=raw, prefix=PREFIX, hosts=HOSTS, received_at=ARRIVED)


def _state(channel: str, value: float) -> Sample:
    return Sample("alarm-north-01", channel, TS, value, "state")


@pytest.mark.parametrize(
    ("event_type", "zone", "expected"),
    [
        ("heartbeat", None, [_state("online", 1.0)]),
        ("zone_alarm", 3, [_state("zone_03_alarm", 1.0)]),
        ("zone_restore", 3, [_state("zone_03_alarm", 0.0)]),
        ("zone_fault", 12, [_state("zone_12_fault", 1.0)]),
        ("zone_fault_restore", 12, [_state("zone_12_fault", 0.0)]),
        ("tamper", None, [_state("tamper", 1.0)]),
        ("tamper_restore", None, [_state("tamper", 0.0)]),
        ("armed", None, [_state("armed", 1.0)]),
        ("disarmed", None, [_state("armed", 0.0)]),
        ("mains_lost", None, [_state("mains_ok", 0.0)]),
        ("mains_restored", None, [_state("mains_ok", 1.0)]),
        ("battery_low", None, [_state("battery_low", 1.0)]),
        ("battery_ok", None, [_state("battery_low", 0.0)]),
    ],
)
def test_every_event_type_sets_its_state_channel(event_type: str, zone: int | None, expected: list[Sample]) -> None:
    payload: dict[str, object] = {"event_id": "e-1", "ts": TS_TEXT, "type": event_type}
    if zone is not None:
        payload["zone"] = zone
    event = _decode(payload)
    assert event == AlarmEvent(
        host_id="ah-001", asset_id="alarm-north-01", event_id="e-1", ts=TS, type=event_type, zone=zone
    )
    assert event.ts.tzinfo is UTC
    assert to_samples(event) == expected


def test_battery_voltage_comes_with_its_unit() -> None:
    event = _decode({"event_id": "e-2", "ts": TS_TEXT, "type": "heartbeat", "battery_v": 13.4})
    assert to_samples(event) == [_state("online", 1.0), Sample("alarm-north-01", "battery_v", TS, 13.4, "V")]


def test_status_with_time_and_last_will_without() -> None:
    online = _decode({"online": True, "ts": TS_TEXT}, leaf="status")
    assert online == HostStatus("ah-001", "alarm-north-01", True, TS, from_will=False)
    assert to_samples(online) == [_state("online", 1.0)]
    will = _decode({"online": False}, leaf="status")
    assert will == HostStatus("ah-001", "alarm-north-01", False, ARRIVED, from_will=True)
    assert to_samples(will) == [Sample("alarm-north-01", "online", ARRIVED, 0.0, "state")]


@pytest.mark.parametrize(
    ("payload", "leaf", "message"),
    [
        (b"\xff\xfe", "event", "not UTF-8 text"),
        (b"{not json", "event", "not JSON"),
        (b"[1, 2]", "event", "expected a JSON object, got list"),
        (b"x" * 5000, "event", "exceeds 4096"),
        ({"ts": TS_TEXT, "type": "tamper"}, "event", "event_id: Field required"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "explosion"}, "event", "type: Input should be"),
        ({"event_id": "e", "ts": "2025-03-01T08:00:00", "type": "tamper"}, "event", "ts: Input should have timezone info"),
        ({"event_id": "e", "ts": "yesterday", "type": "tamper"}, "event", "ts: Value error, Invalid isoformat string"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "zone_alarm"}, "event", "zone_alarm needs a zone"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "tamper", "zone": 2}, "event", "tamper takes no zone"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "zone_alarm", "zone": "2"}, "event", "zone: Input should be a valid integer"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "zone_alarm", "zone": 0}, "event", "zone: Input should be greater than or equal to 1"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "heartbeat", "battery_v": "high"}, "event", "battery_v:"),
        ({"event_id": "e", "ts": TS_TEXT, "type": "heartbeat", "colour": "red"}, "event", "colour: Extra inputs are not permitted"),
        ({"event_id": 7, "ts": TS_TEXT, "type": "heartbeat"}, "event", "event_id: Input should be a valid string"),
        ({"online": "yes"}, "status", "online: Input should be a valid boolean"),
        ({"ts": TS_TEXT}, "status", "online: Field required"),
    ],
)
def test_malformed_payloads_raise_precise_errors(payload: object, leaf: str, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        _decode(payload, leaf=leaf)
    assert caught.value.device_id == "ah-001"
    assert caught.value.where == f"{PREFIX}/ah-001/{leaf}"
    assert message in caught.value.message, caught.value.message


@pytest.mark.parametrize(
    ("topic", "device_id", "message"),
    [
        (f"{PREFIX}/ah-999/event", "ah-999", "unknown host 'ah-999'"),
        (f"{PREFIX}/ah-001/other", f"{PREFIX}/ah-001/other", "not in the alarm-host scheme"),
        (f"{PREFIX}/ah-001/event/extra", f"{PREFIX}/ah-001/event/extra", "not in the alarm-host scheme"),
        ("elsewhere/ah-001/event", "elsewhere/ah-001/event", "not in the alarm-host scheme"),
    ],
)
def test_unknown_hosts_and_foreign_topics_are_refused(topic: str, device_id: str, message: str) -> None:
    payload = json.dumps({"event_id": "e", "ts": TS_TEXT, "type": "tamper"}).encode()
    with pytest.raises(DecodeError) as caught:
        decode_message(topic=topic, payload=payload, prefix=PREFIX, hosts=HOSTS, received_at=ARRIVED)
    assert caught.value.device_id == device_id
    assert message in caught.value.message


def test_published_schema_file_matches_the_models() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == payload_schemas(), "collector/mqtt/schema.json is stale: regenerate it from payload_schemas()"


def test_status_time_is_kept_in_utc() -> None:
    status = _decode({"online": True, "ts": "2025-03-01T06:00:00-02:00"}, leaf="status")
    assert status.ts == TS and status.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("zones", "zone", "refused"),
    [
        ({"ah-001": 8}, 9, True),  # its channel would be stored and never judged
        ({"ah-001": 8}, 999, True),
        ({"ah-001": 8}, 8, False),
        ({"ah-001": 8}, 1, False),
        ({"ah-002": 1}, 9, False),  # the count of another host says nothing about this one
        (None, 999, False),  # no counts given: the schema's 1-999 only
    ],
)
def test_a_zone_above_the_hosts_zone_count_is_refused(zones: dict[str, int] | None, zone: int, refused: bool) -> None:
    payload = json.dumps({"event_id": "e-1", "ts": TS_TEXT, "type": "zone_fault", "zone": zone}).encode()
    topic = f"{PREFIX}/ah-001/event"

    def decode() -> AlarmEvent | HostStatus:
        return decode_message(topic=topic, payload=payload, prefix=PREFIX, hosts=HOSTS, received_at=ARRIVED, zones=zones)

    if not refused:
        assert decode().zone == zone
        return
    with pytest.raises(DecodeError) as caught:
        decode()
    assert (caught.value.device_id, caught.value.where) == ("ah-001", topic)
    assert caught.value.message == f"zone {zone} is above the host's 8 zones (alarm_host.zones)"
