"""The store stage: what the bus carries, written to the time-series store every flush
interval (or to the on-disk buffer while the store is down)."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric

from sitewatch.bus import Subscription, drain
from sitewatch.components import Components
from sitewatch.store_writer import StoreWriter
from sitewatch.supervise import Supervisor
from sitewatch.threads import OwnThread

log = logging.getLogger(__name__)

STORE = "store-writer"  # the loop's name, as /healthz shows it


class StoreStage:
    def __init__(self, parts: Components, queue: Subscription) -> None:
        self.parts = parts
        self._queue = queue  # this stage's subscription to the bus
        self.writer = StoreWriter(parts.store, parts.spool, clock=parts.clock)
        self._thread = OwnThread("store")  # flushes on time, whatever else the process hands its pool
        parts.service.count_set_aside("samples", lambda: self.writer.samples_set_aside)
        parts.service.watch_buffer("store", self.writer.buffer_state)
        parts.service.report_metrics(STORE, self._metrics)

    def _metrics(self) -> Iterator[Metric]:
        written = CounterMetricFamily("sitewatch_samples_written", "Samples this process wrote to the "
                                      "time-series store")
        written.add_metric([], self.writer.samples_written)
        return iter((written,))

    def loops(self, supervisor: Supervisor) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        every_s = self.parts.config.storage.flush_interval_s
        return [(STORE, supervisor.every(STORE, every_s, self._flush))]

    async def _flush(self) -> None:
        # A store that is down is the writer's business (it buffers on disk); only an error
        # nobody expected reaches the supervisor.
        samples, receipts = drain(self._queue)
        await self._thread.run(self.writer.flush, samples, receipts)

    def shutdown(self) -> None:
        # The last flush sets a bad sample aside rather than lose the batch with it; what
        # the store cannot take waits in the buffer for the next process. Receipts are
        # settled, but the MQTT client has gone: the broker delivers those messages again,
        # and the next process knows them as stored.
        samples, receipts = drain(self._queue)
        try:
            self.writer.flush(samples, receipts, last=True)
        except Exception:  # the last guard: the process is ending, say what is lost and end
            log.exception("store: unexpected error at shutdown")
        if self.writer.unwritten:
            log.error("store: %d sample(s) lost at shutdown: neither the store nor its buffer took them",
                      self.writer.unwritten)
        self._thread.close()
