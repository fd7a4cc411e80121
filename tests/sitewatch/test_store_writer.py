"""The store writer keeps a batch the store refuses, and isolates the one bad sample in it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.samples import Sample
from domain.time import UTC
from sitewatch.store_writer import POISON_AFTER_FAILURES, StoreWriter

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def samples(n: int, *, start: int = 0) -> list[Sample]:
    return [Sample("rs-north-01", "outlet_kpa", T0 + timedelta(seconds=i), 2.5, "kPa") for i in range(start, start + n)]


def test_a_poison_sample_is_set_aside_by_bisection_while_the_others_land(store, caplog):
    writer = StoreWriter(store)
    good = samples(100)
    # A naive timestamp: the real store refuses the whole batch for it (ValueError), as it
    # would for any sample no code path expected.
    poison = Sample("rs-north-01", "outlet_kpa", datetime(2026, 11, 27, 0, 5), 9.9, "kPa")
    arriving = [good[:37] + [poison] + good[37:60], good[60:80], []]
    assert len(arriving) == POISON_AFTER_FAILURES
    for new in arriving:
        with pytest.raises(ValueError):  # not a store outage: passes through, to the supervisor
            writer.flush(new)
    assert writer.unwritten == 81 and writer.samples_written == 0, "kept whole while the cause is unknown"

    writer.flush(good[80:])  # the next flush looks for the bad sample instead of failing again
    stored = store.query(asset_id="rs-north-01", start=T0, end=T0 + timedelta(hours=1))
    assert [s.ts for s in stored] == [s.ts for s in good], "every good sample lands, in spite of its neighbour"
    assert (writer.samples_written, writer.samples_set_aside, writer.unwritten) == (100, 1, 0)
    [set_aside] = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert "naive datetime" in set_aside.getMessage() and "9.9" in set_aside.getMessage()

    writer.flush(samples(5, start=100))  # and the writer is back to whole batches
    assert writer.samples_written == 105


def test_the_last_flush_isolates_at_once(store):
    writer = StoreWriter(store)
    poison = Sample("rs-north-01", "outlet_kpa", datetime(2026, 11, 27, 0, 5), 9.9, "kPa")
    writer.flush(samples(10) + [poison], last=True)  # at shutdown no later flush will retry
    assert (writer.samples_written, writer.samples_set_aside) == (10, 1)
