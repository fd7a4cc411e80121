"""Threshold rules relative to regulator pressures, the critical stage, and state rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sitewatch.config.models import ChannelLimits
from sitewatch.domain.alerts import AlertState, Severity
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.models import StateRule, ThresholdRule
from tests.rules import simulated

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai: daytime demand
LOCK_UP = ThresholdRule(kind="threshold", id="over-lock-up", channel="outlet_kpa", direction="above",
                        relative_to="lock_up_kpa", level=0.05, clear_level=-0.1, for_s=5)
GAS = ThresholdRule(kind="threshold", id="gas", channel="gas_lel_pct", direction="above", level=20, clear_level=10,
                    critical_level=50, severity="warning")
SLAM = StateRule(kind="state", id="slam-shut", channel="slam_shut_closed", alarm_values=(1,),
                 labels={"1": "tripped (closed)", "0": "open"}, severity="critical")


def station(asset_id: str, settings: dict | None = None, **limits: ChannelLimits) -> AssetChannels:
    return AssetChannels(asset_id, "regulator_station", {"outlet_kpa": "kPa", "gas_lel_pct": "%LEL"}, limits,
                         settings=settings or {})


def stream(asset_id: str, channel: str, values: list[float], *, every_s: float = 1, start: datetime = T0) -> list[Sample]:
    return [Sample(asset_id, channel, start + timedelta(seconds=i * every_s), v, "") for i, v in enumerate(values)]


def run(engine: RulesEngine, samples: list[Sample], now: datetime | None = None):
    samples = sorted(samples, key=lambda s: s.ts)
    return engine.evaluate(engine.batch(samples), now=now or (samples[-1].ts if samples else T0))


def test_relative_levels_follow_each_station_and_skip_stations_without_settings():
    low = {"set_point_kpa": 2.0, "lock_up_kpa": 2.2, "relief_kpa": 2.5, "slam_shut_kpa": 3.0}
    high = {"set_point_kpa": 2.5, "lock_up_kpa": 2.75, "relief_kpa": 3.0, "slam_shut_kpa": 3.5}
    engine = RulesEngine(rules=[LOCK_UP], assets=[
        station("low", low), station("high", high, outlet_kpa=ChannelLimits(high=2.9)), station("none")],
        started_at=T0)
    values = [2.3] * 6 + [2.15] * 3 + [2.0] * 2  # above 2.2 + 0.05 for 5 s, then below 2.2 - 0.1
    out = run(engine, stream("low", "outlet_kpa", values) + stream("high", "outlet_kpa", values)
              + stream("none", "outlet_kpa", [9.9] * 11))
    assert [(t.asset_id, t.state, (t.at - T0).total_seconds()) for t in out] == [
        ("low", AlertState.FIRING, 5.0),
        ("low", AlertState.RESOLVED, 9.0),  # 2.15 is inside the band (clear at 2.1)
    ], "2.3 kPa is below the high station's lock-up; the station without settings is not judged"
    assert "above 2.25 kPa (lock_up_kpa 2.2 +0.05 kPa) for 5 s" in out[0].summary
    assert {a.asset_id for a in engine.active()} == set()


def test_a_relative_rule_ignores_the_asset_limits_which_serve_absolute_rules():
    settings = {"set_point_kpa": 2.5, "lock_up_kpa": 2.75, "relief_kpa": 3.0, "slam_shut_kpa": 3.5}
    rule = LOCK_UP.model_copy(update={"for_s": 0})
    engine = RulesEngine(rules=[rule], assets=[station("a", settings, outlet_kpa=ChannelLimits(high=5.0))],
                         started_at=T0)
    [fired] = run(engine, stream("a", "outlet_kpa", [2.81]))
    assert fired.state is AlertState.FIRING


def test_gas_steps_up_to_critical_once_and_never_steps_down_until_resolved():
    engine = RulesEngine(rules=[GAS], assets=[station("rs")], started_at=T0)
    values = [0.1, 25, 30, 55, 60, 40, 55, 30, 15, 9, 25]
    out = run(engine, stream("rs", "gas_lel_pct", values))
    got = [(t.state, t.severity, (t.at - T0).total_seconds()) for t in out]
    assert got == [
        (AlertState.FIRING, Severity.WARNING, 1.0),
        (AlertState.FIRING, Severity.CRITICAL, 3.0),  # the stage-up: same fingerprint, higher severity
        (AlertState.RESOLVED, Severity.CRITICAL, 9.0),  # 40, 55, 30, 15 stay critical: no step down, no repeat
        (AlertState.FIRING, Severity.WARNING, 10.0),  # a new alert starts at the rule's own severity
    ]
    assert len({t.fingerprint for t in out}) == 1
    assert out[1].summary == "rs: gas_lel_pct 55.000 %LEL above critical level 50 %LEL"


def test_firing_straight_past_the_critical_level_is_one_critical_transition():
    engine = RulesEngine(rules=[GAS.model_copy(update={"for_s": 2})], assets=[station("rs")], started_at=T0)
    out = run(engine, stream("rs", "gas_lel_pct", [60, 60, 60, 60]))
    assert [(t.state, t.severity) for t in out] == [(AlertState.FIRING, Severity.CRITICAL)]
    held = RulesEngine(rules=[GAS.model_copy(update={"for_s": 30})], assets=[station("rs")], started_at=T0)
    assert run(held, stream("rs", "gas_lel_pct", [60])) == []
    [late] = held.evaluate(held.batch([]), now=T0 + timedelta(seconds=31))
    assert (late.state, late.severity, late.at) == (AlertState.FIRING, Severity.CRITICAL, T0 + timedelta(seconds=30))


def test_the_simulated_gas_leak_warns_at_20_and_is_critical_at_50():
    spec = simulated.spec()
    leak_at = T0 + timedelta(seconds=60)
    samples = simulated.samples(spec, T0, 180, faults=[simulated.fault("gas_leak", leak_at)], channels=["gas_lel_pct"])
    engine = RulesEngine(rules=[GAS], assets=[simulated.asset(spec)], started_at=T0)
    out = [t for i in range(0, len(samples), 5) for t in run(engine, samples[i:i + 5])]
    assert [(t.severity, round((t.at - leak_at).total_seconds())) for t in out] == [
        (Severity.WARNING, 20), (Severity.CRITICAL, 50)]  # 1 %LEL/s from a ~0.1 %LEL baseline


def test_the_critical_stage_survives_a_restart():
    first = RulesEngine(rules=[GAS], assets=[station("rs")], started_at=T0)
    run(first, stream("rs", "gas_lel_pct", [25, 55]))
    second = RulesEngine(rules=[GAS], assets=[station("rs")], started_at=T0 + timedelta(minutes=1))
    assert second.restore(first.snapshot()) == 1
    later = T0 + timedelta(minutes=1)
    assert run(second, stream("rs", "gas_lel_pct", [58, 60], start=later)) == [], "already critical: no new stage-up"
    [resolved] = run(second, stream("rs", "gas_lel_pct", [5], start=later + timedelta(seconds=5)))
    assert (resolved.state, resolved.severity) == (AlertState.RESOLVED, Severity.CRITICAL)


def test_a_state_rule_names_the_state_and_fires_on_the_simulated_slam_shut_trip():
    spec = simulated.spec()
    trip_at = T0 + timedelta(seconds=30.5)
    samples = simulated.samples(spec, T0, 120, faults=[simulated.fault("slam_shut_trip", trip_at)],
                                channels=["slam_shut_closed"])
    engine = RulesEngine(rules=[SLAM], assets=[simulated.asset(spec)], started_at=T0)
    healthy = [s for s in samples if s.ts < trip_at]
    assert run(engine, healthy) == []
    [fired] = run(engine, [s for s in samples if s.ts >= trip_at])
    assert fired.at == T0 + timedelta(seconds=31) and fired.severity is Severity.CRITICAL
    assert fired.summary == "rs-001: slam_shut_closed: tripped (closed)"
    [back] = run(engine, stream("rs-001", "slam_shut_closed", [0.0], start=T0 + timedelta(seconds=200)))
    assert back.state is AlertState.RESOLVED and back.summary == "rs-001: slam_shut_closed: open again"


def test_a_state_rule_waits_for_its_duration_even_without_new_samples_and_resumes_after_restart():
    relief = StateRule(kind="state", id="relief-open", channel="relief_open", alarm_values=(1,), for_s=60,
                       labels={"1": "venting"})
    host = AssetChannels("rs", "regulator_station", {"relief_open": "state"})
    first = RulesEngine(rules=[relief], assets=[host], started_at=T0)
    assert run(first, stream("rs", "relief_open", [0, 1, 1, 0, 1])) == [], "a short vent is the relief doing its job"
    assert [a.state for a in first.active()] == [AlertState.PENDING]
    second = RulesEngine(rules=[relief], assets=[host], started_at=T0 + timedelta(seconds=30))
    second.restore(first.snapshot())
    [fired] = second.evaluate(second.batch([]), now=T0 + timedelta(seconds=70))
    assert fired.at == T0 + timedelta(seconds=64), "pending since the 4 s sample, kept across the restart"
    assert fired.summary == "rs: relief_open: venting for 60 s"


@pytest.mark.parametrize("values", [[0.0, 2.0, 0.0], [1.0, 1.0]])
def test_a_state_rule_fires_only_on_its_alarm_values(values):
    rule = StateRule(kind="state", id="s", channel="relief_open", alarm_values=(2.0, 3.0))
    engine = RulesEngine(rules=[rule], assets=[AssetChannels("rs", "x", {"relief_open": "state"})], started_at=T0)
    out = run(engine, stream("rs", "relief_open", values))
    assert [t.state for t in out] == ([AlertState.FIRING, AlertState.RESOLVED] if 2.0 in values else [])


def test_a_failed_poll_cancels_what_was_pending_instead_of_firing_on_the_old_value():
    """The station stops answering while its gas reading is pending (a dead gateway, say):
    nothing newer will come, and the rule must not page for_s later on the value from before
    the failure — the offline alerts speak for the station. Without the failure the held
    alert still fires (channels that report once, like an alarm host's mains loss)."""
    rule = GAS.model_copy(update={"for_s": 30})
    engine = RulesEngine(rules=[rule], assets=[station("rs")], started_at=T0)
    assert run(engine, stream("rs", "gas_lel_pct", [25])) == []
    lost = Sample("rs", "gas_lel_pct", T0 + timedelta(seconds=5), float("nan"), "%LEL", Quality.COMM_ERROR)
    assert engine.evaluate(engine.batch([lost]), now=lost.ts) == []
    assert engine.evaluate(engine.batch([]), now=T0 + timedelta(seconds=60)) == [], "fired on a value from before the failure"
    # Back, still above: the duration counts afresh from the first good sample.
    back = T0 + timedelta(seconds=70)
    assert run(engine, stream("rs", "gas_lel_pct", [26], start=back)) == []
    [fired] = engine.evaluate(engine.batch([]), now=back + timedelta(seconds=31))
    assert (fired.state, fired.at) == (AlertState.FIRING, back + timedelta(seconds=30))
