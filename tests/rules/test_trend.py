"""Rate of change and flatline: against the simulator's real signal and the plain reference."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from sitewatch.domain.alerts import AlertState
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.rules.engine import AssetChannels, RulesEngine, SampleBatch
from sitewatch.rules.models import FlatlineRule, RateOfChangeRule
from sitewatch.rules.reference import flatline_transitions, rate_transitions
from tests.rules import simulated

T0 = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)  # 05:30 in Shanghai: demand ramping up to the 07:30 peak
FALLING = RateOfChangeRule(kind="rate_of_change", id="outlet-falling", channel="outlet_kpa", direction="falling",
                           per_min=30, window_s=2)
STUCK = FlatlineRule(kind="flatline", id="outlet-stuck", channel="outlet_kpa", tolerance=0.001, for_s=60)


def judge(rule, samples: list[Sample], *, polls_per_batch: int = 1, station=None):
    """Every transition, feeding the engine one poll (or a few) per batch as the pipeline does."""
    station = station or simulated.spec()
    engine = RulesEngine(rules=[rule], assets=[simulated.asset(station)], started_at=samples[0].ts)
    times = sorted({s.ts for s in samples})
    out = []
    for i in range(0, len(times), polls_per_batch):
        chunk = [s for s in samples if times[i] <= s.ts <= times[min(i + polls_per_batch, len(times)) - 1]]
        out += engine.evaluate(engine.batch(chunk), now=chunk[-1].ts)
    return engine, out


def outlet(seconds: float, *, every_s: float = 1.0, faults=(), start: datetime = T0) -> list[Sample]:
    return simulated.samples(simulated.spec(), start, seconds, every_s=every_s, faults=faults, channels=["outlet_kpa"])


def test_a_pipe_burst_fires_a_falling_rule_within_two_seconds():
    burst_at = T0 + timedelta(seconds=60.3)
    _, out = judge(FALLING, outlet(120, faults=[simulated.fault("pipe_burst", burst_at)]))
    assert [t.state for t in out] == [AlertState.FIRING, AlertState.RESOLVED], "fires, and clears once the outlet settles"
    assert timedelta(0) < out[0].at - burst_at <= timedelta(seconds=2)
    assert out[0].summary.startswith("rs-001: outlet_kpa falling ")
    assert "kPa/min (limit 30 kPa/min), now " in out[0].summary


@pytest.mark.parametrize(("every_s", "seconds"), [(1.0, 3600), (0.2, 900), (5.0, 4 * 3600)])
def test_healthy_noise_never_fires_a_6_kpa_per_min_rule(every_s, seconds):
    rules = [FALLING.model_copy(update={"per_min": 6.0}),
             FALLING.model_copy(update={"per_min": 6.0, "direction": "rising", "id": "rising"})]
    for rule in rules:
        _, out = judge(rule, outlet(seconds, every_s=every_s), polls_per_batch=10)
        assert out == [], f"{rule.direction}: outlet noise is ±0.02 kPa, far from 0.2 kPa in 2 s"


def test_the_step_of_a_regulator_recovering_is_no_fast_fall_at_20_but_its_rise_is_fast_at_10_kpa_per_min():
    start, end = T0 + timedelta(seconds=10), T0 + timedelta(seconds=40)
    failed = [s for s in outlet(60, every_s=0.5, faults=[simulated.fault("regulator_failure", start)]) if s.ts < end]
    recovered = [s for s in outlet(60, every_s=0.5) if s.ts >= end]
    stream = failed + recovered  # 3.2 kPa back to 2.5 kPa between two polls
    falling = FALLING.model_copy(update={"per_min": 20.0, "window_s": 3.0})
    assert judge(falling, stream)[1] == [], "0.7 kPa over 3 s is 14 kPa/min"
    rising = falling.model_copy(update={"direction": "rising", "id": "rising", "per_min": 10.0})
    fired = [t for t in judge(rising, stream)[1] if t.state is AlertState.FIRING]
    assert len(fired) == 1 and fired[0].at - start <= timedelta(seconds=3)


def test_the_duration_and_the_clear_rate_hold_a_rate_alert():
    rule = RateOfChangeRule(kind="rate_of_change", id="fall", channel="outlet_kpa", direction="falling",
                            per_min=60, clear_per_min=30, window_s=1, for_s=2)
    # 1 s polls: falls of 1.5 kPa/s (90/min), then 0.75 kPa/s (45/min: inside the band), then flat
    values = [5.0, 3.5, 2.0, 0.5, -1.0, -1.75, -2.5, -2.5]
    stream = [Sample("rs-001", "outlet_kpa", T0 + timedelta(seconds=i), v, "kPa") for i, v in enumerate(values)]
    _, out = judge(rule, stream)
    assert [(t.state, (t.at - T0).total_seconds()) for t in out] == [
        (AlertState.FIRING, 3.0), (AlertState.RESOLVED, 7.0)]
    assert "falling 90.0 kPa/min (limit 60 kPa/min) for 2 s" in out[0].summary
    assert "no longer falling fast (0.0 kPa/min" in out[1].summary


def test_a_firing_rate_alert_survives_a_restart_and_resolves_once_the_window_refills():
    stream = [Sample("rs-001", "outlet_kpa", T0 + timedelta(seconds=i), v, "kPa") for i, v in enumerate([3, 2.5, 1.0])]
    first, out = judge(FALLING, stream)
    assert [t.state for t in out] == [AlertState.FIRING]
    second = RulesEngine(rules=[FALLING], assets=[simulated.asset(simulated.spec())], started_at=T0)
    assert second.restore(first.snapshot()) == 1
    later = [Sample("rs-001", "outlet_kpa", T0 + timedelta(seconds=30 + i), 1.0, "kPa") for i in range(4)]
    out = [t for s in later for t in second.evaluate(second.batch([s]), now=s.ts)]
    assert [(t.state, t.at) for t in out] == [(AlertState.RESOLVED, T0 + timedelta(seconds=32))]
    assert "now 1 kPa" in out[0].summary


def test_the_simulated_stuck_sensor_fires_after_the_duration_and_a_healthy_one_never():
    stuck_at = T0 + timedelta(seconds=100.5)
    _, out = judge(STUCK, outlet(300, faults=[simulated.fault("stuck_sensor", stuck_at)]), polls_per_batch=7)
    assert [t.state for t in out] == [AlertState.FIRING]
    # 60 s after the first frozen sample (101 s), or after the last live one when that was
    # already within 0.001 kPa of the frozen value
    assert timedelta(seconds=160) <= out[0].at - T0 <= timedelta(seconds=161)
    assert "outlet_kpa stuck at 2.4" in out[0].summary and "for 60 s" in out[0].summary
    for every_s, seconds in [(1.0, 3 * 3600), (0.2, 1200)]:
        assert judge(STUCK, outlet(seconds, every_s=every_s), polls_per_batch=10)[1] == []


def test_the_first_sample_outside_the_tolerance_clears_a_flatline_and_a_restart_keeps_the_stretch():
    values = [1.0, 1.0005, 0.9995, 1.0, 1.0, 1.002, 1.002]
    stream = [Sample("rs-001", "outlet_kpa", T0 + timedelta(seconds=20 * i), v, "kPa") for i, v in enumerate(values)]
    _, out = judge(STUCK, stream)
    assert [(t.state, (t.at - T0).total_seconds()) for t in out] == [
        (AlertState.FIRING, 60.0), (AlertState.RESOLVED, 100.0)]
    first, _ = judge(STUCK, stream[:3])  # flat for 40 s: pending since 0 s
    second = RulesEngine(rules=[STUCK], assets=[simulated.asset(simulated.spec())], started_at=T0)
    second.restore(first.snapshot())
    [fired] = second.evaluate(second.batch(stream[3:4]), now=stream[3].ts)
    assert fired.at == T0 + timedelta(seconds=60), "the stretch began before the restart"


def _random_stream(seed: int, *, steps: bool):
    rng = np.random.default_rng(seed)
    n_series, n = 30, 3000
    series = rng.integers(0, n_series, n)
    ts = np.sort(rng.uniform(0, 900, n))
    if steps:  # a wander with sudden falls and rises, so rates cross the limits often
        step = rng.normal(0, 0.5, n) + rng.choice([0] * 8 + [20, -20], n) * rng.random(n)
        order = np.argsort(series, kind="stable")  # a walk per series, in time order
        walk = np.empty(n)
        walk[order] = np.concatenate([np.cumsum(step[order][series[order] == k]) for k in range(n_series)])
        value = walk
    else:  # few distinct values: long flat stretches and jumps
        value = rng.integers(0, 3, n) * 0.01 + np.where(rng.random(n) < 0.8, 0.0, rng.normal(0, 0.0004, n))
        value = np.where(rng.random(n) < 0.9, np.repeat(value[::50], 50)[:n], value)
    return series, ts, value


def _engine_transitions(rule, series, ts, value):
    assets = [AssetChannels(f"s{i}", "regulator_station", {"outlet_kpa": "kPa"}) for i in range(30)]
    engine = RulesEngine(rules=[rule], assets=assets, started_at=T0)
    base = T0.timestamp()
    got = []
    for chunk in np.array_split(np.arange(len(series)), 9):  # batches of many samples per series
        batch = SampleBatch(series[chunk].astype(np.int64), base + ts[chunk], value[chunk])
        got += [(t.asset_id, t.state, t.at.timestamp() - base) for t in engine.evaluate(batch, now=T0)]
    return got


def _compare(got, want):
    assert len(want) > 10, "the random stream should exercise the rule"
    got = sorted((a, t, s.value) for a, s, t in got)
    want = sorted((a, t, s.value) for a, s, t in want)
    assert [(a, s) for a, _, s in got] == [(a, s) for a, _, s in want]
    np.testing.assert_allclose([t for _, t, _ in got], [t for _, t, _ in want], atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_rate_of_change_agrees_with_the_reference_on_random_streams(seed: int):
    series, ts, value = _random_stream(seed, steps=True)
    rng = np.random.default_rng(100 + seed)
    rule = RateOfChangeRule(kind="rate_of_change", id="rate", channel="outlet_kpa",
                            direction=["rising", "falling"][seed % 2], per_min=float(rng.uniform(10, 40)),
                            clear_per_min=float(rng.uniform(0, 10)), window_s=float(rng.uniform(5, 30)),
                            for_s=float(rng.choice([0, 20])))
    got = _engine_transitions(rule, series, ts, value)
    want = rate_transitions(((f"s{s}", t, v) for s, t, v in zip(series, ts, value)), direction=rule.direction,
                            per_min=rule.per_min, clear_per_min=rule.clear_rate, window_s=rule.window_s, for_s=rule.for_s)
    _compare(got, want)


@pytest.mark.parametrize("seed", range(4))
def test_flatline_agrees_with_the_reference_on_random_streams(seed: int):
    series, ts, value = _random_stream(seed, steps=False)
    rule = FlatlineRule(kind="flatline", id="flat", channel="outlet_kpa", tolerance=0.0005, for_s=[30, 60, 20, 5][seed])
    got = _engine_transitions(rule, series, ts, value)
    want = flatline_transitions(((f"s{s}", t, v) for s, t, v in zip(series, ts, value)),
                                tolerance=rule.tolerance, for_s=rule.for_s)
    _compare(got, want)
