from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from sitewatch.domain.time import UTC
from sitewatch.simulators.regulator.errors import InvalidFaultParams, UnknownFault
from sitewatch.simulators.regulator.faults import ActiveFault, fault_params, known_faults
from sitewatch.simulators.regulator.model import Reading, reading_at
from sitewatch.simulators.regulator.spec import FleetConfig, StationSpec, make_station_specs

from .conftest import T0

SPEC = StationSpec(station_id="rs-001", seed=42)
BOOT = T0 - timedelta(days=3)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fault(name: str, start_s: float = 0.0, **params: float) -> ActiveFault:
    return ActiveFault(name, at(start_s), fault_params(name, params))


def read(t: datetime, *faults: ActiveFault, spec: StationSpec = SPEC) -> Reading:
    return reading_at(spec, t, boot_at=BOOT, faults=faults)


def local(hour: float, *, day: int = 0) -> datetime:
    """A UTC time that is `hour` o'clock in Asia/Shanghai (UTC+8) on 2026-03-10 + day."""
    return datetime(2026, 3, 10, tzinfo=UTC) + timedelta(days=day, hours=hour - 8)


def test_same_seed_and_time_give_identical_values_regardless_of_call_order():
    times = [at(s) for s in (0.0, 0.5, 3600.25, 86400.0)]
    forward = [read(t) for t in times]
    backward = [read(t, spec=StationSpec(station_id="other-id", seed=42)) for t in reversed(times)]
    assert forward == list(reversed(backward)), "values must depend on seed and time only"


def test_different_seeds_give_different_values():
    a = read(T0, spec=StationSpec(station_id="a", seed=1))
    b = read(T0, spec=StationSpec(station_id="b", seed=2))
    assert (
        a.outlet_kpa != b.outlet_kpa and a.inlet_mpa != b.inlet_mpa and a.flow_nm3h != b.flow_nm3h
    )


def test_a_day_of_normal_values_is_plausible():
    day = [read(local(0) + timedelta(minutes=5 * i)) for i in range(24 * 12)]
    for r in day:
        assert 0.25 < r.inlet_mpa < 0.35, r
        assert 2.4 < r.outlet_kpa < SPEC.lock_up_kpa, f"outlet {r.outlet_kpa} not held at set point"
        assert r.flow_nm3h > 0 and -20 < r.temperature_c < 40 and 0 <= r.filter_dp_kpa < 30, r
        assert 0 <= r.gas_lel_pct < 0.5, r
        assert (r.slam_shut_closed, r.relief_open, r.door_open, r.mains_ok) == (0, 0, 0, 1), r
        assert 13.3 < r.battery_v < 13.9, r
    temps = [r.temperature_c for r in day]
    assert max(temps) - min(temps) > 3, "temperature should cycle daily"


def test_flow_is_low_at_night_and_peaks_morning_and_evening():
    def mean_flow(start_h: float, end_h: float) -> float:
        values = [
            read(local(start_h) + timedelta(minutes=m)).flow_nm3h
            for m in range(0, int((end_h - start_h) * 60), 5)
        ]
        return sum(values) / len(values)

    night, morning, evening = mean_flow(2.5, 3.5), mean_flow(7, 8), mean_flow(18, 19)
    assert morning > 3 * night and evening > 3 * night, (night, morning, evening)


def test_outlet_droops_slightly_at_peak_demand():
    night = [read(local(3) + timedelta(seconds=s)).outlet_kpa for s in range(0, 600, 7)]
    peak = [read(local(7.5) + timedelta(seconds=s)).outlet_kpa for s in range(0, 600, 7)]
    droop = sum(night) / len(night) - sum(peak) / len(peak)
    assert 0.01 < droop < 0.06, f"droop {droop:.3f} kPa"


def test_uptime_counts_seconds_since_boot():
    assert read(at(10.7)).uptime_s == 3 * 86400 + 10


def test_regulator_failure_climbs_past_relief_and_stays_below_slam_shut():
    failure = fault("regulator_failure")
    rate = failure.params["rate_kpa_s"]
    assert read(at(0), failure) == read(at(0)), "no effect at the injection instant"
    assert read(at(0.4 / rate + 2), failure).outlet_kpa > 2.9
    later = [read(at(s), failure) for s in range(0, 1800, 5)]
    assert max(r.outlet_kpa for r in later) < SPEC.slam_shut_kpa
    assert all(r.slam_shut_closed == 0 for r in later)
    plateau = read(at(600), failure)
    assert plateau.outlet_kpa == pytest.approx(3.2, abs=0.03) and plateau.relief_open == 1


def test_regulator_failure_past_slam_shut_setting_trips_it():
    failure = fault("regulator_failure", peak_kpa=4.0)
    tripped = read(at(40), failure)
    assert tripped.slam_shut_closed == 1 and tripped.flow_nm3h == 0.0
    assert tripped.outlet_kpa < 0.1, "outlet should bleed down after the trip"


def test_night_creep_rises_only_in_the_low_flow_night():
    creep = ActiveFault("night_creep", local(23.5), fault_params("night_creep", {}))
    normal = read(local(23.5) + timedelta(minutes=5))
    crept = read(local(23.5) + timedelta(minutes=5), creep)
    assert crept.outlet_kpa - normal.outlet_kpa == pytest.approx(0.002 * 300, abs=0.05)
    capped = read(local(2, day=1), creep)
    assert capped.outlet_kpa == pytest.approx(3.1, abs=0.03) and capped.relief_open == 1
    morning = local(10, day=1)
    assert read(morning, creep) == read(morning), "daytime demand restores control"


def test_pipe_burst_collapses_outlet_and_spikes_flow():
    burst = fault("pipe_burst")
    r, normal = read(at(5), burst), read(at(5))
    assert r.outlet_kpa < 0.55
    assert r.flow_nm3h > 4.5 * normal.flow_nm3h


def test_slam_shut_trip_closes_and_outlet_decays():
    trip = fault("slam_shut_trip")
    r = read(at(10), trip)
    assert r.slam_shut_closed == 1 and r.flow_nm3h == 0.0
    assert r.outlet_kpa < 0.05


def test_stuck_sensor_repeats_the_injection_value_while_the_real_pressure_moves():
    stuck = fault("stuck_sensor", 0)
    failure = fault("regulator_failure", 30)
    frozen_value = read(at(0)).outlet_kpa
    unstuck = {read(at(s)).outlet_kpa for s in range(0, 120, 3)}
    assert len(unstuck) > 1, "the test needs a moving outlet to mean anything"
    readings = [read(at(s), stuck, failure) for s in range(0, 120, 3)]
    assert {r.outlet_kpa for r in readings} == {frozen_value}
    assert readings[-1].relief_open == 1, "the relief valve still sees the real pressure"


def test_gas_leak_rises_to_its_cap():
    leak = fault("gas_leak")
    assert read(at(10), leak).gas_lel_pct == pytest.approx(10, abs=0.2)
    assert read(at(600), leak).gas_lel_pct == pytest.approx(60, abs=0.2)


def test_door_and_mains_faults():
    door, mains = fault("door_open"), fault("mains_loss")
    assert read(at(1), door).door_open == 1
    two_hours = read(at(7200), mains)
    assert two_hours.mains_ok == 0
    assert two_hours.battery_v == pytest.approx(13.6 - 1.0, abs=0.05)
    assert read(at(3 * 86400), mains).battery_v == 10.5


def test_a_fault_has_no_effect_before_its_start():
    assert read(at(5), fault("pipe_burst", start_s=60)) == read(at(5))


def test_comm_and_exception_faults_do_not_change_the_physics():
    assert read(at(5), fault("comm_loss"), fault("modbus_exception")) == read(at(5))


def test_fault_params_are_checked():
    assert fault_params("gas_leak", {"cap_pct": 30})["cap_pct"] == 30.0
    with pytest.raises(UnknownFault, match="known faults: regulator_failure"):
        fault_params("flood", {})
    assert isinstance(UnknownFault("x", known=known_faults()), ValueError)
    for bad in (
        {"nope": 1.0},
        {"rate_pct_s": True},
        {"rate_pct_s": -1.0},
        {"rate_pct_s": math.nan},
    ):
        with pytest.raises(InvalidFaultParams):
            fault_params("gas_leak", bad)


def test_station_pressures_must_be_ordered():
    with pytest.raises(ValueError, match="pressures must rise"):
        StationSpec(station_id="x", lock_up_kpa=3.2, relief_kpa=3.0)


def test_station_specs_helper():
    specs = make_station_specs(3, base_port=15020, seed=7)
    assert [(s.station_id, s.port, s.seed) for s in specs] == [
        ("rs-001", 15020, 7),
        ("rs-002", 15021, 8),
        ("rs-003", 15022, 9),
    ]
    with pytest.raises(ValueError, match="unique"):
        FleetConfig(stations=specs + specs[:1])
