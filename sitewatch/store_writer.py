"""The store writer: accepted samples go to the time-series store, and none is lost to a
failing write. One sample the store refuses never blocks the others: it is found by
bisection and set aside."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from domain.samples import Sample
from storage.timeseries import TimeSeriesError, TimeSeriesStore

log = logging.getLogger(__name__)

# Unexpected failures of the kept batch in a row before it is searched for a bad sample:
# fewer would bisect on a passing glitch, more would hold every sample back for longer.
POISON_AFTER_FAILURES = 3


class StoreWriter:
    """Synchronous (the store is): call ``flush`` from a worker thread."""

    def __init__(self, store: TimeSeriesStore) -> None:
        self._store = store
        # Accepted but not yet stored: kept until a write succeeds. Touched only under the
        # lock, so shutdown waits for a write still in flight.
        self._unwritten: list[Sample] = []
        self._lock = threading.Lock()
        self._failed_writes = 0  # unexpected failures of the kept batch in a row
        self.samples_written = 0
        self.samples_set_aside = 0

    @property
    def unwritten(self) -> int:
        return len(self._unwritten)

    def flush(self, new: Sequence[Sample], *, last: bool = False) -> None:
        """Write the samples kept from failed flushes and ``new``; on failure they are all
        kept for the next flush and the store's exception is raised. After
        POISON_AFTER_FAILURES unexpected failures in a row, or on the ``last`` flush (no
        later one will come), it is written by bisection instead (see _write_in_pieces)."""
        with self._lock:
            self._unwritten += new
            if not self._unwritten:
                return
            suspect = self._failed_writes >= POISON_AFTER_FAILURES
            if suspect:
                log.warning("store: %d sample(s) failed %d writes in a row; writing them in pieces to find the bad ones",
                            len(self._unwritten), self._failed_writes)
            if suspect or last:
                self._write_in_pieces()
            else:
                self._write_whole()

    def _write_whole(self) -> None:
        # Counted as failed until the write returns: an unexpected error passes through
        # untouched, to the supervisor that logs it.
        self._failed_writes += 1
        try:
            written = self._store.write(self._unwritten)
        except TimeSeriesError:
            self._failed_writes = 0  # the store is down (disk full, file locked): no sample's fault
            raise
        self.samples_written += written
        self._unwritten = []
        self._failed_writes = 0

    def _write_in_pieces(self) -> None:
        """Bisect: a piece the store refuses is split in two until the samples it refuses
        stand alone; those are set aside, every other sample is written."""
        pieces = deque([self._unwritten])
        while pieces:
            piece = pieces.popleft()
            try:
                self.samples_written += self._store.write(piece)
            except TimeSeriesError:
                self._unwritten = [s for p in (piece, *pieces) for s in p]
                raise
            except Exception as exc:  # whatever the store holds against this piece: narrow it down
                if len(piece) == 1:
                    self._set_aside(piece[0], exc)
                else:
                    half = len(piece) // 2
                    pieces.extendleft((piece[half:], piece[:half]))
        self._unwritten = []
        self._failed_writes = 0

    def _set_aside(self, sample: Sample, error: Exception) -> None:
        self.samples_set_aside += 1
        log.error("store: sample set aside, the store refuses it (%s: %s): %r", type(error).__name__, error, sample)
