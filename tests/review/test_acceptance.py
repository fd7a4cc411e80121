"""Issue 5 acceptance: a simulated day with known faults; the log flags exactly those
stations, and its numbers equal numpy over the raw samples (1e-9, besides the review's
canonical rounding to 6 decimal places)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from sitewatch.review.compute import CANONICAL_ROUNDING
from sitewatch.review.models import FlagKind, Verdict
from sitewatch.review.service import DailyReviews, field_check_fingerprint
from sitewatch.review.sign import canonical_json, sha256_of
from sitewatch.storage.tables import TicketRow
from tests.review.simulated_day import DAY, EXPECTED_ABNORMAL, INTERVAL_S, WINDOW_END, WINDOW_START
from tests.serving import FixedClock

TOLERANCE = 1e-9 + CANONICAL_ROUNDING


@pytest.fixture
def reviews(simulated, db_session_factory):
    store, day = simulated
    clock = FixedClock(WINDOW_END + timedelta(minutes=2))
    return DailyReviews(config=day.config, store=store, sessions=db_session_factory, clock=clock), day


def _all_stations(reviews, session, day):
    out = {}
    for site in ("north", "south"):
        review = reviews.compute(session, site, DAY, field_readings=day.field_readings)
        assert (review.window_start, review.window_end) == (WINDOW_START, WINDOW_END)
        out |= {s.station_id: s for s in review.stations}
    return out


def test_exactly_the_stations_with_injected_faults_are_abnormal_and_for_the_right_reason(reviews, db_session_factory):
    reviews, day = reviews
    with db_session_factory() as session:
        stations = _all_stations(reviews, session, day)
    abnormal = {sid for sid, s in stations.items() if s.verdict is Verdict.ABNORMAL}
    assert abnormal == EXPECTED_ABNORMAL, {sid: [f.detail for f in s.flags] for sid, s in stations.items()}
    reasons = {sid: {(f.kind, f.channel) for f in stations[sid].flags} for sid in abnormal}
    assert reasons["rs-02"] == {(FlagKind.OUTSIDE_LIMITS, "gas_lel_pct")}
    assert reasons["rs-04"] == {(FlagKind.OUTSIDE_LIMITS, "outlet_kpa")}
    assert reasons["rs-06"] == {(FlagKind.LOW_COMPLETENESS, c) for c in day.raw["rs-06"]}, "2 h of 24 lost"
    assert reasons["rs-08"] == {(FlagKind.FIELD_DISAGREES, "outlet_kpa")}, "only the field reading shows it"
    assert stations["rs-03"].completeness_ratio == pytest.approx(1 - 14 / 1440), "14 polls lost: still normal"
    agreeing = {f.channel: f.agrees for f in stations["rs-07"].field_readings}
    assert agreeing == {"outlet_kpa": True, "inlet_mpa": True}


def test_every_number_equals_numpy_over_the_raw_samples(reviews, db_session_factory):
    reviews, day = reviews
    with db_session_factory() as session:
        stations = _all_stations(reviews, session, day)
    start, end = WINDOW_START.timestamp(), WINDOW_END.timestamp()
    expected_polls = round((end - start) / INTERVAL_S)
    checked = 0
    for sid, channels in day.raw.items():
        summaries = {c.channel: c for c in stations[sid].channels}
        assert set(summaries) == set(channels), f"{sid}: channels differ"
        for channel, (epochs, values) in channels.items():
            inside = (epochs >= start) & (epochs < end)
            good = inside & ~np.isnan(values)
            got = summaries[channel]
            where = f"{sid}/{channel}"
            assert got.samples_good == int(good.sum()), where
            assert got.samples_expected == expected_polls == 1440, where
            assert got.completeness_ratio == pytest.approx(good.sum() / 1440, abs=1e-12), where
            assert abs(got.min - values[good].min()) <= TOLERANCE, where
            assert abs(got.max - values[good].max()) <= TOLERANCE, where
            assert abs(got.mean - values[good].mean()) <= TOLERANCE, where
            last = np.flatnonzero(good)[-1]
            assert abs(got.last - values[last]) <= TOLERANCE, where
            assert got.last_at.timestamp() == epochs[last], where
            checked += 1
    assert checked == 10 * 12


def test_the_same_stored_data_gives_the_same_content_hash(reviews, db_session_factory):
    reviews, day = reviews
    with db_session_factory() as session:
        hashes = {sha256_of(canonical_json(reviews.compute(session, "north", DAY, field_readings=day.field_readings)))
                  for _ in range(3)}
    assert len(hashes) == 1, f"regenerating gave {len(hashes)} different hashes"


def test_each_abnormal_station_gets_one_field_check_ticket_however_often_the_log_is_made(reviews, db_session_factory):
    reviews, day = reviews
    first = {}
    for site in ("north", "south"):
        first |= reviews.generate(site, DAY, actor="test", field_readings=day.field_readings).row.field_check_tickets
    again = {}
    for site in ("north", "south"):
        again |= reviews.generate(site, DAY, actor="test", field_readings=day.field_readings).row.field_check_tickets
    assert set(first) == EXPECTED_ABNORMAL and again == first
    with db_session_factory() as session:
        tickets = session.scalars(select(TicketRow).where(TicketRow.source == "daily-review")).all()
    assert sorted(t.fingerprint for t in tickets) == sorted(field_check_fingerprint(s, DAY) for s in EXPECTED_ABNORMAL)
    assert {t.asset_id for t in tickets} == EXPECTED_ABNORMAL
    assert all(t.service_type == "D" for t in tickets)
