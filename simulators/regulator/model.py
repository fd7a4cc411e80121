"""Physical model of one regulator station: pure, deterministic in (spec, time, faults).

No state and no I/O: every value is a function of the station's spec (seed included),
the UTC time asked for, the station's boot time and the faults in force. Noise is
value noise hashed from (seed, channel, time step), so the order or number of calls
never changes a value.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sitewatch.domain.time import UTC, require_utc, to_local
from sitewatch.simulators.regulator.faults import ActiveFault
from sitewatch.simulators.regulator.spec import StationSpec

# The low-flow night window (local time) in which night_creep builds up; the demand
# profile below is under a quarter of peak throughout it.
NIGHT_START_H = 23.0
NIGHT_END_H = 5.0
OUTLET_NOISE_KPA = 0.02
DROOP_KPA = 0.04  # outlet sag at peak demand: a spring-loaded regulator's proportional band
BURST_TAU_S = 1.0  # outlet collapse after a pipe burst
SLAM_SHUT_TAU_S = 2.0  # outlet bleed-down once the slam-shut has closed: ~0 after 10 s
BATTERY_FLOAT_V = 13.6  # a 12 V lead-acid battery on float charge


@dataclass(frozen=True, slots=True)
class Reading:
    """What the station's RTU reports, in engineering units (before register scaling)."""

    inlet_mpa: float
    outlet_kpa: float
    flow_nm3h: float
    temperature_c: float
    filter_dp_kpa: float
    gas_lel_pct: float
    slam_shut_closed: int
    relief_open: int
    door_open: int
    mains_ok: int
    battery_v: float
    uptime_s: int


@dataclass(frozen=True, slots=True)
class _Hydraulics:
    outlet_kpa: float  # the real pressure, whatever the sensor says
    flow_nm3h: float
    slam_shut_closed: bool


def reading_at(
    spec: StationSpec,
    at: datetime,
    *,
    boot_at: datetime,
    faults: Iterable[ActiveFault] = (),
) -> Reading:
    """The station's values at `at`. Faults that start after `at` have no effect yet."""
    ts = require_utc(at).timestamp()
    active = _started_by(faults, ts)
    hyd = _hydraulics(spec, ts, active)
    reported_outlet = hyd.outlet_kpa
    if stuck := active.get("stuck_sensor"):
        # The transmitter froze: it repeats the pressure of the moment it stuck, while the
        # real pressure (and so the relief valve) goes on moving.
        reported_outlet = _hydraulics(spec, stuck.started_at.timestamp(), active).outlet_kpa

    seed = spec.seed
    local = to_local(at, spec.time_zone)
    hour = _local_hour(local)
    flow_ratio = hyd.flow_nm3h / spec.nominal_flow_nm3h

    inlet_mpa = spec.inlet_mpa * (
        1.0
        + 0.05 * _smooth(seed, "inlet_drift", ts, 3 * 3600.0)  # the city network, over hours
        + 0.015 * _smooth(seed, "inlet_wander", ts, 600.0)
        + 0.002 * _smooth(seed, "inlet", ts, 1.0)
        - 0.02 * min(flow_ratio, 1.0)  # upstream line loss at high draw
    )
    season = -10.0 * math.cos(2 * math.pi * (local.timetuple().tm_yday - 20) / 365.25)
    temperature_c = (
        12.0
        + season
        + 4.0 * math.cos(2 * math.pi * (hour - 15.0) / 24.0)  # warmest mid-afternoon
        + 0.2 * _smooth(seed, "temperature", ts, 60.0)
    )
    # Filter pressure drop grows with the square of flow; fouling wanders over days.
    fouling = 1.0 + 0.15 * _smooth(seed, "fouling", ts, 2 * 86400.0)
    filter_dp_kpa = max(
        0.0, 0.3 + 12.0 * fouling * flow_ratio**2 + 0.05 * _smooth(seed, "filter_dp", ts, 1.0)
    )

    gas_lel_pct = 0.15 * abs(_smooth(seed, "gas", ts, 1.0))  # sensor baseline, never negative
    if leak := active.get("gas_leak"):
        gas_lel_pct += min(leak.params["cap_pct"], leak.params["rate_pct_s"] * _elapsed(leak, ts))

    mains_ok = 1
    battery_v = BATTERY_FLOAT_V + 0.03 * _smooth(seed, "battery", ts, 30.0)
    if mains := active.get("mains_loss"):
        mains_ok = 0
        drained = mains.params["drain_v_per_h"] * _elapsed(mains, ts) / 3600.0
        battery_v = max(mains.params["min_v"], battery_v - drained)

    return Reading(
        inlet_mpa=inlet_mpa,
        outlet_kpa=reported_outlet,
        flow_nm3h=hyd.flow_nm3h,
        temperature_c=temperature_c,
        filter_dp_kpa=filter_dp_kpa,
        gas_lel_pct=gas_lel_pct,
        slam_shut_closed=int(hyd.slam_shut_closed),
        relief_open=int(hyd.outlet_kpa > spec.relief_kpa),
        door_open=int("door_open" in active),
        mains_ok=mains_ok,
        battery_v=battery_v,
        uptime_s=max(0, math.floor(ts - require_utc(boot_at).timestamp())),
    )


def _hydraulics(spec: StationSpec, ts: float, faults: Mapping[str, ActiveFault]) -> _Hydraulics:
    """Outlet pressure and flow at `ts`, with the pressure faults applied in physical order."""
    active = _started_by(faults.values(), ts)
    seed = spec.seed
    hour = _local_hour(to_local(datetime.fromtimestamp(ts, tz=UTC), spec.time_zone))
    demand = _demand(hour)
    controlled = spec.set_point_kpa - DROOP_KPA * demand
    noise = OUTLET_NOISE_KPA * _smooth(seed, "outlet", ts, 1.0)
    flow = spec.nominal_flow_nm3h * demand * (1.0 + 0.03 * _smooth(seed, "flow", ts, 5.0))
    trip_ts: float | None = None

    # Both climbs start from the controlled pressure and level off where the relief valve
    # vents as much as the failed regulator passes (peak_kpa).
    if creep := active.get("night_creep"):
        rise = creep.params["rate_kpa_s"] * _night_creep_s(creep, ts, hour)
        controlled = min(creep.params["peak_kpa"], controlled + rise)
    if failure := active.get("regulator_failure"):
        rate, peak = failure.params["rate_kpa_s"], failure.params["peak_kpa"]
        controlled = min(peak, controlled + rate * _elapsed(failure, ts))
        if peak >= spec.slam_shut_kpa:
            # The slam-shut senses the outlet and trips when the climb reaches its setting.
            trip_ts = (
                failure.started_at.timestamp() + (spec.slam_shut_kpa - spec.set_point_kpa) / rate
            )
    outlet = controlled + noise

    if burst := active.get("pipe_burst"):
        settle = math.exp(-_elapsed(burst, ts) / BURST_TAU_S)
        floor_kpa, factor = burst.params["outlet_kpa"], burst.params["flow_factor"]
        outlet = floor_kpa + (outlet - floor_kpa) * settle
        flow *= factor + (1.0 - factor) * settle

    if trip := active.get("slam_shut_trip"):
        started = trip.started_at.timestamp()
        trip_ts = started if trip_ts is None else min(trip_ts, started)
    if trip_ts is not None and ts >= trip_ts:
        return _Hydraulics(outlet * math.exp(-(ts - trip_ts) / SLAM_SHUT_TAU_S), 0.0, True)
    return _Hydraulics(outlet, flow, False)


def _night_creep_s(fault: ActiveFault, ts: float, hour: float) -> float:
    """Seconds of creep so far: time in tonight's low-flow window since the fault began."""
    in_window = hour >= NIGHT_START_H or hour < NIGHT_END_H
    if not in_window:
        return 0.0  # demand is up: the regulator is open and controls again
    window_start = ts - ((hour - NIGHT_START_H) % 24.0) * 3600.0
    return max(0.0, ts - max(window_start, fault.started_at.timestamp()))


def _demand(hour: float) -> float:
    """Share of peak flow at a local hour: night trough ~03:00, peaks ~07:30 and ~18:30."""

    def bump(centre_h: float, width_h: float) -> float:
        distance = abs(hour - centre_h)
        distance = min(distance, 24.0 - distance)
        return math.exp(-0.5 * (distance / width_h) ** 2)

    return 0.12 + 0.85 * bump(7.5, 1.25) + 0.35 * bump(12.0, 1.5) + 0.8 * bump(18.5, 2.0)


def _started_by(faults: Iterable[ActiveFault], ts: float) -> dict[str, ActiveFault]:
    return {f.name: f for f in faults if f.started_at.timestamp() <= ts}


def _elapsed(fault: ActiveFault, ts: float) -> float:
    return max(0.0, ts - fault.started_at.timestamp())


def _local_hour(local: datetime) -> float:
    return local.hour + local.minute / 60.0 + (local.second + local.microsecond / 1e6) / 3600.0


def _hash_unit(seed: int, channel: str, step: int) -> float:
    """A uniform value in [-1, 1] fixed by (seed, channel, step)."""
    digest = hashlib.blake2b(f"{seed}|{channel}|{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


def _smooth(seed: int, channel: str, ts: float, period_s: float) -> float:
    """Value noise in [-1, 1]: hashed knots every `period_s`, smoothstep between them."""
    x = ts / period_s
    step = math.floor(x)
    frac = x - step
    weight = frac * frac * (3.0 - 2.0 * frac)
    a = _hash_unit(seed, channel, step)
    return a + (_hash_unit(seed, channel, step + 1) - a) * weight
