"""StoreMaintenance on the DuckDB store: catching up a store never rolled up, expiry by the
retention settings (never of samples not rolled up yet), late samples folded in."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sitewatch.config.storage import RetentionSettings
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.storage.duckdb_store import DuckDBStore
from sitewatch.storage.maintenance import StoreMaintenance

NOW = datetime(2026, 6, 1, 12, 34, 56, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
RETENTION = RetentionSettings(raw_days=62, minute_days=100, hour_days=400)
CATCH_UP = 10 * DAY  # per round: 7 rounds catch up 62 days


@pytest.fixture
def store(tmp_path):
    opened = DuckDBStore(tmp_path / "samples.duckdb")
    yield opened
    opened.close()


def _month(store: DuckDBStore, end: datetime) -> list:
    start = end - 30 * DAY - (end - 30 * DAY - datetime(2026, 1, 1, tzinfo=UTC)) % (2 * HOUR)
    return store.buckets(asset_id="rs-1", channel="outlet_kpa", start=start, end=end, width_s=7200)


def test_a_store_never_rolled_up_is_caught_up_in_rounds_and_expired_hourly(store: DuckDBStore) -> None:
    # 70 days every 10 minutes, then every 5 s over the last 3 hours.
    old = [NOW - timedelta(minutes=10 * k) for k in range(18, 70 * 144)]
    recent = [NOW - timedelta(seconds=5 * k) for k in range(1, 3 * 720)]
    store.write([Sample("rs-1", "outlet_kpa", ts, float(i % 97), "kPa") for i, ts in enumerate(old + recent)])
    month = _month(store, NOW)
    maintenance = StoreMaintenance(store, RETENTION, catch_up=CATCH_UP)

    first = maintenance.run_once(NOW)

    raw_kept_from = NOW - 62 * DAY
    assert first.start == raw_kept_from.replace(minute=0, second=0) and first.end == first.start + CATCH_UP
    assert first.rolled_up > 0 and first.expired == sum(ts < raw_kept_from for ts in old), \
        "samples older than raw_days deleted at the first round"
    assert store.query(asset_id="rs-1", start=NOW - 70 * DAY, end=raw_kept_from) == []
    rounds = [maintenance.run_once(NOW) for _ in range(7)]
    assert rounds[-1].end == NOW.replace(second=0), "caught up in 8 rounds (~9 days each)"
    assert rounds[-1].start == (NOW - 2 * HOUR).replace(minute=0, second=0), "then the last two hours and more"
    assert all(r.expired is None for r in rounds), "expiry is hourly"
    assert store.rollup_watermark() == NOW.replace(second=0)
    assert _month(store, NOW) == month, "the month chart, now from the hourly rollup, as it was from raw samples"

    # Five minutes later, a sample 90 minutes late: folded into its minute and hour.
    late = Sample("rs-1", "outlet_kpa", NOW - timedelta(minutes=90, seconds=2), 500.0, "kPa")
    store.write([late])
    later = maintenance.run_once(NOW + timedelta(minutes=5))
    assert later.start == (NOW - 2 * HOUR).replace(minute=0, second=0) and later.expired is None
    store.expire(raw_before=NOW, minute_before=NOW - 100 * DAY, hour_before=NOW - 400 * DAY)  # the rollups alone
    assert max(b.max for b in _month(store, NOW)) == 500.0
    assert maintenance.run_once(NOW + HOUR).expired is not None, "an hour later: expiry again"


def test_raw_samples_are_not_expired_past_the_rollup_watermark(store: DuckDBStore) -> None:
    # A store whose rollup stopped 70 days ago (its process was rolled back, say): raw samples
    # since then are kept until the rounds have rolled them up.
    store.write([Sample("rs-1", "outlet_kpa", NOW - timedelta(days=d), 1.0, "kPa") for d in range(80)])
    store.roll_up(start=NOW - 80 * DAY, end=NOW - 70 * DAY)
    watermark = store.rollup_watermark()

    round_ = StoreMaintenance(store, RETENTION, catch_up=12 * HOUR).run_once(NOW)

    assert round_.start == (watermark - 2 * HOUR).replace(minute=0) and round_.end == round_.start + 12 * HOUR
    kept = store.query(asset_id="rs-1", start=NOW - 90 * DAY, end=NOW + HOUR)
    assert (kept[0].ts, len(kept)) == (NOW - 69 * DAY, 70), "only what the round had rolled up was expired"
