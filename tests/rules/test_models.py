"""Rule declarations refuse what cannot mean anything, with a message naming the mistake."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from sitewatch.rules.models import (
    BaselineRule,
    CompositeRule,
    NightCreepRule,
    RateOfChangeRule,
    Rule,
    StateRule,
    ThresholdRule,
)

RULE = TypeAdapter(Rule)


def refused(raw: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        RULE.validate_python(raw)
    return str(caught.value)


def test_each_kind_is_chosen_by_its_kind_key():
    raw = [
        {"kind": "threshold", "id": "a", "channel": "gas_lel_pct", "direction": "above", "level": 20,
         "critical_level": 50, "severity": "warning"},
        {"kind": "rate_of_change", "id": "b", "channel": "outlet_kpa", "direction": "falling", "per_min": 30},
        {"kind": "flatline", "id": "c", "channel": "outlet_kpa", "tolerance": 0.001, "for_s": 60},
        {"kind": "state", "id": "d", "channel": "slam_shut_closed", "alarm_values": [1], "labels": {"1": "tripped"}},
        {"kind": "composite", "id": "e", "mode": "all",
         "conditions": [{"channel": "outlet_kpa", "op": "<", "value": -1.0, "relative_to": "set_point_kpa"},
                        {"channel": "flow_nm3h", "op": ">", "value": 400}]},
        {"kind": "night_creep", "id": "f", "low_flow": 200, "rise": 0.1, "for_s": 60},
        {"kind": "baseline", "id": "g", "channel": "filter_dp_kpa", "min_deviation": 2.0},
    ]
    kinds = [type(RULE.validate_python(r)).__name__ for r in raw]
    assert kinds == ["ThresholdRule", "RateOfChangeRule", "FlatlineRule", "StateRule", "CompositeRule",
                     "NightCreepRule", "BaselineRule"]


def test_critical_level_must_lie_beyond_level_in_the_rule_direction():
    base = {"kind": "threshold", "id": "gas", "channel": "gas_lel_pct", "severity": "warning"}
    assert "critical_level must be above level" in refused(base | {"direction": "above", "level": 20, "critical_level": 10})
    assert "critical_level must be below level" in refused(base | {"direction": "below", "level": 1.8, "critical_level": 2.0})
    assert "already critical" in refused(base | {"direction": "above", "level": 20, "critical_level": 50,
                                                 "severity": "critical"})


def test_relative_to_names_a_regulator_pressure_and_needs_an_offset():
    base = {"kind": "threshold", "id": "lock-up", "channel": "outlet_kpa", "direction": "above"}
    assert "relative_to needs a level" in refused(base | {"relative_to": "lock_up_kpa"})
    message = refused(base | {"relative_to": "lockup", "level": 0.1})
    assert "relative_to" in message and "lock_up_kpa" in message
    rule = RULE.validate_python(base | {"relative_to": "lock_up_kpa", "level": 0.1, "clear_level": 0.0})
    assert isinstance(rule, ThresholdRule) and rule.relative_to == "lock_up_kpa"


def test_a_composite_condition_with_an_unknown_operator_is_refused():
    message = refused({"kind": "composite", "id": "burst", "mode": "all",
                       "conditions": [{"channel": "outlet_kpa", "op": "=<", "value": 1.5}]})
    assert "conditions.0.op" in message and "'>', '>=', '<' or '<='" in message
    assert "at least 1 item" in refused({"kind": "composite", "id": "x", "mode": "any", "conditions": []})
    assert "mode" in refused({"kind": "composite", "id": "x", "mode": "most",
                              "conditions": [{"channel": "a", "op": ">", "value": 1}]})


def test_rate_state_baseline_and_night_creep_refuse_meaningless_values():
    rate = {"kind": "rate_of_change", "id": "fall", "channel": "outlet_kpa", "direction": "falling"}
    assert "greater than 0" in refused(rate | {"per_min": 0})
    assert "clear_per_min must not exceed per_min" in refused(rate | {"per_min": 10, "clear_per_min": 20})
    assert RateOfChangeRule(**rate, per_min=30).clear_rate == 15, "clears at half the rate by default"
    assert "is not a number" in refused({"kind": "state", "id": "s", "channel": "relief_open", "alarm_values": [1],
                                         "labels": {"open": "venting"}})
    assert "at least 1 item" in refused({"kind": "state", "id": "s", "channel": "relief_open", "alarm_values": []})
    assert "max_samples must not be below min_samples" in refused(
        {"kind": "baseline", "id": "b", "channel": "t", "min_deviation": 1, "min_samples": 500, "max_samples": 100})
    assert "greater than 0" in refused({"kind": "night_creep", "id": "n", "low_flow": 0, "rise": 0.1})
    assert "Extra inputs" in refused({"kind": "flatline", "id": "f", "channel": "c", "tolerance": 0, "for_s": 1,
                                      "tolerence": 1})


def test_labels_and_channels_of_the_multi_channel_kinds():
    state = StateRule(kind="state", id="slam", channel="slam_shut_closed", alarm_values=(1,),
                      labels={"1": "tripped", "0": "open"})
    assert (state.named(1.0), state.named(0.0), state.named(2.0)) == ("tripped", "open", None)
    composite = CompositeRule(kind="composite", id="c", mode="any",
                              conditions=[{"channel": "flow_nm3h", "op": ">", "value": 1}])
    assert composite.channel == "flow_nm3h"
    assert NightCreepRule(kind="night_creep", id="n", low_flow=1, rise=1).channel == "outlet_kpa"
    assert BaselineRule(kind="baseline", id="b", channel="t", min_deviation=0).sigma == 4.0
