"""The shipped example rules against simulated stations: quiet when healthy, and what each
simulated fault raises. The assets come from sitewatch.components' builder, as in service."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sitewatch.components import asset_channels
from sitewatch.config.load import load_config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.time import UTC
from sitewatch.rules.engine import RulesEngine
from tests.rules import simulated

EXAMPLE = Path(__file__).parents[2] / "config" / "sitewatch.example.toml"
NIGHT = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)  # 02:00 at the example's site (Asia/Shanghai)
DAY = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # 14:00 there


@pytest.fixture(scope="module")
def example():
    config = load_config(EXAMPLE)
    station = next(a for a in asset_channels(config) if a.asset_id == "rs-north-01")
    return config.rules, station


def test_the_runtime_builder_gives_the_engine_regulator_settings_and_the_site_zone(example):
    _, station = example
    assert dict(station.settings) == {"set_point_kpa": 2.5, "lock_up_kpa": 2.75, "relief_kpa": 3.0,
                                      "slam_shut_kpa": 3.5}
    assert station.time_zone == "Asia/Shanghai"
    host = next(a for a in asset_channels(load_config(EXAMPLE)) if a.asset_id == "ah-north-01")
    assert dict(host.settings) == {}, "an alarm host has no regulator"


def run(example, start: datetime, seconds: float, *, every_s: float, faults=(), polls_per_batch: int = 5, seed: int = 3):
    rules, station = example
    spec = simulated.spec("rs-north-01", seed=seed)
    engine = RulesEngine(rules=rules, assets=[station], started_at=start)
    samples = simulated.samples(spec, start, seconds, every_s=every_s, faults=faults)
    step = len(simulated.UNITS) * polls_per_batch
    out = []
    for i in range(0, len(samples), step):
        chunk = samples[i:i + step]
        out += engine.evaluate(engine.batch(chunk), now=chunk[-1].ts)
    return out


@pytest.mark.parametrize(("start", "seconds", "every_s", "seed"), [
    (DAY - timedelta(hours=14), 86400, 15.0, 3),  # a whole local day, demand peaks and the night trough
    (NIGHT, 3600, 1.0, 4),  # the night at a fast poll: rates and flatness at their noisiest
    (DAY + timedelta(hours=1), 1800, 0.5, 5),  # the evening ramp at a very fast poll
])
def test_a_healthy_station_raises_nothing(example, start, seconds, every_s, seed):
    assert run(example, start, seconds, every_s=every_s, seed=seed) == []


FAULT_AT_S = 30.5


@pytest.mark.parametrize(("start", "fault", "expected"), [
    # the simulated outlet at the burst's floor (or behind a closed slam-shut) has no noise
    # left, so after two minutes it is also taken for a stuck transmitter
    (NIGHT, "pipe_burst", ["pressure-falling-fast", "downstream-burst", "outlet-low", "outlet-stuck"]),
    (DAY, "pipe_burst", ["pressure-falling-fast", "downstream-burst", "outlet-low", "outlet-stuck"]),
    (NIGHT, "night_creep", ["night-creep", "over-lock-up-at-low-flow"]),  # outlet-high follows at ~3.6 min
    (DAY, "night_creep", []),  # the regulator creeps only at night's low flow
    (DAY, "stuck_sensor", ["outlet-stuck"]),
    (DAY, "gas_leak", ["gas", "gas"]),  # warning, then the stage-up to critical
    (DAY, "slam_shut_trip", ["slam-shut-tripped", "pressure-falling-fast", "outlet-low", "outlet-stuck"]),
    (DAY, "regulator_failure", ["outlet-high", "relief-venting"]),
    # its climb is no creep: night-creep restarts while outlet-high and relief-venting are up
    (NIGHT, "regulator_failure", ["outlet-high", "relief-venting", "over-lock-up-at-low-flow"]),
    (DAY, "door_open", ["door-open"]),
])
def test_each_simulated_fault_raises_its_alerts(example, start, fault, expected):
    out = run(example, start, 240, every_s=1.0,
              faults=[simulated.fault(fault, start + timedelta(seconds=FAULT_AT_S))])
    fired = [t.rule_id for t in out if t.state is AlertState.FIRING]
    assert sorted(fired) == sorted(expected)
    assert all(t.at - start > timedelta(seconds=FAULT_AT_S) for t in out), "nothing before the fault"


@pytest.mark.parametrize(("every_s", "within_s"), [(0.25, 1.0), (1.0, 2.0), (5.0, 6.0)])
@pytest.mark.parametrize("phase_s", [0.1, 0.4, 0.7, 2.3, 4.6])
def test_a_pipe_burst_is_seen_by_its_rate_at_any_poll_interval(example, every_s, within_s, phase_s):
    burst_at = NIGHT + timedelta(seconds=30 + phase_s)
    out = run(example, NIGHT, 45, every_s=every_s, faults=[simulated.fault("pipe_burst", burst_at)], polls_per_batch=1)
    first = out[0]
    assert first.rule_id == "pressure-falling-fast" and first.at - burst_at <= timedelta(seconds=within_s)
    assert first.summary.startswith("rs-north-01: outlet_kpa falling ") and "(limit 12 kPa/min)" in first.summary
