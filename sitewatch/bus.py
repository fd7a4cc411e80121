"""The in-process sample bus between the collector and its consumers (store, rules).

A batch may come with a receipt: its source waits to hear that the samples are durable
(an alarm host's MQTT message is acknowledged to the broker only then). The store path
calls ``Receipt.stored`` once they are written to the store or committed to its on-disk
buffer; the rules path takes the samples and leaves the receipt alone.

A poll of a Modbus station is one SampleBlock (columnar); it travels whole, and ``drain``
hands it on inside a SampleList as one item beside the loose Samples of other sources, so
the store and the rules read its columns instead of a dozen Sample objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from domain.samples import Sample, SampleBlock, SampleList


class Receipt(Protocol):
    @property
    def events(self) -> Sequence[tuple[str, str]]:
        """(source, event id) of the events the batch carries, remembered as stored with its
        samples so a redelivery after a restart is known (empty: nothing to remember)."""
        ...

    def stored(self) -> None:
        """The batch's samples are durable. Called once, from whichever thread made them so."""
        ...


class Batch(NamedTuple):
    samples: Sequence[Sample]
    receipt: Receipt | None = None


class Drained(NamedTuple):
    samples: SampleList  # as published: blocks whole, other batches' Samples one by one
    receipts: list[Receipt]  # in the order their batches were published


class SampleBus:
    """In-process fan-out. Each subscriber gets every batch; nothing is dropped: a slow
    subscriber makes the collector wait rather than lose samples."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Batch]] = []

    def subscribe(self, *, max_batches: int = 10_000) -> asyncio.Queue[Batch]:
        queue: asyncio.Queue[Batch] = asyncio.Queue(max_batches)
        self._queues.append(queue)
        return queue

    async def publish(self, samples: Sequence[Sample], *, receipt: Receipt | None = None) -> None:
        # Batches are shared, not copied: pollers hand over tuples nobody changes.
        batch = Batch(samples, receipt)
        for queue in self._queues:
            if queue.full():
                await queue.put(batch)
            else:
                queue.put_nowait(batch)


def drain(queue: asyncio.Queue[Batch]) -> Drained:
    items: list[Sample | SampleBlock] = []
    receipts: list[Receipt] = []
    while not queue.empty():
        batch = queue.get_nowait()
        if type(batch.samples) is SampleBlock:
            items.append(batch.samples)
        else:
            items.extend(batch.samples)
        if batch.receipt is not None:
            receipts.append(batch.receipt)
    return Drained(SampleList(items), receipts)
