"""Baseline rules: learnt per site-local hour, firing on what the hour has not seen."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from sitewatch.domain.alerts import AlertState
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.rules.baseline import LocalHours
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.models import BaselineRule
from tests.rules import simulated

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RULE = BaselineRule(kind="baseline", id="temp-unusual", channel="temperature_c", sigma=4, min_deviation=1.0,
                    min_samples=100)


def site(zone: str = "Asia/Shanghai") -> AssetChannels:
    return AssetChannels("rs", "regulator_station", {"temperature_c": "degC"}, time_zone=zone)


def daily(start: datetime, days: float, *, every_s: float = 60, zone: str = "Asia/Shanghai", seed: int = 1,
          spread: float = 0.2) -> list[Sample]:
    """10 degC at night, 20 degC at 14:00 local, with noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(int(days * 86400 / every_s)):
        at = start + timedelta(seconds=i * every_s)
        local = at.astimezone(ZoneInfo(zone))
        value = 15 - 5 * np.cos(2 * np.pi * (local.hour - 2) / 24) + rng.normal(0, spread)
        out.append(Sample("rs", "temperature_c", at, float(value), "degC"))
    return out


def feed(engine: RulesEngine, samples: list[Sample], per_batch: int = 60) -> list:
    out = []
    for i in range(0, len(samples), per_batch):
        chunk = samples[i:i + per_batch]
        out += engine.evaluate(engine.batch(chunk), now=chunk[-1].ts)
    return out


def test_learns_each_hour_then_fires_on_what_that_hour_has_not_seen():
    engine = RulesEngine(rules=[RULE], assets=[site()], started_at=T0)
    early = [Sample("rs", "temperature_c", T0 + timedelta(minutes=1), 40.0, "degC")]
    assert feed(engine, early) == [], "nothing learnt yet: no opinion"
    assert feed(engine, daily(T0 + timedelta(minutes=2), 2.0)) == [], "two days of ordinary weather"
    # 20 degC is ordinary at 14:00 local (06:00 UTC) but not at 02:00 local (18:00 UTC)
    afternoon = T0 + timedelta(days=2, hours=6, minutes=30)
    assert feed(engine, [Sample("rs", "temperature_c", afternoon, 20.0, "degC")]) == []
    night = T0 + timedelta(days=2, hours=18, minutes=30)
    [fired] = feed(engine, [Sample("rs", "temperature_c", night, 20.0, "degC")])
    assert fired.state is AlertState.FIRING and fired.value == 20.0
    assert fired.summary.startswith("rs: temperature_c 20 degC, usually 10") and "more than 4 sigma" in fired.summary
    [back] = feed(engine, [Sample("rs", "temperature_c", night + timedelta(minutes=1), 10.1, "degC")])
    assert back.state is AlertState.RESOLVED


def test_min_deviation_keeps_a_near_constant_channel_quiet():
    rule = RULE.model_copy(update={"min_deviation": 0.5})
    engine = RulesEngine(rules=[rule], assets=[site()], started_at=T0)
    feed(engine, daily(T0, 2.0, spread=0.001))
    at = T0 + timedelta(days=2, hours=18, minutes=30)  # 02:00 local, usually 10.0 +- 0.001
    assert feed(engine, [Sample("rs", "temperature_c", at, 10.3, "degC")]) == [], "300 sigma, but only 0.3 degC"
    [fired] = feed(engine, [Sample("rs", "temperature_c", at + timedelta(minutes=1), 10.6, "degC")])
    assert fired.state is AlertState.FIRING


def test_what_fires_is_not_learnt_so_a_long_anomaly_keeps_firing():
    rule = RULE.model_copy(update={"max_samples": 100, "for_s": 120})
    engine = RulesEngine(rules=[rule], assets=[site()], started_at=T0)
    feed(engine, daily(T0, 2.0))
    start = T0 + timedelta(days=2, hours=18)
    hot = [Sample("rs", "temperature_c", start + timedelta(seconds=10 * i), 14.0, "degC") for i in range(300)]
    out = feed(engine, hot, per_batch=7)
    assert [(t.state, t.at) for t in out] == [(AlertState.FIRING, start + timedelta(seconds=120))], (
        "with 100 samples of memory, learning the anomaly would have absorbed it within minutes")
    assert [a.state for a in engine.active()] == [AlertState.FIRING]


def test_hours_are_site_local_and_follow_daylight_saving():
    hours = LocalHours()
    berlin = [datetime(2026, 3, 28, 2, 30, tzinfo=UTC), datetime(2026, 3, 30, 2, 30, tzinfo=UTC)]
    got = hours.hours(np.array([t.timestamp() for t in berlin]), "Europe/Berlin")
    assert got.tolist() == [3, 4], "02:30 UTC is 03:30 CET before the change and 04:30 CEST after it"
    assert hours.hours(np.array([berlin[0].timestamp()]), "Asia/Shanghai").tolist() == [10]
    # The engine judges by the site's hour: a value ordinary at 03:xx local stays ordinary
    # after the clocks move, though it now comes an hour earlier in UTC.
    rule = RULE.model_copy(update={"min_samples": 20})
    engine = RulesEngine(rules=[rule], assets=[site("Europe/Berlin")], started_at=T0)
    start = datetime(2026, 3, 20, tzinfo=UTC)
    learn = [Sample("rs", "temperature_c", start + timedelta(minutes=10 * i),
                    100.0 if (start + timedelta(minutes=10 * i)).astimezone(ZoneInfo("Europe/Berlin")).hour == 3
                    else 0.0 + 0.01 * (i % 3), "degC") for i in range(6 * 24 * 8)]
    assert feed(engine, learn) == []
    after = datetime(2026, 3, 30, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert feed(engine, [Sample("rs", "temperature_c", after, 100.0, "degC")]) == []
    [fired] = feed(engine, [Sample("rs", "temperature_c", after + timedelta(hours=1), 100.0, "degC")])
    assert fired.state is AlertState.FIRING, "04:30 CEST has never seen 100"


def test_months_of_learning_survive_a_restart():
    first = RulesEngine(rules=[RULE], assets=[site()], started_at=T0)
    feed(first, daily(T0, 2.0))
    payload = first.snapshot()
    night = T0 + timedelta(days=2, hours=18, minutes=30)
    anomaly = [Sample("rs", "temperature_c", night, 20.0, "degC")]
    fresh = RulesEngine(rules=[RULE], assets=[site()], started_at=night)
    assert feed(fresh, anomaly) == [], "a fresh engine has learnt nothing"
    restored = RulesEngine(rules=[RULE], assets=[site()], started_at=night)
    assert restored.restore(payload) == 1
    assert [t.state for t in feed(restored, anomaly)] == [AlertState.FIRING]
    assert restored.snapshot() != payload, "what it learnt since is in the next snapshot"


def test_a_healthy_simulated_filter_is_not_unusual_over_days():
    station = simulated.spec()
    rule = BaselineRule(kind="baseline", id="filter-dp-unusual", channel="filter_dp_kpa", sigma=5, min_deviation=2.0,
                        min_samples=60, for_s=300)
    engine = RulesEngine(rules=[rule], assets=[simulated.asset(station)], started_at=T0)
    samples = simulated.samples(station, T0, 3.75 * 86400, every_s=60, channels=["filter_dp_kpa"])
    assert feed(engine, samples) == [], "four days of demand peaks, night troughs and fouling"
    # 02:00 local: the filter passes a night's trickle, ~0.5 kPa; a blockage adds 3 kPa
    blocked = [s._replace(value=s.value + 3.0) for s in simulated.samples(
        station, T0 + timedelta(days=3, hours=18, minutes=1), 600, every_s=60, channels=["filter_dp_kpa"])]
    assert [t.state for t in feed(engine, blocked)] == [AlertState.FIRING]
