"""The sample bus: every subscriber gets every batch; a poll's block travels whole."""

from __future__ import annotations

from datetime import datetime

from domain.samples import Quality, Sample, SampleBlock, SampleList
from domain.time import UTC
from sitewatch.bus import SampleBus, drain

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
