"""The engine against hand-made streams and against the plain reference on random ones."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from sitewatch.config.models import ChannelLimits
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.samples import Quality, Sample, SampleBlock, SampleList
from sitewatch.domain.time import UTC
from sitewatch.rules.engine import AssetChannels, RulesEngine, SampleBatch
from sitewatch.rules.models import NoDataRule, ThresholdRule
from sitewatch.rules.reference import threshold_transitions

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HIGH = ThresholdRule(kind="threshold", id="outlet-high", channel="outlet_kpa", direction="above",
                     level=2.9, clear_level=2.7, for_s=10)
LOW = ThresholdRule(kind="threshold", id="outlet-low", channel="outlet_kpa", direction="below",
                    level=1.8, clear_level=2.0, for_s=0)
NO_DATA = NoDataRule(kind="no_data", id="no-data", channel="outlet_kpa", after_s=30)


def station(asset_id: str = "rs-1", **limits: ChannelLimits) -> AssetChannels:
    return AssetChannels(asset_id, "regulator_station", {"outlet_kpa": "kPa"}, limits)


def samples(values: list[float], *, asset_id: str = "rs-1", every_s: float = 5, start: datetime = T0) -> list[Sample]:
    return [Sample(asset_id, "outlet_kpa", start + timedelta(seconds=i * every_s), v, "kPa") for i, v in enumerate(values)]


def run(engine: RulesEngine, stream: list[Sample], now: datetime | None = None):
    now = now or (stream[-1].ts if stream else T0)
    return engine.evaluate(engine.batch(stream), now=now)


def test_fires_only_after_the_duration_and_clears_only_past_the_clear_level():
    engine = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    # 0 s: 3.0 (pending), 5 s: 3.0, 10 s: 3.0 -> held 10 s -> firing at 10 s
    out = run(engine, samples([2.5, 3.0, 3.0, 3.0, 2.8, 2.95, 2.8, 2.6]))
    assert [(t.state, t.at - T0) for t in out] == [
        (AlertState.FIRING, timedelta(seconds=15)),
        (AlertState.RESOLVED, timedelta(seconds=35)),
    ], "2.8 and 2.95 lie inside the hysteresis band and must neither clear nor re-fire"
    assert out[0].fingerprint == "rs-1/outlet-high/outlet_kpa"
    assert out[0].value == pytest.approx(3.0) and out[0].unit == "kPa"
    assert "above 2.9 kPa" in out[0].summary


def test_a_dip_before_the_duration_cancels_pending():
    engine = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    assert run(engine, samples([3.0, 3.0, 2.8, 3.0, 3.0])) == []


def test_oscillation_around_the_level_fires_once():
    engine = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    stream = samples([3.0] * 4 + [2.85, 2.95] * 20)
    out = run(engine, stream)
    assert [t.state for t in out] == [AlertState.FIRING]


def test_asset_limits_override_the_rule_and_below_rules_mirror_above():
    engine = RulesEngine(
        rules=[LOW], assets=[station("a", outlet_kpa=ChannelLimits(low=1.0, low_clear=1.2)), station("b")], started_at=T0
    )
    stream = samples([1.5, 0.9, 1.1, 1.3], asset_id="a") + samples([1.5, 0.9, 1.9, 2.1], asset_id="b")
    out = run(engine, sorted(stream, key=lambda s: s.ts))
    got = sorted((t.asset_id, t.state.value, (t.at - T0).total_seconds()) for t in out)
    assert got == [
        ("a", "firing", 5.0),  # the asset's own low limit 1.0, not the rule's 1.8
        ("a", "resolved", 15.0),  # 1.1 is inside a's band (clear 1.2); 1.3 clears
        ("b", "firing", 0.0),
        ("b", "resolved", 15.0),  # 1.9 is inside b's band (clear 2.0); 2.1 clears
    ]


def test_bad_quality_and_nan_are_not_data():
    engine = RulesEngine(rules=[LOW, NO_DATA], assets=[station()], started_at=T0)
    bad = [Sample("rs-1", "outlet_kpa", T0 + timedelta(seconds=i), float("nan"), "kPa", Quality.COMM_ERROR) for i in range(40)]
    out = run(engine, bad, now=T0 + timedelta(seconds=40))
    assert [(t.rule_id, t.state) for t in out] == [("no-data", AlertState.FIRING)]
    assert out[0].at == T0 + timedelta(seconds=30), "no-data fires when the silence passed 30 s"


def test_no_data_resolves_at_the_first_good_sample():
    engine = RulesEngine(rules=[NO_DATA], assets=[station()], started_at=T0)
    assert run(engine, [], now=T0 + timedelta(seconds=29)) == []
    fired = run(engine, [], now=T0 + timedelta(seconds=31))
    assert [t.state for t in fired] == [AlertState.FIRING]
    back = run(engine, samples([2.5], start=T0 + timedelta(seconds=40)), now=T0 + timedelta(seconds=41))
    assert [(t.state, t.at) for t in back] == [(AlertState.RESOLVED, T0 + timedelta(seconds=40))]


def unpolled(at_s: list[float], asset_id: str = "rs-1") -> list[Sample]:
    return [Sample(asset_id, "outlet_kpa", T0 + timedelta(seconds=t), float("nan"), "kPa", Quality.NOT_POLLED)
            for t in at_s]


def test_time_the_collector_did_not_ask_is_not_the_devices_silence():
    # The poll was held back (the worker short of CPU) from 20 s on: no no-data alert for a
    # device nobody asked, as a block or as loose samples; asked and silent, it fires.
    engine = RulesEngine(rules=[NO_DATA], assets=[station("a"), station("b")], started_at=T0)
    block = SampleBlock("b", T0 + timedelta(seconds=20), ("outlet_kpa",), [float("nan")], ("kPa",),
                        (Quality.NOT_POLLED,))
    assert run(engine, unpolled([20.0], "a") + [block], now=T0 + timedelta(seconds=45)) == []
    late = run(engine, [], now=T0 + timedelta(seconds=51))
    assert sorted((t.asset_id, t.state, t.at) for t in late) == [
        ("a", AlertState.FIRING, T0 + timedelta(seconds=50)), ("b", AlertState.FIRING, T0 + timedelta(seconds=50))
    ], "30 s after the collector last said it had not asked, and still nothing: the count ran from there"


def test_not_asking_does_not_end_a_no_data_alert():
    engine = RulesEngine(rules=[NO_DATA], assets=[station()], started_at=T0)
    assert [t.state for t in run(engine, [], now=T0 + timedelta(seconds=31))] == [AlertState.FIRING]
    assert run(engine, unpolled([40.0, 50.0]), now=T0 + timedelta(seconds=51)) == [], \
        "nothing was heard from the device: it stays silent"
    assert [t.state for t in run(engine, samples([2.5], start=T0 + timedelta(seconds=60)))] == [AlertState.RESOLVED]


def test_snapshot_restores_pending_and_firing_state():
    first = RulesEngine(rules=[HIGH], assets=[station("a"), station("b")], started_at=T0)
    run(first, samples([3.0, 3.0, 3.0], asset_id="a") + samples([3.0], asset_id="b"))
    payload = first.snapshot()
    second = RulesEngine(rules=[HIGH], assets=[station("a"), station("b")], started_at=T0 + timedelta(seconds=60))
    assert second.restore(payload) == 2
    states = {(a.asset_id, a.state) for a in second.active()}
    assert states == {("a", AlertState.FIRING), ("b", AlertState.PENDING)}
    # "a" is already firing: staying high must not fire again; "b" keeps its pending start.
    later = T0 + timedelta(seconds=10)
    out = run(second, samples([3.0], asset_id="a", start=later) + samples([3.0], asset_id="b", start=later))
    assert [(t.asset_id, t.state) for t in out] == [("b", AlertState.FIRING)]


def test_a_deep_batch_of_quiet_samples_still_cancels_what_was_pending():
    # Deep batches walk only the series a sample can change; a pending one is such a series
    # even when none of its new samples meets the condition.
    engine = RulesEngine(rules=[HIGH], assets=[station("rs-1"), station("rs-2")], started_at=T0)
    assert run(engine, samples([3.0], asset_id="rs-1")) == []  # pending since 0 s
    quiet = samples([2.8, 2.8], asset_id="rs-1", start=T0 + timedelta(seconds=5))
    quiet += samples([2.0, 2.0, 2.0], asset_id="rs-2", start=T0 + timedelta(seconds=1), every_s=4)
    # 12 s: a pending alert from 0 s would be held past its 10 s and fire now.
    assert run(engine, sorted(quiet, key=lambda s: s.ts), now=T0 + timedelta(seconds=12)) == []
    assert engine.active() == []


@pytest.mark.parametrize("seed", range(5))
def test_engine_agrees_with_the_reference_on_random_streams(seed: int):
    rng = np.random.default_rng(seed)
    n_series, n_samples = 50, 4000
    series = rng.integers(0, n_series, n_samples)
    ts = np.sort(rng.uniform(0, 600, n_samples))
    # values wander around the band so every branch is taken
    value = 2.8 + 0.2 * np.sin(ts / 20 + series) + rng.normal(0, 0.08, n_samples)
    assets = [station(f"s{i}") for i in range(n_series)]
    engine = RulesEngine(rules=[HIGH], assets=assets, started_at=T0)
    base = T0.timestamp()
    got = []
    for chunk in np.array_split(np.arange(n_samples), 7):  # batches of varying size
        batch = SampleBatch(series[chunk].astype(np.int64), base + ts[chunk], value[chunk])
        got += [(t.asset_id, t.state, t.at.timestamp() - base) for t in engine.evaluate(batch, now=T0)]
    want = threshold_transitions(
        ((f"s{s}", t, v) for s, t, v in zip(series, ts, value)), direction="above", level=2.9, clear_level=2.7, for_s=10
    )
    assert len(want) > 20, "the random stream should exercise the rule"
    got = sorted((a, t, s.value) for a, s, t in got)
    want = sorted((a, t, s.value) for a, s, t in want)
    assert [(a, s) for a, _, s in got] == [(a, s) for a, _, s in want]
    np.testing.assert_allclose([t for _, t, _ in got], [t for _, t, _ in want], atol=1e-6)


def test_event_driven_channels_fire_when_the_duration_passes_without_a_new_sample():
    mains = ThresholdRule(kind="threshold", id="mains-loss", channel="mains_ok", direction="below",
                          level=0.5, for_s=600, severity="major")
    host = AssetChannels("ah-1", "alarm_host", {"mains_ok": "state"})
    engine = RulesEngine(rules=[mains], assets=[host], started_at=T0)
    lost = [Sample("ah-1", "mains_ok", T0, 0.0, "state")]  # reported once, as alarm hosts do
    assert engine.evaluate(engine.batch(lost), now=T0 + timedelta(seconds=599)) == []
    [fired] = engine.evaluate(engine.batch([]), now=T0 + timedelta(seconds=601))
    assert fired.state is AlertState.FIRING and fired.at == T0 + timedelta(seconds=600)
    assert "mains_ok 0.000 state below 0.5 state for 600 s" in fired.summary


def test_a_channel_pattern_gives_one_alert_per_matching_channel():
    zones = ThresholdRule(kind="threshold", id="zone-fault", channel="zone_*_fault", direction="above", level=0.5)
    host = AssetChannels("ah-1", "alarm_host", {f"zone_{z:02d}_{k}": "state" for z in (1, 2) for k in ("alarm", "fault")})
    engine = RulesEngine(rules=[zones], assets=[host], started_at=T0)
    out = engine.evaluate(engine.batch([Sample("ah-1", "zone_02_fault", T0, 1.0, "state"),
                                        Sample("ah-1", "zone_01_alarm", T0, 1.0, "state")]), now=T0)
    assert [t.fingerprint for t in out] == ["ah-1/zone-fault/zone_02_fault"]


def test_flapping_becomes_one_alert_and_settles_once_quiet():
    from sitewatch.rules.flapping import FlapGuard

    rule = ThresholdRule(kind="threshold", id="outlet-high", channel="outlet_kpa", direction="above",
                         level=2.9, clear_level=2.7, for_s=0)
    engine = RulesEngine(rules=[rule], assets=[station()], started_at=T0,
                         flapping=FlapGuard(transitions=4, window_s=600))
    swinging = samples([3.0, 2.6] * 10, every_s=10)  # 20 changes in 200 s
    out = run(engine, swinging)
    assert [t.state for t in out] == [AlertState.FIRING, AlertState.RESOLVED, AlertState.FIRING, AlertState.FIRING]
    assert "flapping (4 changes within 600 s)" in out[-1].summary
    quiet_from = swinging[-1].ts
    assert engine.evaluate(engine.batch([]), now=quiet_from + timedelta(seconds=599)) == []
    [settled] = engine.evaluate(engine.batch([]), now=quiet_from + timedelta(seconds=601))
    assert settled.state is AlertState.RESOLVED, "it settled below the clear level: resolved, once"


def test_flapping_guards_every_kind_not_only_thresholds():
    from sitewatch.rules.flapping import FlapGuard
    from sitewatch.rules.models import CompositeRule, StateRule

    door = StateRule(kind="state", id="door-open", channel="door_open", alarm_values=(1,))
    both = CompositeRule(kind="composite", id="door-and-gas", mode="all",
                         conditions=[{"channel": "door_open", "op": ">", "value": 0.5},
                                     {"channel": "gas_lel_pct", "op": ">", "value": 10}])
    rs = AssetChannels("rs-1", "regulator_station", {"door_open": "state", "gas_lel_pct": "%LEL"})
    engine = RulesEngine(rules=[door, both], assets=[rs], started_at=T0, flapping=FlapGuard(transitions=4, window_s=600))
    chatter = [s for i in range(20) for s in (
        Sample("rs-1", "door_open", T0 + timedelta(seconds=10 * i), float(i % 2 == 0), "state"),
        Sample("rs-1", "gas_lel_pct", T0 + timedelta(seconds=10 * i), 15.0, "%LEL"))]
    out = [t for s in range(0, 40, 2) for t in run(engine, chatter[s:s + 2])]
    for rule_id in ("door-open", "door-and-gas"):
        mine = [t for t in out if t.rule_id == rule_id]
        assert [t.state for t in mine] == [AlertState.FIRING, AlertState.RESOLVED, AlertState.FIRING, AlertState.FIRING]
        assert "flapping" in mine[-1].summary
    settled = engine.evaluate(engine.batch([]), now=chatter[-1].ts + timedelta(seconds=601))
    assert sorted((t.rule_id, t.state) for t in settled) == [
        ("door-and-gas", AlertState.RESOLVED), ("door-open", AlertState.RESOLVED)], "the last sample closed the door"


def test_a_stage_up_is_not_a_flapping_change():
    from sitewatch.rules.flapping import FlapGuard

    gas = ThresholdRule(kind="threshold", id="gas", channel="gas_lel_pct", direction="above", level=20,
                        clear_level=10, critical_level=50, severity="warning")
    rs = AssetChannels("rs-1", "regulator_station", {"gas_lel_pct": "%LEL"})
    engine = RulesEngine(rules=[gas], assets=[rs], started_at=T0, flapping=FlapGuard(transitions=3, window_s=600))
    values = [25, 55, 5, 25]  # fire, stage up, resolve, fire: three changes, the stage-up not counted
    stream = [Sample("rs-1", "gas_lel_pct", T0 + timedelta(seconds=i), v, "%LEL") for i, v in enumerate(values)]
    out = run(engine, stream)
    assert [(t.state, t.severity.value) for t in out] == [
        ("firing", "warning"), ("firing", "critical"), ("resolved", "critical"), ("firing", "warning")]
    assert "flapping" in out[-1].summary, "the third change, not the fourth transition"


def test_began_at_is_when_the_condition_began():
    from sitewatch.rules.models import FlatlineRule

    def began(out):
        return [((t.at - T0).total_seconds(), (t.began_at - T0).total_seconds()) for t in out
                if t.state is AlertState.FIRING]

    engine = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    out = run(engine, samples([2.5, 3.0, 3.0, 3.0, 2.5]))
    assert began(out) == [(15.0, 5.0)], "threshold with for_s: the start of the pending stretch"
    assert [t.began_at for t in out if t.state is AlertState.RESOLVED] == [None]

    held = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    assert run(held, samples([3.0], start=T0 + timedelta(seconds=2))) == []
    assert began(run(held, [], now=T0 + timedelta(seconds=30))) == [(12.0, 2.0)], "held fire: the pending start"

    silent = RulesEngine(rules=[NO_DATA], assets=[station()], started_at=T0)
    run(silent, samples([2.5, 2.5]))
    assert began(run(silent, [], now=T0 + timedelta(seconds=60))) == [(35.0, 5.0)], "no-data: the last good sample"

    at_once = RulesEngine(rules=[LOW], assets=[station()], started_at=T0)
    assert began(run(at_once, samples([2.5, 1.5]))) == [(5.0, 5.0)], "no duration: the same as at"

    stuck = FlatlineRule(kind="flatline", id="stuck", channel="outlet_kpa", tolerance=0.001, for_s=10)
    frozen = RulesEngine(rules=[stuck], assets=[station()], started_at=T0)
    assert began(run(frozen, samples([2.4, 2.5, 2.5, 2.5, 2.5]))) == [(15.0, 5.0)], "flatline: the stretch's start"


def test_a_stage_up_reports_when_the_condition_began_also_after_a_restart():
    gas = ThresholdRule(kind="threshold", id="gas", channel="gas_lel_pct", direction="above", level=20,
                        clear_level=10, critical_level=50, for_s=5, severity="warning")
    rs = AssetChannels("rs-1", "regulator_station", {"gas_lel_pct": "%LEL"})

    def leak(values: list[float], start_s: float) -> list[Sample]:
        return [Sample("rs-1", "gas_lel_pct", T0 + timedelta(seconds=start_s + 5 * i), v, "%LEL")
                for i, v in enumerate(values)]

    first = RulesEngine(rules=[gas], assets=[rs], started_at=T0)
    [fired] = run(first, leak([5, 25, 30], 0))
    assert (fired.at - T0, fired.began_at - T0) == (timedelta(seconds=10), timedelta(seconds=5))
    second = RulesEngine(rules=[gas], assets=[rs], started_at=T0 + timedelta(seconds=20))
    second.restore(first.snapshot())
    [critical] = run(second, leak([55], 25))
    assert critical.severity.value == "critical" and critical.began_at == fired.began_at


def test_a_batch_of_blocks_is_the_batch_of_the_samples_they_hold():
    # What the bus drains: polls as blocks (one with a channel the rules do not know, one
    # failed in part) among loose samples; the columns must equal those of the same Samples.
    engine = RulesEngine(rules=[HIGH], assets=[station("a"), station("b")], started_at=T0)
    names, units = ("outlet_kpa", "door_open"), ("kPa", "state")
    good, err = Quality.GOOD, Quality.COMM_ERROR
    drained = SampleList([
        SampleBlock("a", T0, names, [3.1, 1.0], units, (good, good)),
        Sample("b", "outlet_kpa", T0, 2.5, "kPa"),
        SampleBlock("b", T0 + timedelta(seconds=5), names, [float("nan"), 0.0], units, (err, good)),
        SampleBlock("unknown", T0, names, [9.9, 1.0], units, (good, good)),
        SampleBlock("a", T0 + timedelta(seconds=5), ("outlet_kpa",), [3.2], ("kPa",), (good,)),
    ])
    columns, plain = engine.batch(drained), engine.batch(list(drained))
    assert len(columns) == 4
    for got, want in ((columns.series, plain.series), (columns.ts, plain.ts), (columns.value, plain.value)):
        np.testing.assert_array_equal(got, want)
    assert np.isnan(columns.value[2]) and columns.value[0] == 3.1


def test_blocks_judge_as_their_samples_do():
    stream = samples([2.5, 3.0, 3.1, 3.2, 3.3, 2.6])
    as_blocks = SampleList([SampleBlock(s.asset_id, s.ts, (s.channel,), [s.value], (s.unit,), (s.quality,))
                            for s in stream])
    one = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    other = RulesEngine(rules=[HIGH], assets=[station()], started_at=T0)
    now = stream[-1].ts
    fired = one.evaluate(one.batch(as_blocks), now=now)
    assert [(t.state, t.at) for t in fired] == [(t.state, t.at) for t in other.evaluate(other.batch(stream), now=now)]
    assert [t.state for t in fired] == [AlertState.FIRING, AlertState.RESOLVED]
