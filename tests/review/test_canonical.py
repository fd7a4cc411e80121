"""The signed log does not depend on the time-series backend: its numbers are rounded to
CANONICAL_DECIMALS and its times truncated to the millisecond (review/compute.py), so the
same samples in DuckDB and on a server give the same canonical JSON and SHA-256."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import ReviewSettings
from sitewatch.domain.samples import ChannelStats, Sample
from sitewatch.review.compute import (
    StationInputs,
    canonical_number,
    canonical_time,
    review_station,
)
from sitewatch.review.service import DailyReviews
from sitewatch.review.sign import canonical_json, sha256_of
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.timeseries import TimeSeriesStore
from tests.review.simulated_day import (
    DAY,
    EXPECTED_ABNORMAL,
    WINDOW_END,
    SimulatedDay,
    build,
)
from tests.review.test_compute import UNITS, WINDOW, asset
from tests.serving import FixedClock
from tests.storage.backends import BACKENDS


def test_numbers_differing_below_the_sixth_decimal_give_the_same_canonical_value():
    # A mean summed in another order differs in the 15th digit; VictoriaMetrics keeps ~12 of a value.
    assert canonical_number(2.5123456789012345) == canonical_number(2.5123456789012367) == 2.512346
    assert canonical_number(400.12345649999) == canonical_number(400.1234565000001 - 2e-13) == 400.123456
    assert canonical_number(-1e-17) == canonical_number(1e-17) == 0.0
    assert str(canonical_number(-1e-17)) == "0.0", "no -0.0: JSON would write it apart from 0.0"
    assert canonical_number(float("nan")) is None
    at = WINDOW.end + timedelta(microseconds=456_789)
    assert canonical_time(at) == canonical_time(at.replace(microsecond=456_000)) == at.replace(microsecond=456_000)


def test_a_station_reviewed_from_slightly_different_aggregates_says_the_same():
    def reviewed(mean: float, last_ts_us: int) -> str:
        stats = ChannelStats("rs-1", "outlet_kpa", "kPa", 1440, 2.4, 2.6, mean, 2.5,
                             WINDOW.end - timedelta(minutes=1, microseconds=-last_ts_us))
        inputs = StationInputs(asset=asset(), channel_units={"outlet_kpa": UNITS["outlet_kpa"]}, stats=[stats])
        return json.dumps(review_station(inputs, window=WINDOW, settings=ReviewSettings()).model_dump(mode="json"))

    assert reviewed(2.5000000000000004, 123_456) == reviewed(2.4999999999999996, 123_999)


class _Recorder:
    """Keeps what build() writes, to write the very same samples into each store."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def write(self, samples: Sequence[Sample]) -> int:
        self.samples += samples
        return len(samples)


@pytest.fixture(scope="module")
def day_samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulatedDay, list[Sample]]:
    recorder = _Recorder()
    day = build(recorder, str(tmp_path_factory.mktemp("simulated-day")))  # ~4 s: the module's one
    return day, recorder.samples


@pytest.fixture
def sessions(sqlite_template: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    shutil.copyfile(sqlite_template, tmp_path / "sitewatch.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'sitewatch.db'}")
    yield session_factory(engine)
    engine.dispose()


@pytest.mark.parametrize("server", [b for b in BACKENDS if b.id != "duckdb"], ids=lambda b: b.id)
def test_the_same_day_on_duckdb_and_on_a_server_gives_the_same_log_and_hash(day_samples, server, sessions,
                                                                             request: pytest.FixtureRequest,
                                                                             tmp_path: Path):
    day, samples = day_samples
    clock = FixedClock(WINDOW_END + timedelta(minutes=2))
    logs = {}
    for backend in (BACKENDS[0], server):
        store: TimeSeriesStore = backend.open(request, tmp_path)
        try:
            store.write(samples)
            reviews = DailyReviews(config=day.config, store=store, sessions=sessions, clock=clock)
            with sessions() as session:
                logs[backend.id] = [canonical_json(r) for r in reviews.compute_sites(
                    session, ["north", "south"], DAY, field_readings=day.field_readings)]
        finally:
            store.close()
    for site, duck, other in zip(("north", "south"), logs["duckdb"], logs[server.id], strict=True):
        assert sha256_of(duck) == sha256_of(other), f"{site}: {_first_difference(json.loads(duck), json.loads(other))}"
    abnormal = {s["station_id"] for log in logs[server.id] for s in json.loads(log)["stations"]
                if s["verdict"] == "abnormal"}
    assert abnormal == EXPECTED_ABNORMAL, "the same flags, and the ones the day's faults call for"


def _first_difference(a: object, b: object, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: duckdb {a!r} vs server {b!r}"
