"""A flood on the machine's Mosquitto against a small queue: what does not fit is dropped and
counted as overflow, what was let in is all handled, and the consumer goes on."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import pytest

from sitewatch.collector.mqtt.acks import Delivery
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
from sitewatch.domain.samples import Sample

from .conftest import (
    MACHINE_BROKER,
    WAIT_S,
    RecordingSink,
    SteppingClock,
    mosquitto_pub,
    running,
    settings_for,
    unique_prefix,
)

HOSTS = {"ah-001": "alarm-north-01"}
# At most 1,000: Mosquitto queues at most that many QoS 1 messages for a subscriber by default
# (max_queued_messages), so a larger flood could lose some at the broker, not at ours.
FLOOD = 1000
QUEUE = 20


class SlowSink(RecordingSink):
    """A store that takes 2 ms a batch: the consumer handles ~500 messages a second, a flood far more."""

    async def publish(self, samples: Sequence[Sample], *, receipt: Delivery | None = None) -> None:
        await asyncio.sleep(0.002)
        await super().publish(samples, receipt=receipt)


def _flood(*, ts: str) -> list[bytes]:
    """FLOOD payloads, one in ten not JSON; every event id distinct, so none is a duplicate."""
    return [
        b"not json" if n % 10 == 0 else json.dumps({"event_id": f"f-{n}", "ts": ts, "type": "tamper"}).encode()
        for n in range(FLOOD)
    ]


async def _publish_lines(topic: str, payloads: list[bytes]) -> None:
    """One mosquitto_pub connection, one QoS 1 message per line, as fast as the broker takes them."""
    args = ["-h", MACHINE_BROKER[0], "-p", str(MACHINE_BROKER[1]), "-q", "1", "-t", topic, "-l"]
    process = await asyncio.create_subprocess_exec("mosquitto_pub", *args, stdin=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(b"\n".join(payloads) + b"\n"), timeout=WAIT_S)
    assert process.returncode == 0, f"mosquitto_pub failed: {stderr.decode()}"


async def test_a_flood_past_the_queue_is_counted_as_overflow_and_the_consumer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = unique_prefix()
    sink = SlowSink()
    settings = settings_for(*MACHINE_BROKER, prefix=prefix, max_queued_messages=QUEUE)
    consumer = AlarmHostConsumer(settings, hosts=HOSTS, sink=sink, clock=SteppingClock())
    topic = f"{prefix}/ah-001/event"
    with caplog.at_level(logging.WARNING, logger="sitewatch.collector.mqtt.consumer"):
        async with running(consumer) as task:
            await _publish_lines(topic, _flood(ts="2025-03-01T08:00:00Z"))
            async with asyncio.timeout(WAIT_S):
                while sum(consumer.counters().values()) < FLOOD:
                    await asyncio.sleep(0.05)
            flood = consumer.counters()
            # The queue has drained: the next message is handled as usual.
            await mosquitto_pub(topic, json.dumps({"event_id": "after", "ts": "2025-03-01T08:00:00Z", "type": "armed"}).encode())
            await sink.wait_for("the event after the flood", lambda: bool(sink.channel("armed")))
            assert not task.done()
    assert sum(flood.values()) == FLOOD, flood
    assert flood["accepted"] + flood["overflow"] + flood["malformed"] == FLOOD, flood
    assert flood["overflow"] > FLOOD // 2 and flood["accepted"] >= QUEUE, flood
    assert len(sink.channel("tamper")) == flood["accepted"], "a message let into the queue was lost"
    assert consumer.counters() == flood | {"accepted": flood["accepted"] + 1}
    bursts = [r for r in caplog.records if "arrive faster than they are handled" in r.getMessage()]
    assert 1 <= len(bursts) <= flood["overflow"] // QUEUE, f"{len(bursts)} log lines for {flood['overflow']} dropped"
