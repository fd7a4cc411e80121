"""The store writer: a batch the store refuses is kept and its one bad sample isolated; a store
that is down sends the samples to the on-disk buffer, replayed in order when it is back,
also by the next process; memory stays bounded whatever fails."""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from sitewatch.domain.samples import Quality, Sample, SampleBlock, SampleList
from sitewatch.domain.time import UTC
from sitewatch.storage.spool import SampleSpool
from sitewatch.storage.timeseries import TimeSeriesError
from sitewatch.store_writer import POISON_AFTER_FAILURES, PROBE_MAX_S, StoreWriter
from tests.serving import FixedClock

T0 = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = timedelta(hours=1)


def samples(n: int, *, start: int = 0) -> list[Sample]:
    return [Sample("rs-north-01", "outlet_kpa", T0 + timedelta(seconds=i), 2.5, "kPa") for i in range(start, start + n)]


def stored_ts(store) -> list[datetime]:
    return [s.ts for s in store.query(asset_id="rs-north-01", start=T0, end=T0 + HOUR)]


class Switched:
    """The real DuckDB store behind a switch: while ``down`` every write raises
    TimeSeriesError, as a store that cannot be reached does (tests of the buffering logic;
    a real server is stopped in tests/sitewatch/test_store_outage.py). Records what it was
    given, in order."""

    def __init__(self, store, *, refuse_value: float | None = None) -> None:
        self._store = store
        self.down = False
        self.refuse_value = refuse_value  # a value it refuses with ValueError: a poison sample
        self.written: list[Sample] = []
        self.tries = 0

    def write(self, batch):
        self.tries += 1
        if self.down:
            raise TimeSeriesError("connection refused (switched off)")
        if any(s.value == self.refuse_value for s in batch):
            raise ValueError(f"refusing {self.refuse_value}")
        self.written += batch
        return self._store.write(batch)

    def __getattr__(self, name):
        return getattr(self._store, name)


def back_up(switched: Switched, clock: FixedClock) -> None:
    """The store is back, and the writer's wait before probing it again has passed."""
    switched.down = False
    clock.now_value += timedelta(seconds=PROBE_MAX_S)


@dataclass
class Receipt:
    events: tuple[tuple[str, str], ...] = ()
    calls: int = 0

    def stored(self) -> None:
        self.calls += 1


@pytest.fixture
def spool(tmp_path):
    s = SampleSpool(tmp_path / "buffer.sqlite3", max_samples=1_000, warn_fraction=0.8)
    yield s
    s.close()


def test_a_poison_sample_is_set_aside_by_bisection_while_the_others_land(store, spool, caplog):
    writer = StoreWriter(store, spool)
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
    assert writer.buffered == 0, "a refused sample is no outage: nothing goes to the buffer"

    writer.flush(good[80:])  # the next flush looks for the bad sample instead of failing again
    assert stored_ts(store) == [s.ts for s in good], "every good sample lands, in spite of its neighbour"
    assert (writer.samples_written, writer.samples_set_aside, writer.unwritten) == (100, 1, 0)
    [set_aside] = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert "naive datetime" in set_aside.getMessage() and "9.9" in set_aside.getMessage()

    writer.flush(samples(5, start=100))  # and the writer is back to whole batches
    assert writer.samples_written == 105


def test_the_last_flush_isolates_at_once(store, spool):
    writer = StoreWriter(store, spool)
    poison = Sample("rs-north-01", "outlet_kpa", datetime(2026, 11, 27, 0, 5), 9.9, "kPa")
    writer.flush(samples(10) + [poison], last=True)  # at shutdown no later flush will retry
    assert (writer.samples_written, writer.samples_set_aside) == (10, 1)


def test_an_outage_buffers_on_disk_keeps_order_and_settles_receipts_when_spooled(store, spool, caplog):
    switched = Switched(store)
    clock = FixedClock(T0)
    writer = StoreWriter(switched, spool, clock=clock, replay_chunk=7)
    writer.flush(samples(10))
    switched.down = True
    receipt = Receipt(events=(("ah-north-01", "e-1"),))
    with caplog.at_level(logging.INFO, logger="sitewatch.store_writer"):
        writer.flush(samples(10, start=10), [receipt])
        assert (writer.unwritten, writer.buffered, receipt.calls) == (0, 10, 1), "spooled, not held in memory"
        assert spool.recent_events(5) == [("ah-north-01", "e-1")], "remembered with the samples"
        for start in range(20, 50, 10):  # the outage goes on: each flush spools
            writer.flush(samples(10, start=start))
        assert (writer.unwritten, writer.buffered) == (0, 40)

        back_up(switched, clock)
        writer.flush(samples(10, start=50))  # behind the buffer, then the buffer replays
    assert writer.buffered == 0 and writer.unwritten == 0
    assert [s.ts for s in switched.written] == [s.ts for s in samples(60)], "the store got them in accepted order"
    assert stored_ts(store) == [s.ts for s in samples(60)] and writer.samples_written == 60
    state = writer.buffer_state()
    assert (state.spooled, state.replayed, state.dropped, state.warning) == (50, 50, 0, False)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in line for line in lines) == 1, "one line when the outage begins"
    assert [line for line in lines if "reachable again" in line] == [
        "store: reachable again; 50 sample(s) in the buffer to replay, in order"], "the 10 new ones behind the 40"
    assert [line for line in lines if "empty again" in line] == [
        "store: the buffer is empty again (50 sample(s) replayed in order since start)"], "once, when it drained"


def test_the_next_process_replays_what_the_killed_one_buffered(store, tmp_path):
    path = tmp_path / "buffer.sqlite3"
    switched = Switched(store)
    switched.down = True
    first = StoreWriter(switched, SampleSpool(path, max_samples=1_000))
    for start in range(0, 30, 10):
        first.flush(samples(10, start=start))
    assert first.buffered == 30  # and the process is killed: nothing closes anything

    switched.down = False
    spool = SampleSpool(path, max_samples=1_000)  # the next process
    second = StoreWriter(switched, spool, replay_chunk=4)
    assert second.buffered == 30
    second.flush(samples(5, start=30))
    assert stored_ts(store) == [s.ts for s in samples(35)], "nothing lost, nothing twice, in order"
    spool.close()


def test_replay_is_bounded_per_flush_and_new_samples_queue_behind(store, spool):
    switched, clock = Switched(store), FixedClock(T0)
    writer = StoreWriter(switched, spool, clock=clock, replay_chunk=30, replay_per_flush=100)
    switched.down = True
    writer.flush(samples(250))
    back_up(switched, clock)
    writer.flush(samples(10, start=250))
    assert (len(switched.written), writer.buffered) == (100, 160), "100 replayed; the 10 new wait behind the rest"
    writer.flush([])
    writer.flush([])
    assert [s.ts for s in switched.written] == [s.ts for s in samples(260)]


def test_a_sample_the_store_refuses_on_replay_is_set_aside_and_the_buffer_drains(store, spool):
    switched, clock = Switched(store, refuse_value=9.9), FixedClock(T0)
    writer = StoreWriter(switched, spool, clock=clock, replay_chunk=50)
    poison = Sample("rs-north-01", "outlet_kpa", T0 + timedelta(seconds=20, milliseconds=500), 9.9, "kPa")
    switched.down = True
    writer.flush(samples(21) + [poison] + samples(29, start=21))
    back_up(switched, clock)
    for _ in range(POISON_AFTER_FAILURES):
        with pytest.raises(ValueError):
            writer.flush([])
    assert writer.buffered == 51, "kept in the buffer while the cause is unknown"
    writer.flush([])
    assert writer.buffered == 0 and writer.samples_set_aside == 1
    assert stored_ts(store) == [s.ts for s in samples(50)]


def test_memory_stays_bounded_when_the_buffer_fails_too_but_receipted_batches_stay(store, tmp_path, caplog):
    switched, clock = Switched(store), FixedClock(T0)
    switched.down = True
    spool = SampleSpool(tmp_path / "buffer.sqlite3", max_samples=1_000)
    spool.close()  # every read and write of it now fails, as a full or broken disk does
    writer = StoreWriter(switched, spool, clock=clock, max_in_memory=100)
    receipt = Receipt(events=(("ah-north-01", "e-9"),))
    writer.flush(samples(2, start=1_000), [receipt])
    for start in range(0, 500, 50):
        writer.flush(samples(50, start=start))
    assert writer.unwritten <= 100 + 50 and writer.samples_dropped >= 350
    assert writer.buffer_state().dropped == writer.samples_dropped
    assert receipt.calls == 0, "not durable: the broker must keep the message"
    for words in ("fails too", "dropping the oldest beyond 100"):
        assert len([r for r in caplog.records if words in r.getMessage()]) == 1, f"{words!r} logged once"

    back_up(switched, clock)
    writer.flush([])
    assert receipt.calls == 1 and writer.unwritten == 0
    got = stored_ts(store)
    assert len(got) == 502 - writer.samples_dropped
    assert T0 + timedelta(seconds=1_000) in got and T0 + timedelta(seconds=499) in got, "the receipted and the newest"


def test_the_buffer_state_warns_from_the_warning_level(store, spool):
    switched, clock = Switched(store), FixedClock(T0)
    switched.down = True
    writer = StoreWriter(switched, spool, clock=clock)
    writer.flush(samples(799))
    assert not writer.buffer_state().warning
    writer.flush(samples(1, start=799))
    state = writer.buffer_state()
    assert (state.samples, state.warn_at, state.max_samples, state.warning) == (800, 800, 1_000, True)
    back_up(switched, clock)
    writer.flush([])
    assert not writer.buffer_state().warning


def test_a_store_that_stays_down_is_probed_after_1_s_then_less_and_less_often(store, spool):
    switched, clock = Switched(store), FixedClock(T0)
    writer = StoreWriter(switched, spool, clock=clock)
    switched.down = True
    writer.flush(samples(1))  # fails: spooled; next probe 1 s later
    probes_at = []
    for tenth in range(1, 400):  # 40 s of flushes every 0.1 s
        clock.now_value = T0 + timedelta(seconds=tenth / 10)
        before = switched.tries
        writer.flush(samples(1, start=tenth))
        if switched.tries > before:
            probes_at.append(tenth / 10)
    assert probes_at[:5] == [1.0, 3.0, 7.0, 15.0, 25.0], "1 s, then doubling to PROBE_MAX_S"
    assert all(b - a == PROBE_MAX_S for a, b in itertools.pairwise(probes_at[4:])), probes_at
    back_up(switched, clock)
    writer.flush([])
    assert writer.buffered == 0 and len(switched.written) == 400, "the next probe replays everything, in order"


def polls(n: int, *, start: int = 0, failed: frozenset[int] = frozenset()) -> SampleList:
    """What the bus drains: ``n`` polls of one station as blocks (``failed``: polls whose
    second channel failed), with an alarm host's loose sample after each."""
    names, units = ("inlet_mpa", "outlet_kpa"), ("MPa", "kPa")
    items: list = []
    for i in range(start, start + n):
        ts = T0 + timedelta(seconds=i)
        bad = i in failed
        items.append(SampleBlock("rs-north-01", ts, names, [0.4, math.nan if bad else 2.5], units,
                                 (Quality.GOOD, Quality.COMM_ERROR if bad else Quality.GOOD)))
        items.append(Sample("ah-north-01", "zone_1_alarm", ts, 0.0, "state"))
    return SampleList(items)


def stored_rows(store) -> list[tuple]:
    return [(s.asset_id, s.channel, s.ts, s.value, s.unit, s.quality)
            for a in ("rs-north-01", "ah-north-01") for s in store.query(asset_id=a, start=T0, end=T0 + HOUR)]


def test_blocks_are_stored_as_the_samples_they_hold(store, spool, tmp_path):
    writer = StoreWriter(store, spool)
    drained = polls(5, failed=frozenset({2}))
    writer.flush(drained)
    assert writer.samples_written == 15 and writer.unwritten == 0
    nan_safe = [(*row[:3], "nan" if math.isnan(row[3]) else row[3], *row[4:]) for row in stored_rows(store)]
    expected = sorted((s.asset_id, s.channel, s.ts, "nan" if math.isnan(s.value) else s.value, s.unit, s.quality)
                      for s in drained)
    assert sorted(nan_safe) == expected
    assert [(s.channel, s.quality) for s in store.latest(asset_ids=["rs-north-01"])] == [
        ("inlet_mpa", Quality.GOOD), ("outlet_kpa", Quality.GOOD)], "the newest poll's values are the latest"


def test_blocks_go_through_the_buffer_and_the_search_for_a_refused_sample(store, spool):
    switched = Switched(store, refuse_value=9.9)
    clock = FixedClock(T0)
    writer = StoreWriter(switched, spool, clock=clock)
    switched.down = True
    writer.flush(polls(3))  # into the buffer, as Samples
    assert writer.buffered == 9 and writer.unwritten == 0
    back_up(switched, clock)
    writer.flush([])  # the buffer replays
    assert writer.buffered == 0 and len(stored_rows(store)) == 9
    poisoned = polls(2, start=3)
    poisoned.items.append(SampleBlock("rs-north-01", T0 + timedelta(seconds=5), ("outlet_kpa",), [9.9], ("kPa",),
                                      (Quality.GOOD,)))
    writer.flush(poisoned, last=True)  # the last flush cuts the blocks into Samples to find the refused one
    assert (writer.samples_set_aside, writer.buffered, writer.unwritten) == (1, 0, 0)
    assert len(stored_rows(store)) == 15
    assert all(type(s) is Sample for s in switched.written), "a store without blocks is handed Samples"


def test_a_block_with_a_naive_time_is_refused_whole_by_the_store(store):
    naive = SampleBlock("rs-north-01", datetime(2026, 11, 27, 0, 5), ("outlet_kpa",), [2.5], ("kPa",),
                        (Quality.GOOD,))
    with pytest.raises(ValueError, match="naive datetime"):
        store.write(SampleList([*polls(1), naive]))
    assert stored_rows(store) == []
