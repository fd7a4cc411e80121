"""The in-process sample bus between the collector and its consumers (store, rules)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from domain.samples import Sample


class SampleBus:
    """In-process fan-out. Each subscriber gets every batch; nothing is dropped: a slow
    subscriber makes the collector wait rather than lose samples."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Sequence[Sample]]] = []

    def subscribe(self, *, max_batches: int = 10_000) -> asyncio.Queue[Sequence[Sample]]:
        queue: asyncio.Queue[Sequence[Sample]] = asyncio.Queue(max_batches)
        self._queues.append(queue)
        return queue

    async def publish(self, samples: Sequence[Sample]) -> None:
        # Batches are shared, not copied: pollers hand over tuples nobody changes.
        for queue in self._queues:
            if queue.full():
                await queue.put(samples)
            else:
                queue.put_nowait(samples)


def drain(queue: asyncio.Queue[Sequence[Sample]]) -> list[Sample]:
    out: list[Sample] = []
    while not queue.empty():
        out.extend(queue.get_nowait())
    return out
