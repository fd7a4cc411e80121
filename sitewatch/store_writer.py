"""The store writer: accepted samples go to the time-series store, and none is lost to a
failing write or to a store that is down.

Store-and-forward. While the store is unreachable (its write raises TimeSeriesError) the
samples of each flush are committed to the on-disk buffer (storage/spool.py) instead of
piling up in memory. While the buffer holds anything, new samples go in behind it, so the
store receives every sample in the order it was accepted; each flush replays up to
``replay_per_flush`` of the oldest, in chunks, and the buffer drains at the store's pace
(a store that is still down is probed with one chunk, 1 s after it failed, then doubling
to PROBE_MAX_S). A process that
starts with a non-empty buffer (it was killed during an outage) replays it the same way.

When the buffer is full its OLDEST samples are dropped, counted (``BufferState.dropped``,
/healthz ``buffers.store.dropped``) and logged once a burst (see storage/spool.py for why
the oldest). From ``[storage.buffer] warn_fraction`` of ``max_samples`` the process is
degraded on /healthz and the control room shows a warning, until it drains below.

If the buffer fails too (the disk is full), samples are held in memory, at most
``max_in_memory`` of them: beyond that the oldest batches are dropped and counted, except
those whose source waits for a receipt (MQTT messages: the broker keeps them until they are
acknowledged, and its in-flight window bounds their number).

Receipts (sitewatch/bus.py) are told ``stored`` once their batch is durable: written to the
store, committed to the buffer, or set aside as refused. The events they carry are then
remembered in the buffer file (in the same transaction when spooled), so the MQTT consumer
knows them after a restart.

A sample the store refuses (any error but TimeSeriesError) is not an outage: the batch is
kept, and after POISON_AFTER_FAILURES such failures in a row, or on the last flush, written
in pieces by bisection until the refused samples stand alone and are set aside. Replay
from the buffer does the same with its chunks.

What the bus drains (a SampleList: Modbus polls as SampleBlocks among loose Samples) is
kept as it came and written as a SampleList: a store that knows it (DuckDB) reads the
blocks' columns, any other store and the buffer iterate the Samples it stands for; the
search for a refused sample cuts Samples.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

from sitewatch.bus import Receipt
from sitewatch.domain.samples import Sample, SampleBlock, SampleList, items_of
from sitewatch.domain.time import Clock, SystemClock
from sitewatch.storage.spool import SampleSpool, SpoolError
from sitewatch.storage.timeseries import TimeSeriesError, TimeSeriesStore
from sitewatch.supervise import BufferState

log = logging.getLogger(__name__)

# Unexpected failures of the kept batch in a row before it is searched for a bad sample:
# fewer would bisect on a passing glitch, more would hold every sample back for longer.
POISON_AFTER_FAILURES = 3
# Samples per store write when replaying the buffer: the store's batch size (influx: 5,000).
REPLAY_CHUNK = 5_000
# Replayed per flush: ~0.2-1 s of writing, then the flush ends and the bus is drained again.
# Stations produce ~1.4k samples/s, so a backlog drains 70 times faster than it grows.
REPLAY_PER_FLUSH = 100_000
# Held in memory when the buffer cannot be written either (~150 B each: ~75 MB).
MAX_IN_MEMORY = 500_000
# A store that is down is probed again after 1 s, doubling to this: a server that does not
# answer at all blocks each probe for its timeout and retries, and every failed try logs.
PROBE_MAX_S = 10.0

_Outage = (TimeSeriesError, SpoolError)
T = TypeVar("T")


class _Batch(NamedTuple):
    samples: list[Sample | SampleBlock]
    receipts: tuple[Receipt, ...]


class StoreWriter:
    """Synchronous (the store and the buffer are): call ``flush`` from a worker thread."""

    def __init__(
        self,
        store: TimeSeriesStore,
        spool: SampleSpool,
        *,
        clock: Clock | None = None,
        replay_chunk: int = REPLAY_CHUNK,
        replay_per_flush: int = REPLAY_PER_FLUSH,
        max_in_memory: int = MAX_IN_MEMORY,
    ) -> None:
        self._store = store
        self._spool = spool
        self._clock = clock or SystemClock()
        self._replay_chunk = replay_chunk
        self._replay_per_flush = replay_per_flush
        self._max_in_memory = max_in_memory
        # Accepted, neither stored nor spooled yet. Touched only under the lock, so shutdown
        # waits for a write still in flight.
        self._unwritten: list[_Batch] = []
        self._lock = threading.Lock()
        self._failed_writes = 0  # unexpected failures of the kept batches in a row
        self._failed_replays = 0  # the same, of the buffer's oldest chunk
        self._store_down = False
        self._probe_after_s = 0.0  # while the store is down: the wait before the next probe
        self._next_probe: datetime | None = None
        self._spool_down = False
        self._dropping = False  # from memory, in a burst logged once
        self.samples_written = 0
        self.samples_set_aside = 0
        self.samples_dropped = 0  # from memory, when the buffer could not be written either

    @property
    def unwritten(self) -> int:
        """Samples held in memory."""
        return sum(len(SampleList(b.samples)) for b in self._unwritten)

    @property
    def buffered(self) -> int:
        """Samples waiting in the on-disk buffer."""
        return self._spool.count

    def buffer_state(self) -> BufferState:
        spool = self._spool
        return BufferState(samples=spool.count, max_samples=spool.max_samples, warn_at=spool.warn_at,
                           spooled=spool.spooled, replayed=spool.replayed, dropped=spool.dropped + self.samples_dropped)

    def flush(self, new: Sequence[Sample] | SampleList, receipts: Sequence[Receipt] = (), *, last: bool = False) -> None:
        """Make the samples kept from earlier flushes and ``new`` durable, in order: into the
        store, or into the buffer behind what waits there; then replay some of the buffer
        (not on the ``last`` flush: the next process will). Outages are handled here and
        logged once each way; an unexpected error of the store passes through after the
        batch was kept (see POISON_AFTER_FAILURES)."""
        with self._lock:
            if new or receipts:
                self._unwritten.append(_Batch(list(items_of(new)), tuple(receipts)))
            try:
                if self._unwritten:
                    self._save(last=last)
            finally:
                self._bound_memory()
            if not last and not self._unwritten:
                self._replay()

    # --- the accepted samples ------------------------------------------------------

    def _save(self, *, last: bool) -> None:
        receipts = [r for b in self._unwritten for r in b.receipts]
        events = [e for r in receipts for e in r.events]
        pieces = self._failed_writes >= POISON_AFTER_FAILURES or last
        if not self._spool.count:
            try:
                self._write(self._write_store, pieces=pieces)
            except TimeSeriesError as exc:
                self._note_store_down(exc)
            else:
                self._note_store_up()
                self._remember(events)
                self._settle(receipts)
                return
        # Behind the samples already waiting, or the store is down: into the buffer, with
        # the events in the same transaction (in pieces, right after).
        now = self._clock.now()
        try:
            if pieces:
                self._write(lambda piece: self._spool.append(piece, at=now), pieces=True)
                self._remember(events)
            else:
                self._write(lambda whole: self._spool.append(whole, events=events, at=now), pieces=False)
        except SpoolError as exc:
            self._note_spool_down(exc)
            return
        self._note_spool_up()
        self._settle(receipts)

    def _write_store(self, samples: Sequence[Sample]) -> None:
        self.samples_written += self._store.write(samples)

    def _write(self, write: Callable[[Sequence[Sample]], object], *, pieces: bool) -> None:
        """Write the unwritten samples through ``write``, whole (a SampleList) or in pieces
        (lists of Samples). An outage keeps what was not written and raises."""
        samples = SampleList([s for b in self._unwritten for s in b.samples])
        try:
            if pieces:
                self._in_pieces(samples.samples(), write, self._set_aside, keep=self._keep)
            else:
                # Counted as failed until the write returns: an unexpected error passes
                # through untouched, to the supervisor that logs it.
                self._failed_writes += 1
                write(samples)
        except _Outage:
            self._failed_writes = 0  # the store or the disk is down: no sample's fault
            raise
        self._unwritten = []
        self._failed_writes = 0

    def _keep(self, left: list[Sample]) -> None:
        """An outage stopped a write in pieces: keep what is left, and every receipt."""
        self._unwritten = [_Batch(left, tuple(r for b in self._unwritten for r in b.receipts))]

    @staticmethod
    def _in_pieces(items: list[T], write: Callable[[list[T]], object], set_aside: Callable[[T, Exception], None],
                   *, keep: Callable[[list[T]], None]) -> None:
        """Bisect: a piece refused is split in two until the items it refuses stand alone;
        those are set aside, every other item is written. An outage hands the items not
        written yet to ``keep`` and raises."""
        pieces = deque([items])
        while pieces:
            piece = pieces.popleft()
            try:
                write(piece)
            except _Outage:
                keep([x for p in (piece, *pieces) for x in p])
                raise
            except Exception as exc:  # noqa: BLE001 (whatever the store holds against this piece: narrow it down)
                if len(piece) == 1:
                    set_aside(piece[0], exc)
                else:
                    half = len(piece) // 2
                    pieces.extendleft((piece[half:], piece[:half]))

    def _set_aside(self, sample: Sample, error: Exception) -> None:
        self.samples_set_aside += 1
        log.error("store: sample set aside, the store refuses it (%s: %s): %r", type(error).__name__, error, sample)

    def _remember(self, events: list[tuple[str, str]]) -> None:
        try:
            self._spool.remember(events, at=self._clock.now())
        except SpoolError as exc:
            # The samples are stored: acknowledge them all the same. A redelivery after a
            # crash would then be stored twice, the lesser harm against holding every ack.
            log.warning("store: %d event id(s) not remembered as stored (buffer failing): %s", len(events), exc)

    @staticmethod
    def _settle(receipts: list[Receipt]) -> None:
        for receipt in receipts:
            receipt.stored()

    def _bound_memory(self) -> None:
        """While neither the store nor the buffer takes samples: drop the oldest batches
        nobody waits a receipt for, down to max_in_memory."""
        excess = self.unwritten - self._max_in_memory
        if excess <= 0:
            self._dropping = False
            return
        kept: list[_Batch] = []
        dropped = 0
        for batch in self._unwritten:
            if excess > 0 and not batch.receipts:
                size = len(SampleList(batch.samples))
                excess -= size
                dropped += size
            else:
                kept.append(batch)
        self._unwritten = kept
        self.samples_dropped += dropped
        if not self._dropping:  # once a burst: it goes on every flush until the disk is back
            log.error("store: neither the store nor its buffer takes samples; dropping the oldest beyond %d held "
                      "in memory (counted as dropped)", self._max_in_memory)
        self._dropping = True

    # --- the buffer ----------------------------------------------------------------

    def _replay(self) -> None:
        """Write the buffer's oldest samples to the store, a chunk at a time, and remove them."""
        if self._store_down and self._next_probe is not None and self._clock.now() < self._next_probe:
            return
        budget = self._replay_per_flush
        waiting = self._spool.count
        while budget > 0 and self._spool.count:
            try:
                chunk = self._spool.oldest(min(self._replay_chunk, budget))
            except SpoolError as exc:
                self._note_spool_down(exc)
                return
            try:
                if self._failed_replays >= POISON_AFTER_FAILURES:
                    # What is left stays in the buffer: nothing to keep.
                    self._in_pieces(chunk, self._replay_piece, self._set_aside_buffered, keep=lambda _left: None)
                else:
                    self._failed_replays += 1
                    self._replay_piece(chunk)
            except TimeSeriesError as exc:
                self._failed_replays = 0
                self._note_store_down(exc)
                return
            except SpoolError as exc:
                self._failed_replays = 0
                self._note_spool_down(exc)
                return
            self._failed_replays = 0
            self._note_store_up(waiting=waiting)
            budget -= len(chunk)
        if waiting and not self._spool.count:
            log.info("store: the buffer is empty again (%d sample(s) replayed in order since start)",
                     self._spool.replayed)

    def _replay_piece(self, piece: list[tuple[int, Sample]]) -> None:
        self.samples_written += self._store.write([s for _, s in piece])
        self._spool.remove(piece[0][0], piece[-1][0])

    def _set_aside_buffered(self, item: tuple[int, Sample], error: Exception) -> None:
        self._set_aside(item[1], error)
        self._spool.remove(item[0], item[0])

    # --- outages: one line when one begins, one when it ends ------------------------

    def _note_store_down(self, exc: Exception) -> None:
        self._probe_after_s = min(PROBE_MAX_S, max(1.0, 2 * self._probe_after_s))
        self._next_probe = self._clock.now() + timedelta(seconds=self._probe_after_s)
        if not self._store_down:
            self._store_down = True
            log.error("store: unreachable (%s); samples go to the on-disk buffer %s until it is back", exc,
                      self._spool.path)

    def _note_store_up(self, *, waiting: int = 0) -> None:
        self._probe_after_s, self._next_probe = 0.0, None
        if self._store_down:
            self._store_down = False
            log.info("store: reachable again; %d sample(s) in the buffer to replay, in order", waiting)

    def _note_spool_down(self, exc: Exception) -> None:
        if not self._spool_down:
            self._spool_down = True
            log.error("store: the on-disk buffer fails too (%s); holding samples in memory (at most %d)", exc,
                      self._max_in_memory)

    def _note_spool_up(self) -> None:
        if self._spool_down:
            self._spool_down = False
            log.info("store: the on-disk buffer takes samples again")
