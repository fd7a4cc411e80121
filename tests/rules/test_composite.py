"""Composite conditions over an asset's channels, and night creep."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sitewatch.domain.alerts import AlertState
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.models import CompositeRule, NightCreepRule, ThresholdRule
from tests.rules import simulated

T0 = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)  # 02:00 in Shanghai: the night's low flow
BURST = CompositeRule(kind="composite", id="downstream-burst", mode="all", for_s=5, severity="critical", conditions=[
    {"channel": "outlet_kpa", "op": "<", "value": -1.0, "relative_to": "set_point_kpa"},
    {"channel": "flow_nm3h", "op": ">", "value": 400},
])
CREEP = NightCreepRule(kind="night_creep", id="night-creep", low_flow=200, rise=0.1, for_s=60)
CHANNELS = {"outlet_kpa": "kPa", "flow_nm3h": "Nm3/h"}
SETTINGS = simulated.SETTINGS


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def poll(asset_id: str, seconds: float, **values: float) -> list[Sample]:
    return [Sample(asset_id, c, at(seconds), v, CHANNELS[c]) for c, v in values.items()]


def judge(engine: RulesEngine, polls: list[list[Sample]], *, work_at_s: float | None = None) -> list:
    """Every transition, one poll per batch; technicians at work at "rs" during the poll at ``work_at_s``."""
    work = None if work_at_s is None else at(work_at_s)
    return [t for p in polls for t in engine.evaluate(engine.batch(p), now=p[0].ts,
                                                      at_work={"rs"} if p[0].ts == work else ())]


def simulate(rule, seconds: float, *, every_s: float = 1.0, faults=(), start: datetime = T0, per_batch: int = 2):
    station = simulated.spec()
    engine = RulesEngine(rules=[rule], assets=[simulated.asset(station)], started_at=start)
    samples = simulated.samples(station, start, seconds, every_s=every_s, faults=faults, channels=list(CHANNELS))
    return engine, judge(engine, [samples[i:i + per_batch] for i in range(0, len(samples), per_batch)])


def test_all_conditions_must_hold_for_the_duration_on_the_latest_values():
    engine = RulesEngine(rules=[BURST], assets=[AssetChannels("rs", "regulator_station", CHANNELS, settings=SETTINGS)],
                         started_at=T0)
    out = judge(engine, [
        poll("rs", 0, outlet_kpa=1.0),  # flow never seen yet: false
        poll("rs", 1, flow_nm3h=900),  # both now: pending since 1 s, judged on outlet's 1.0 seen before
        poll("rs", 4, outlet_kpa=0.8),
        poll("rs", 6, outlet_kpa=0.7),  # 5 s: fires
        poll("rs", 8, flow_nm3h=300),  # flow back down: resolved
    ])
    assert [(t.state, (t.at - T0).total_seconds()) for t in out] == [(AlertState.FIRING, 6.0), (AlertState.RESOLVED, 8.0)]
    assert out[0].fingerprint == "rs/downstream-burst/outlet_kpa" and out[0].value == 0.7 and out[0].unit == "kPa"
    assert out[0].summary == ("rs: downstream-burst: outlet_kpa 0.7 kPa (< 1.5) and flow_nm3h 900 Nm3/h (> 400) "
                              "for 5 s")


def test_any_mode_and_a_pending_alert_firing_without_new_samples():
    rule = BURST.model_copy(update={"mode": "any", "for_s": 30})
    engine = RulesEngine(rules=[rule], assets=[AssetChannels("rs", "regulator_station", CHANNELS, settings=SETTINGS)],
                         started_at=T0)
    assert judge(engine, [poll("rs", 0, outlet_kpa=2.5, flow_nm3h=900)]) == []
    [fired] = engine.evaluate(engine.batch([]), now=at(31))
    assert fired.at == at(30) and fired.state is AlertState.FIRING


def test_assets_lacking_a_channel_or_the_setting_are_not_judged():
    assets = [AssetChannels("no-settings", "regulator_station", CHANNELS),
              AssetChannels("no-flow", "regulator_station", {"outlet_kpa": "kPa"}, settings=SETTINGS)]
    engine = RulesEngine(rules=[BURST.model_copy(update={"for_s": 0})], assets=assets, started_at=T0)
    assert judge(engine, [poll("no-settings", 0, outlet_kpa=0.1, flow_nm3h=900), poll("no-flow", 0, outlet_kpa=0.1)]) == []


def test_the_simulated_pipe_burst_is_a_downstream_burst_and_a_healthy_day_is_not():
    burst_at = at(60.5)
    _, out = simulate(BURST, 180, faults=[simulated.fault("pipe_burst", burst_at)])
    assert [t.state for t in out] == [AlertState.FIRING]
    assert timedelta(seconds=5) <= out[0].at - burst_at <= timedelta(seconds=8)
    _, healthy = simulate(BURST, 86400, every_s=30, per_batch=20)
    assert healthy == []


def test_a_pending_composite_resumes_after_a_restart_with_its_latest_values():
    assets = [AssetChannels("rs", "regulator_station", CHANNELS, settings=SETTINGS)]
    first = RulesEngine(rules=[BURST], assets=assets, started_at=T0)
    judge(first, [poll("rs", 0, outlet_kpa=0.5, flow_nm3h=900)])
    second = RulesEngine(rules=[BURST], assets=assets, started_at=at(3))
    assert second.restore(first.snapshot()) == 1
    [fired] = judge(second, [poll("rs", 5, flow_nm3h=950)])  # the outlet's 0.5 kPa came before the restart
    assert fired.at == at(5) and "outlet_kpa 0.5 kPa" in fired.summary


def test_the_simulated_night_creep_fires_and_a_healthy_night_does_not():
    creep_at = at(60)
    _, out = simulate(CREEP, 600, every_s=5, faults=[simulated.fault("night_creep", creep_at)])
    assert [t.state for t in out] == [AlertState.FIRING]
    # 0.1 kPa at 0.002 kPa/s is ~50 s (noise +-0.02 kPa moves it), then 60 s of duration
    assert timedelta(seconds=80) <= out[0].at - creep_at <= timedelta(seconds=140)
    assert "regulator not locking up" in out[0].summary and "(limit 0.1 kPa)" in out[0].summary
    night = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 to 05:30 local
    assert simulate(CREEP, 6.5 * 3600, every_s=5, start=night, per_batch=20)[1] == []
    assert simulate(CREEP, 3600, every_s=1, start=night + timedelta(hours=3), per_batch=20)[1] == []


def test_night_creep_clears_when_the_flow_rises_and_the_low_flow_period_starts_afresh():
    engine = RulesEngine(rules=[CREEP.model_copy(update={"for_s": 0})],
                         assets=[AssetChannels("rs", "regulator_station", CHANNELS)], started_at=T0)
    out = judge(engine, [
        poll("rs", 0, flow_nm3h=100, outlet_kpa=2.50),
        poll("rs", 5, flow_nm3h=100, outlet_kpa=2.45),  # the period's minimum
        poll("rs", 10, flow_nm3h=100, outlet_kpa=2.56),  # +0.11: fires
        poll("rs", 15, flow_nm3h=300),  # demand: clears without waiting for an outlet sample
        poll("rs", 20, flow_nm3h=100, outlet_kpa=2.56),  # a new period: its minimum is 2.56
        poll("rs", 25, flow_nm3h=100, outlet_kpa=2.62),  # +0.06 only
        poll("rs", 30, flow_nm3h=100, outlet_kpa=2.70),  # +0.14: fires
        poll("rs", 35, flow_nm3h=100, outlet_kpa=2.63),  # +0.07: inside the band (clears below 0.05)
        poll("rs", 40, flow_nm3h=100, outlet_kpa=2.60),  # +0.04: clears
    ])
    assert [(t.state, (t.at - T0).total_seconds()) for t in out] == [
        (AlertState.FIRING, 10.0), (AlertState.RESOLVED, 15.0), (AlertState.FIRING, 30.0), (AlertState.RESOLVED, 40.0)]


def test_a_restart_keeps_the_low_flow_minimum_of_a_creep_in_progress():
    assets = [AssetChannels("rs", "regulator_station", CHANNELS)]
    first = RulesEngine(rules=[CREEP], assets=assets, started_at=T0)
    judge(first, [poll("rs", 0, flow_nm3h=100, outlet_kpa=2.45), poll("rs", 5, flow_nm3h=100, outlet_kpa=2.52)])
    second = RulesEngine(rules=[CREEP], assets=assets, started_at=at(10))
    second.restore(first.snapshot())
    out = judge(second, [poll("rs", 30, outlet_kpa=2.56), poll("rs", 60, outlet_kpa=2.57),
                         poll("rs", 95, outlet_kpa=2.58)])  # 35 s apart at most: no gap restarts the baseline
    assert [(t.state, t.at) for t in out] == [(AlertState.FIRING, at(95))], "pending since 30 s, from the 2.45 minimum"


def creep_engine(rule: NightCreepRule, *others) -> RulesEngine:
    return RulesEngine(rules=[rule, *others], assets=[AssetChannels("rs", "regulator_station", CHANNELS)],
                       started_at=T0)


def creep_polls(outlets: dict[float, float]) -> list[list[Sample]]:
    return [poll("rs", t, flow_nm3h=100, outlet_kpa=v) for t, v in outlets.items()]


def states(out: list) -> list[tuple[str, AlertState, float]]:
    return [(t.rule_id, t.state, (t.at - T0).total_seconds()) for t in out]


def test_night_creep_is_judged_after_the_rules_it_restarts_on_whatever_the_config_order():
    high = ThresholdRule(kind="threshold", id="outlet-high", channel="outlet_kpa", direction="above", level=2.9)
    rule = CREEP.model_copy(update={"for_s": 10, "restart_on": ("outlet-high",)})
    # pending since 5 s; at 15 s its 10 s are up, but the same sample raises outlet-high first
    out = judge(creep_engine(rule, high), creep_polls({0: 2.45, 5: 2.56, 15: 3.0}))
    assert states(out) == [("outlet-high", AlertState.FIRING, 15.0)]


def test_restart_on_must_name_rules_that_exist_and_are_not_night_creep():
    with pytest.raises(ValueError, match="unknown rule 'outlet-hihg'"):
        creep_engine(CREEP.model_copy(update={"restart_on": ("outlet-hihg",)}))
    other = CREEP.model_copy(update={"id": "other-creep"})
    with pytest.raises(ValueError, match="night_creep rule 'other-creep'"):
        creep_engine(CREEP.model_copy(update={"restart_on": ("other-creep",)}), other)
    with pytest.raises(ValueError, match="the rule itself"):
        NightCreepRule(kind="night_creep", id="night-creep", low_flow=200, rise=0.1, restart_on=["night-creep"])


@pytest.mark.parametrize(("gap_s", "fired_at"), [(50, [50.0]), (95, [145.0])])
def test_outlet_samples_resuming_after_a_gap_start_the_baseline_afresh_once_settled(gap_s, fired_at):
    rule = CREEP.model_copy(update={"for_s": 0, "gap_s": 60, "settle_s": 30})
    outlets = {0: 2.40, 5: 2.42, gap_s: 2.55, 120: 2.50, 135: 2.52, 140: 2.60, 145: 2.63}
    out = judge(creep_engine(rule), creep_polls(outlets))
    # 50 s: no gap, +0.15 over the 2.40 minimum. 95 s: a gap; 120 s is still settling; the
    # baseline starts at 135 s (2.52), so 2.60 is +0.08 only and 2.63 is +0.11
    assert [(t.state, (t.at - T0).total_seconds()) for t in out if t.state is AlertState.FIRING] == [
        (AlertState.FIRING, t) for t in fired_at]


def test_work_at_the_station_drops_a_pending_creep_and_leaves_a_firing_one_to_clear_itself():
    rule = CREEP.model_copy(update={"for_s": 10, "settle_s": 20})
    engine = creep_engine(rule)
    polls = creep_polls({0: 2.40, 5: 2.52, 10: 2.55, 15: 2.56, 35: 2.56, 40: 2.57, 60: 2.58})
    out = judge(engine, polls, work_at_s=10)
    assert out == [], "pending since 5 s, dropped at 10 s; the baseline starts again at 35 s (2.56)"

    engine = creep_engine(rule.model_copy(update={"for_s": 0}))
    polls = creep_polls({0: 2.40, 5: 2.52, 10: 2.60, 30: 2.60, 35: 2.60})
    out = judge(engine, polls, work_at_s=10)
    assert [(t.state, t.at) for t in out] == [(AlertState.FIRING, at(5)), (AlertState.RESOLVED, at(35))], \
        "firing through the work and its settle; the new baseline (2.60 at 35 s) shows no rise"
