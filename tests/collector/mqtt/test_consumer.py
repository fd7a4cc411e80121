"""The consumer against the machine's Mosquitto (127.0.0.1:1883) and an embedded amqtt."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from sitewatch.broker import amqtt_broker
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
from sitewatch.domain.samples import Sample
from sitewatch.simulators.alarmhost.fleet import build

from .conftest import (
    MACHINE_BROKER,
    RecordingSink,
    SteppingClock,
    mosquitto_pub,
    running,
    settings_for,
    unique_prefix,
)

HOSTS = {"ah-001": "alarm-north-01"}


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    # Leave no retained status behind on the shared broker.
    for host_id in HOSTS:
        await mosquitto_pub(f"{prefix}/{host_id}/status", b"", retain=True)


async def test_hand_written_event_arrives_as_samples(prefix: str) -> None:
    sink = RecordingSink()
    # The events are dated 2025: the consumer's clock must be there too, or they are refused as old.
    consumer = AlarmHostConsumer(settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=SteppingClock())
    event = {"event_id": "e-1", "ts": "2025-03-01T16:00:00+08:00", "type": "zone_alarm", "zone": 7, "battery_v": 12.9}
    async with running(consumer):
        await mosquitto_pub(f"{prefix}/ah-001/event", json.dumps(event).encode())
        await sink.wait_for("the zone 7 alarm", lambda: len(sink.samples) >= 2)
    ts = sink.samples[0].ts
    assert ts.isoformat() == "2025-03-01T08:00:00+00:00"
    assert sink.samples == [
        Sample("alarm-north-01", "zone_07_alarm", ts, 1.0, "state"),
        Sample("alarm-north-01", "battery_v", ts, 12.9, "V"),
    ]
    assert consumer.health("ah-001").events == 1


async def test_garbage_is_counted_and_set_aside_and_later_events_still_arrive(prefix: str) -> None:
    sink = RecordingSink()
    consumer = AlarmHostConsumer(settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=SteppingClock())
    garbage = [
        b"not json at all",
        json.dumps({"event_id": "g-2", "type": "tamper"}).encode(),  # no ts
        json.dumps({"event_id": "g-3", "ts": "2025-03-01T08:00:00Z", "type": "meltdown"}).encode(),
    ]
    good = {"event_id": "e-9", "ts": "2025-03-01T08:00:09Z", "type": "tamper"}
    async with running(consumer) as task:
        for payload in garbage:
            await mosquitto_pub(f"{prefix}/ah-001/event", payload)
        await mosquitto_pub(f"{prefix}/ah-404/event", json.dumps(good).encode())  # unknown host
        await mosquitto_pub(f"{prefix}/ah-001/event", json.dumps(good).encode())
        await sink.wait_for("the tamper event after the garbage", lambda: bool(sink.channel("tamper")))
        assert not task.done(), "garbage stopped the consumer"
    health = consumer.health("ah-001")
    assert (health.malformed, health.events) == (3, 1)
    assert consumer.counters()["unknown_host"] == 1
    aside = consumer.set_aside()
    assert [a.payload for a in aside] == [*garbage, json.dumps(good).encode()]
    assert "not JSON" in aside[0].error
    assert "ts: Field required" in aside[1].error
    assert "type: Input should be" in aside[2].error
    assert "unknown host 'ah-404'" in aside[3].error
    assert sink.samples == [Sample("alarm-north-01", "tamper", sink.samples[0].ts, 1.0, "state")]


async def test_redelivered_event_id_is_dropped(prefix: str) -> None:
    sink = RecordingSink()
    consumer = AlarmHostConsumer(settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=SteppingClock())
    first = {"event_id": "same", "ts": "2025-03-01T08:00:01Z", "type": "armed"}
    after = {"event_id": "next", "ts": "2025-03-01T08:00:02Z", "type": "disarmed"}
    async with running(consumer):
        for payload in (first, first, after):
            await mosquitto_pub(f"{prefix}/ah-001/event", json.dumps(payload).encode())
        await sink.wait_for("the disarm after the duplicate", lambda: len(sink.channel("armed")) >= 2)
    assert [s.value for s in sink.channel("armed")] == [1.0, 0.0]
    assert consumer.health("ah-001").duplicates_dropped == 1


async def test_host_vanishing_triggers_its_last_will(prefix: str) -> None:
    sink = RecordingSink()
    clock = SteppingClock()
    consumer = AlarmHostConsumer(settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=clock)
    fleet = build(
        {"topic_prefix": prefix, "run_id": prefix.split("/")[0], "hosts": [{"host_id": "ah-001", "heartbeat_s": 3600}]},
        clock=clock,
    )
    async with running(consumer), fleet:
        await sink.wait_for("the host's online status", lambda: [s.value for s in sink.channel("online")] == [1.0])
        assert consumer.health("ah-001").online is True
        await fleet.act("ah-001", "offline")
        await sink.wait_for("the last will", lambda: [s.value for s in sink.channel("online")] == [1.0, 0.0])
    assert consumer.health("ah-001").online is False
    assert not fleet.host("ah-001").online


async def test_end_to_end_through_embedded_amqtt() -> None:
    # No retained-message assertions here: amqtt 0.12.1 mishandles them (FIELD-NOTES).
    async with amqtt_broker() as (host, port):
        prefix = unique_prefix()
        sink = RecordingSink()
        clock = SteppingClock()
        consumer = AlarmHostConsumer(settings_for(host, port, prefix=prefix), hosts=HOSTS, sink=sink, clock=clock)
        fleet = build(
            {"broker_host": host, "broker_port": port, "topic_prefix": prefix, "hosts": [{"host_id": "ah-001", "heartbeat_s": 3600}]},
            clock=clock,
        )
        async with running(consumer), fleet:
            sent = await fleet.act("ah-001", "zone_fault", zone=2)
            await sink.wait_for("the zone fault", lambda: bool(sink.channel("zone_02_fault")))
        [sample] = sink.channel("zone_02_fault")
        assert (sample.asset_id, sample.value, sample.unit, sample.ts.isoformat()) == ("alarm-north-01", 1.0, "state", sent["ts"])
