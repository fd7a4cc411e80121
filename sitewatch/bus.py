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
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from sitewatch.domain.samples import Sample, SampleBlock, SampleList


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


class Subscription:
    """One subscriber's batches, oldest first, drained whole by ``drain``. A deque and a
    count rather than an asyncio.Queue: the bus takes a poll's batch hundreds of times a
    second per subscriber, and the queue's waiter and task bookkeeping (nobody waits on
    these; they are drained on a timer) cost more than the rest of publishing."""

    __slots__ = ("_batches", "_room", "max_batches")

    def __init__(self, max_batches: int) -> None:
        self.max_batches = max_batches
        self._batches: deque[Batch] = deque()
        self._room: asyncio.Event | None = None  # while a publisher waits for a drain

    def __len__(self) -> int:
        return len(self._batches)

    def offer(self, batch: Batch) -> bool:
        """Takes ``batch`` if there is room (no coroutine made: the usual case); False if full."""
        if len(self._batches) < self.max_batches:
            self._batches.append(batch)
            return True
        return False

    async def put(self, batch: Batch) -> None:
        while len(self._batches) >= self.max_batches:
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()
        self._batches.append(batch)

    def take_all(self) -> list[Batch]:
        batches = list(self._batches)
        self._batches.clear()
        if self._room is not None:
            self._room.set()
            self._room = None
        return batches


class SampleBus:
    """In-process fan-out. Each subscriber gets every batch; nothing is dropped: a slow
    subscriber makes the collector wait rather than lose samples."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, *, max_batches: int = 10_000) -> Subscription:
        subscription = Subscription(max_batches)
        self._subscriptions.append(subscription)
        return subscription

    async def publish(self, samples: Sequence[Sample], *, receipt: Receipt | None = None) -> None:
        # Batches are shared, not copied: pollers hand over tuples nobody changes.
        batch = Batch(samples, receipt)
        for subscription in self._subscriptions:
            if not subscription.offer(batch):
                await subscription.put(batch)


def drain(subscription: Subscription) -> Drained:
    items: list[Sample | SampleBlock] = []
    receipts: list[Receipt] = []
    for batch in subscription.take_all():
        if type(batch.samples) is SampleBlock:
            items.append(batch.samples)
        else:
            items.extend(batch.samples)
        if batch.receipt is not None:
            receipts.append(batch.receipt)
    return Drained(SampleList(items), receipts)
