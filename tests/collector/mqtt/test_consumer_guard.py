"""The consumer's guard against the machine's Mosquitto: every message counted once, none fatal."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import pytest

from sitewatch.collector.mqtt.acks import Delivery
from sitewatch.collector.mqtt.consumer import (
    COUNTER_KEYS,
    AlarmHostConsumer,
    host_zones,
    timestamp_policy,
)
from sitewatch.collector.mqtt.decode import TimestampPolicy
from sitewatch.collector.timestamps import TimestampWindow
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.samples import Sample

from .conftest import (
    MACHINE_BROKER,
    RecordingSink,
    SteppingClock,
    mosquitto_pub,
    running,
    settings_for,
    unique_prefix,
)

HOSTS = {"ah-001": "alarm-north-01", "ah-002": "alarm-north-02"}


class FailingOnceSink(RecordingSink):
    """A store that fails on its first batch, as a bug downstream would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def publish(self, samples: Sequence[Sample], *, receipt: Delivery | None = None) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the sink broke")
        await super().publish(samples, receipt=receipt)


def _event(event_id: str, ts: str, event_type: str = "tamper") -> bytes:
    return json.dumps({"event_id": event_id, "ts": ts, "type": event_type}).encode()


def _zone_event(event_id: str, ts: str, *, zone: int) -> bytes:
    return json.dumps({"event_id": event_id, "ts": ts, "type": "zone_fault", "zone": zone}).encode()


async def test_a_bug_downstream_is_counted_set_aside_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    prefix = unique_prefix()
    sink = FailingOnceSink()
    consumer = AlarmHostConsumer(settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=SteppingClock())
    topic = f"{prefix}/ah-001/event"
    with caplog.at_level(logging.ERROR, logger="sitewatch.collector.mqtt.consumer"):
        async with running(consumer) as task:
            await mosquitto_pub(topic, _event("e-1", "2025-03-01T08:00:00Z"))
            await mosquitto_pub(topic, _event("e-2", "2025-03-01T08:00:01Z", "armed"))
            await sink.wait_for("the event after the failure", lambda: bool(sink.channel("armed")))
            assert not task.done()
    assert consumer.counters() == dict.fromkeys(COUNTER_KEYS, 0) | {"internal_error": 1, "accepted": 1}
    [aside] = consumer.set_aside()
    assert (aside.topic, aside.error) == (topic, "internal error: RuntimeError('the sink broke')")
    [record] = caplog.records
    assert record.exc_info is not None and "RuntimeError" in record.getMessage()
    assert consumer.health("ah-001").last_error == aside.error


async def test_counters_sum_one_per_message_by_kind() -> None:
    prefix = unique_prefix()
    sink = RecordingSink()
    consumer = AlarmHostConsumer(
        settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=SteppingClock(), zones={"ah-002": 4}
    )
    published = [
        ("ah-001/event", _event("a-1", "2025-03-01T08:00:00Z")),  # accepted
        ("ah-001/event", _event("a-1", "2025-03-01T08:00:00Z")),  # duplicate
        ("ah-001/event", b"[" * 2000),  # malformed
        ("ah-002/event", _event("b-1", "9999-12-31T20:00:00Z")),  # bad_timestamp
        ("ah-002/status", json.dumps({"online": True, "ts": "0001-01-01T00:00:00+05:00"}).encode()),  # malformed
        ("ah-404/event", _event("c-1", "2025-03-01T08:00:00Z")),  # unknown_host
        ("ah-002/event", _zone_event("b-9", "2025-03-01T08:00:08Z", zone=5)),  # malformed: the host has 4 zones
        ("ah-002/event", _event("b-2", "2025-03-01T08:00:09Z", "armed")),  # accepted, last
    ]
    async with running(consumer):
        for leaf, payload in published:
            await mosquitto_pub(f"{prefix}/{leaf}", payload)
        await sink.wait_for("the last event", lambda: bool(sink.channel("armed")))
    assert consumer.counters() == {
        "accepted": 2, "malformed": 3, "bad_timestamp": 1, "unknown_host": 1, "internal_error": 0, "duplicates": 1,
        "overflow": 0,
    }
    one, two = consumer.health("ah-001"), consumer.health("ah-002")
    assert (one.events, one.duplicates_dropped, one.malformed, one.bad_timestamps) == (1, 1, 1, 0)
    assert (two.events, two.malformed, two.bad_timestamps) == (1, 2, 1)
    assert not sink.channel("zone_05_fault")
    assert "zone 5 is above the host's 4 zones" in consumer.set_aside()[-1].error
    assert "max_timestamp_lead_s" in consumer.set_aside()[1].error


async def test_a_host_with_a_bad_clock_is_stamped_on_arrival() -> None:
    prefix = unique_prefix()
    sink = RecordingSink()
    clock = SteppingClock()
    policy = TimestampPolicy(window=TimestampWindow(), arrival_hosts=frozenset({"ah-001"}))
    consumer = AlarmHostConsumer(
        settings_for(*MACHINE_BROKER, prefix=prefix), hosts=HOSTS, sink=sink, clock=clock, timestamps=policy
    )
    status = json.dumps({"online": True, "ts": "1970-01-01T00:00:00Z"}).encode()
    async with running(consumer):
        await mosquitto_pub(f"{prefix}/ah-001/status", status)
        await mosquitto_pub(f"{prefix}/ah-001/status", status)  # the same, stamped anew: a repeat
        await mosquitto_pub(f"{prefix}/ah-001/event", _event("e-1", "9999-12-31T20:00:00Z"))
        await sink.wait_for("the tamper", lambda: bool(sink.channel("tamper")))
    [online] = sink.channel("online")
    [tamper] = sink.channel("tamper")
    assert online.ts < tamper.ts < clock.now(), "stamped with the consumer's clock, in order of arrival"
    assert tamper.ts.year == 2025
    assert consumer.counters()["accepted"] == 2 and consumer.counters()["duplicates"] == 1


def test_the_policy_comes_from_the_configuration() -> None:
    raw = example_config()
    raw["collector"] = {"max_timestamp_age_s": 3600.0, "max_timestamp_lead_s": 10.0}
    [host] = [a for a in raw["assets"] if a["kind"] == "alarm_host"][:1]
    host["alarm_host"]["timestamps"] = "arrival"
    policy = timestamp_policy(config_from_dict(raw))
    assert policy == TimestampPolicy(
        window=TimestampWindow(max_age_s=3600.0, max_lead_s=10.0), arrival_hosts=frozenset({host["alarm_host"]["host_id"]})
    )


def test_zone_counts_come_from_the_configuration() -> None:
    raw = example_config()
    hosts = [a["alarm_host"] for a in raw["assets"] if a["kind"] == "alarm_host"]
    hosts[0]["zones"] = 3
    zones = host_zones(config_from_dict(raw))
    assert zones == {h["host_id"]: h.get("zones", 8) for h in hosts} and zones[hosts[0]["host_id"]] == 3


def test_the_default_policy_is_the_configuration_default() -> None:
    # A runtime that passes no policy still gets the documented window.
    assert timestamp_policy(config_from_dict(example_config())) == TimestampPolicy()
