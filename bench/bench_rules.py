"""Samples/s through the rules engine vs a plain per-sample Python loop on the same data.

    python -m bench.bench_rules [--assets 1000] [--rounds 100]

10 channels per asset (10,000 channels by default), 50 threshold rules with hysteresis and
durations (5 per channel name), one sample per channel per round, one batch per round —
the shape of a real poll cycle. Both sides see identical data and must agree.

A second line runs a mix of the other kinds on the same data: per channel name a rate of
change, a flatline, a baseline and a threshold with a critical stage, plus five composite
and five night-creep rules over pairs of channels (50 rules).
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

import numpy as np

from sitewatch.domain.time import UTC
from sitewatch.rules.engine import AssetChannels, RulesEngine, SampleBatch
from sitewatch.rules.models import (
    BaselineRule,
    CompositeRule,
    FlatlineRule,
    NightCreepRule,
    RateOfChangeRule,
    Rule,
    ThresholdRule,
)
from sitewatch.rules.reference import threshold_transitions

CHANNELS = [f"ch{i}_kpa" for i in range(10)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_rules() -> list[ThresholdRule]:
    rules = []
    for c, channel in enumerate(CHANNELS):
        for k in range(5):
            above = k % 2 == 0
            level = 2.5 + (0.15 + 0.05 * k) * (1 if above else -1)
            clear = level - 0.05 if above else level + 0.05
            rules.append(ThresholdRule(kind="threshold", id=f"r{c}-{k}", channel=channel,
                                       direction="above" if above else "below",
                                       level=level, clear_level=clear, for_s=10.0 * (k % 3)))
    return rules


def make_mixed_rules() -> list[Rule]:
    rules: list[Rule] = []
    for c, channel in enumerate(CHANNELS):
        rules += [
            RateOfChangeRule(kind="rate_of_change", id=f"rate{c}", channel=channel, direction="falling",
                             per_min=3.0, window_s=10.0),
            FlatlineRule(kind="flatline", id=f"flat{c}", channel=channel, tolerance=0.001, for_s=60.0),
            BaselineRule(kind="baseline", id=f"base{c}", channel=channel, min_deviation=0.3, min_samples=20),
            ThresholdRule(kind="threshold", id=f"crit{c}", channel=channel, direction="above", level=2.7,
                          clear_level=2.6, critical_level=2.9, severity="warning"),
        ]
    for c in range(0, len(CHANNELS), 2):
        low, high = CHANNELS[c], CHANNELS[c + 1]
        rules.append(CompositeRule(kind="composite", id=f"comp{c}", mode="all", for_s=10.0, conditions=[
            {"channel": low, "op": "<", "value": 2.2}, {"channel": high, "op": ">", "value": 2.2}]))
        rules.append(NightCreepRule(kind="night_creep", id=f"creep{c}", outlet_channel=low, flow_channel=high,
                                    low_flow=2.6, rise=0.3, for_s=10.0))
    return rules


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--naive-rounds", type=int, default=10, help="rounds for the slow loop")
    args = parser.parse_args(argv)

    rules = make_rules()
    assets = [AssetChannels(f"a{i}", "regulator_station", {c: "kPa" for c in CHANNELS}) for i in range(args.assets)]
    n_series = args.assets * len(CHANNELS)
    rng = np.random.default_rng(1)
    base = T0.timestamp()
    # Mostly normal stations (set point 2.5 kPa with noise); 2 % of channels have a fault
    # excursion of +-0.5 kPa for a stretch of rounds, so rules fire and clear now and then.
    faulty = rng.random(n_series) < 0.02
    offset = np.where(rng.random(n_series) < 0.5, 0.5, -0.5)
    start = rng.integers(0, args.rounds, n_series)
    rounds = []
    for r in range(args.rounds):
        t = base + 5.0 * r
        in_fault = faulty & (r >= start) & (r < start + 20)
        value = 2.5 + rng.normal(0, 0.05, n_series) + np.where(in_fault, offset, 0.0)
        rounds.append(SampleBatch(np.arange(n_series, dtype=np.int64), np.full(n_series, t), value))

    def timed(rule_set) -> tuple[float, int]:  # noqa: ANN001
        """Seconds to push every round through a fresh engine, and the transitions it made."""
        engine = RulesEngine(rules=rule_set, assets=assets, started_at=T0)
        started = time.perf_counter()
        made = sum(len(engine.evaluate(b, now=datetime.fromtimestamp(b.ts[0], UTC))) for b in rounds)
        return time.perf_counter() - started, made

    engine_s, transitions = timed(rules)
    engine_rate = n_series * args.rounds / engine_s

    # The plain loop: every sample through every rule of its channel, one at a time.
    naive_rounds = rounds[: args.naive_rounds]
    series_names = [(a.asset_id, c) for a in assets for c in CHANNELS]
    started = time.perf_counter()
    naive_transitions = 0
    for rule in rules:
        stream = (
            (series_names[i], float(b.ts[i]), float(b.value[i]))
            for b in naive_rounds for i in range(n_series)
            if series_names[i][1] == rule.channel
        )
        naive_transitions += len(threshold_transitions(stream, direction=rule.direction, level=rule.level,
                                                       clear_level=rule.clear_level, for_s=rule.for_s))
    naive_s = time.perf_counter() - started
    naive_rate = n_series * len(naive_rounds) / naive_s

    mixed_s, mixed_transitions = timed(make_mixed_rules())
    mixed_rate = n_series * args.rounds / mixed_s

    check = RulesEngine(rules=rules, assets=assets, started_at=T0)
    check_transitions = sum(len(check.evaluate(b, now=T0)) for b in naive_rounds)
    assert check_transitions == naive_transitions, (check_transitions, naive_transitions)

    print(f"rules: {len(rules)} threshold rules, {n_series} channels, {args.rounds} rounds, {transitions} transitions")
    print(f"engine (numpy, batched): {engine_rate:12,.0f} samples/s  ({engine_s:.2f} s)")
    print(f"naive per-sample loop:   {naive_rate:12,.0f} samples/s  ({args.naive_rounds} rounds, {naive_s:.2f} s)")
    print(f"ratio engine/naive:      {engine_rate / naive_rate:12.1f}x")
    print(f"mixed kinds (50 rules: rate, flatline, baseline, critical stage, composite, night creep): "
          f"{mixed_rate:,.0f} samples/s ({mixed_s:.2f} s, {mixed_transitions} transitions)")


if __name__ == "__main__":
    main()
