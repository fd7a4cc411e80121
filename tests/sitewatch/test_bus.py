"""The sample bus: every subscriber gets every batch; a poll's block travels whole."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sitewatch.bus import SampleBus, drain
from sitewatch.domain.samples import Quality, Sample, SampleBlock, SampleList
from sitewatch.domain.time import UTC

T0 = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


async def test_blocks_are_drained_whole_among_loose_samples_in_publishing_order():
    bus = SampleBus()
    store, rules = bus.subscribe(), bus.subscribe()
    poll = SampleBlock("rs-1", T0, ("inlet_mpa", "outlet_kpa"), [0.4, 2.5], ("MPa", "kPa"),
                       (Quality.GOOD, Quality.GOOD))
    events = [Sample("ah-1", "zone_1_alarm", T0, 1.0, "state"), Sample("ah-1", "zone_2_alarm", T0, 0.0, "state")]
    receipt = object()
    await bus.publish(poll)
    await bus.publish(events, receipt=receipt)  # type: ignore[arg-type]
    for queue in (store, rules):
        drained = drain(queue)
        assert isinstance(drained.samples, SampleList)
        assert drained.samples.items == [poll, *events], "the block whole, the list's samples one by one"
        assert list(drained.samples) == [*poll, *events]
        assert drained.receipts == [receipt]
    assert not drain(store).samples and drain(store).receipts == []


async def test_a_full_subscription_makes_the_publisher_wait_for_a_drain_and_loses_nothing():
    bus = SampleBus()
    slow, fast = bus.subscribe(max_batches=2), bus.subscribe()
    polls = [SampleBlock(f"rs-{n}", T0, ("inlet_mpa",), [float(n)], ("MPa",), (Quality.GOOD,)) for n in range(3)]
    await bus.publish(polls[0])
    await bus.publish(polls[1])
    third = asyncio.create_task(bus.publish(polls[2]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done(), "the slow subscriber is full: the publisher waits"
    assert drain(slow).samples.items == polls[:2]
    await asyncio.wait_for(third, 5)
    assert drain(slow).samples.items == polls[2:]
    assert drain(fast).samples.items == polls
