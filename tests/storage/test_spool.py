"""The on-disk buffer: order kept, bounded with the oldest dropped and counted, everything
still there after the file is closed and opened again (a process restart)."""

from __future__ import annotations

import logging
import math
import re
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sitewatch.config.storage import BufferSettings
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.spool import EVENTS_KEPT_FOR, SampleSpool

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def samples(n: int, *, start: int = 0, asset: str = "rs-north-01") -> list[Sample]:
    return [Sample(asset, "outlet_kpa", T0 + timedelta(seconds=i, microseconds=7), 2.5 + i, "kPa")
            for i in range(start, start + n)]


def drain(spool: SampleSpool, *, chunk: int) -> list[Sample]:
    """Read and remove everything, oldest first, as the store writer replays."""
    out = []
    while batch := spool.oldest(chunk):
        out += [s for _, s in batch]
        spool.remove(batch[0][0], batch[-1][0])
    return out


def test_samples_come_back_in_order_and_exactly_after_a_reopen(tmp_path):
    path = tmp_path / "buffer.sqlite3"
    spool = SampleSpool(path, max_samples=1_000)
    odd = [
        Sample("rs-south-02", "inlet_mpa", T0 + timedelta(microseconds=1), math.nan, "MPa", Quality.COMM_ERROR),
        Sample("rs-south-02", "inlet_mpa", datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=8))), 0.4,
               "MPa", Quality.STALE),
    ]
    # Interleaved series and an earlier timestamp after a later one: arrival order, not time order, is kept.
    appended = samples(3) + odd + samples(3, start=3, asset="rs-east-03") + samples(2, start=-5)
    spool.append(appended[:4], at=T0)
    spool.append(appended[4:], at=T0)
    spool.close()

    again = SampleSpool(path, max_samples=1_000)  # the next process
    assert again.count == len(appended)
    got = drain(again, chunk=3)
    assert [s._replace(value=0.0) for s in got] == [s._replace(value=0.0) for s in appended]
    assert [s.value for s in got][:3] == [2.5, 3.5, 4.5] and math.isnan(got[3].value), "NaN survives (stored as NULL)"
    assert got[4].ts == T0 - timedelta(hours=1) and got[4].ts.tzinfo is UTC, "a +08:00 time comes back as UTC"
    assert again.count == 0 and again.replayed == len(appended)
    again.close()
    assert SampleSpool(path, max_samples=1_000).count == 0, "removed rows stay removed"


def test_a_full_buffer_drops_the_oldest_counts_them_and_logs_once(tmp_path, caplog):
    spool = SampleSpool(tmp_path / "b.sqlite3", max_samples=1_000)
    with caplog.at_level(logging.INFO, logger="sitewatch.storage.spool"):
        for start in range(0, 1_500, 100):
            spool.append(samples(100, start=start), at=T0)
        spool.append(samples(2_500, start=10_000), at=T0)  # one batch larger than the whole buffer
        assert (spool.count, spool.dropped, spool.spooled) == (1_000, 3_000, 4_000)
        kept = drain(spool, chunk=400)
    assert [s.ts for s in kept] == [s.ts for s in samples(1_000, start=11_500)], "the newest 1,000, in order"
    full = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(full) == 1, "one line per burst of drops, not one per append"
    levels = [r.getMessage() for r in caplog.records if "warning level" in r.getMessage() or "unreachable" in r.getMessage()]
    assert len(levels) == 2 and "80%" in levels[0] and "below its warning level" in levels[1], levels


def test_the_warning_level_is_crossed_both_ways(tmp_path):
    spool = SampleSpool(tmp_path / "b.sqlite3", max_samples=1_000, warn_fraction=0.8)
    spool.append(samples(799), at=T0)
    assert not spool.warning
    spool.append(samples(1, start=799), at=T0)
    assert spool.warning and spool.warn_at == 800
    [(first, _)] = spool.oldest(1)
    spool.remove(first, first)
    assert not spool.warning and spool.count == 799


def test_a_sample_it_cannot_encode_writes_nothing_of_its_batch(tmp_path):
    spool = SampleSpool(tmp_path / "b.sqlite3", max_samples=1_000)
    naive = Sample("rs-north-01", "outlet_kpa", datetime(2026, 11, 27), 1.0, "kPa")
    with pytest.raises(TypeError):
        spool.append(samples(3) + [naive], events=[("ah-1", "e-1")], at=T0)
    assert spool.count == 0 and spool.oldest(10) == [] and spool.recent_events(10) == []


def test_stored_events_survive_a_reopen_and_are_pruned_by_age_from_the_newest(tmp_path):
    path = tmp_path / "b.sqlite3"
    spool = SampleSpool(path, max_samples=1_000)
    spool.remember([("ah-1", "e-1"), ("ah-2", "e-1")], at=T0)
    spool.append(samples(1), events=[("ah-1", "e-2")], at=T0 + timedelta(seconds=1))
    spool.close()
    spool = SampleSpool(path, max_samples=1_000)
    assert spool.recent_events(10)[-1] == ("ah-1", "e-2") and len(spool.recent_events(10)) == 3
    assert spool.recent_events(1) == [("ah-1", "e-2")], "the newest when limited"
    # A week later nothing was pruned by the clock alone: age counts back from the newest event.
    later = T0 + EVENTS_KEPT_FOR + timedelta(seconds=2)
    spool.remember([("ah-1", "e-3")], at=later)
    assert spool.recent_events(10) == [("ah-1", "e-3")], "events older than EVENTS_KEPT_FOR before the newest go"
    spool.close()


def test_the_readme_sample_config_loads():
    readme = (Path(__file__).resolve().parents[2] / "storage" / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL) if "[storage.buffer]" in b]
    settings = BufferSettings.model_validate(tomllib.loads(block)["storage"]["buffer"])
    assert settings == BufferSettings(), "the README shows the defaults"
