"""Manual acknowledgement against the machine's Mosquitto: a message is acknowledged only once
the sink says its samples are stored, in the order messages came; what was not acknowledged
is delivered again to the next consumer under the same client id, which drops the events
the last one stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from sitewatch.collector.mqtt.acks import Delivery
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
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

HOSTS = {"ah-001": "alarm-north-01"}


class HoldingSink(RecordingSink):
    """A store that has not written anything yet: the receipts wait for the test."""

    def __init__(self) -> None:
        super().__init__()
        self.receipts: dict[str, Delivery] = {}

    async def publish(self, samples: Sequence[Sample], *, receipt: Delivery | None = None) -> None:
        assert receipt is not None
        [(_, event_id)] = receipt.events
        self.receipts[event_id] = receipt
        await super().publish(samples)


def _event(n: int) -> bytes:
    return json.dumps({"event_id": f"e-{n}", "ts": f"2025-03-01T08:00:{n:02d}Z", "type": "tamper"}).encode()


async def _discard_session(client_id: str) -> None:
    """A clean-session connection under the same id: the broker forgets what it kept for it."""
    sub = await asyncio.create_subprocess_exec("mosquitto_sub", "-h", MACHINE_BROKER[0], "-p", str(MACHINE_BROKER[1]),
                                               "-i", client_id, "-t", "sw-test/none", "-E")
    assert await asyncio.wait_for(sub.wait(), 10) == 0


async def test_unstored_messages_come_again_and_a_stored_one_is_not_stored_twice() -> None:
    prefix = unique_prefix()
    topic = f"{prefix}/ah-001/event"
    settings = settings_for(*MACHINE_BROKER, prefix=prefix)
    holding = HoldingSink()
    first = AlarmHostConsumer(settings, hosts=HOSTS, sink=holding, clock=SteppingClock())
    try:
        async with running(first):
            for n in (1, 2):
                await mosquitto_pub(topic, _event(n))
            await mosquitto_pub(topic, b"not json")  # nothing to store: acknowledged in its turn
            for n in (3, 4, 5):
                await mosquitto_pub(topic, _event(n))
            await holding.wait_for("five events handed over", lambda: len(holding.receipts) == 5)
            assert first.unacknowledged == 6, "nothing acknowledged before it is stored"
            for event_id in ("e-1", "e-2", "e-4"):  # e-3 is still on its way to the store
                holding.receipts[event_id].stored()
            assert first.unacknowledged == 3, "e-1, e-2 and the bad payload; e-4 waits behind e-3"
        # The process is gone with e-3, e-4 and e-5 unacknowledged. e-4 was stored: the buffer
        # file remembers it, and the next consumer starts from what it remembers.
        again = RecordingSink()
        second = AlarmHostConsumer(settings, hosts=HOSTS, sink=again, clock=SteppingClock(),
                                   stored_events=[("ah-001", "e-4")])
        async with running(second):
            await again.wait_for("e-3 and e-5 again", lambda: len(again.samples) == 2)
            await mosquitto_pub(topic, _event(6))  # after the redeliveries: once it is in, they all are
            await again.wait_for("e-6", lambda: len(again.samples) == 3)
            assert second.unacknowledged == 0
        assert [s.ts.second for s in again.samples] == [3, 5, 6], "e-1, e-2 and e-4 are not stored twice"
        assert second.counters()["duplicates"] == 1 and second.counters()["accepted"] == 3
    finally:
        await _discard_session(settings.client_id)
