"""Exact simulator values over simulated time, for judging rules against the real signal shape.

No sockets: the regulator model is a pure function of (spec, time, faults), so a test can
walk hours of a station's life in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sitewatch.domain.samples import Sample
from sitewatch.rules.engine import AssetChannels
from sitewatch.simulators.regulator.faults import ActiveFault, fault_params
from sitewatch.simulators.regulator.model import reading_at
from sitewatch.simulators.regulator.spec import StationSpec

UNITS = {
    "inlet_mpa": "MPa", "outlet_kpa": "kPa", "flow_nm3h": "Nm3/h", "temperature_c": "degC",
    "filter_dp_kpa": "kPa", "gas_lel_pct": "%LEL", "slam_shut_closed": "state", "relief_open": "state",
    "door_open": "state", "mains_ok": "state", "battery_v": "V",
}
SETTINGS = {"set_point_kpa": 2.5, "lock_up_kpa": 2.75, "relief_kpa": 3.0, "slam_shut_kpa": 3.5}


def spec(station_id: str = "rs-001", seed: int = 7) -> StationSpec:
    return StationSpec(station_id=station_id, seed=seed)


def asset(station: StationSpec, *, settings: bool = True) -> AssetChannels:
    return AssetChannels(station.station_id, "regulator_station", UNITS, settings=SETTINGS if settings else {},
                         time_zone=station.time_zone)


def fault(name: str, at: datetime, **params: float) -> ActiveFault:
    return ActiveFault(name, at, fault_params(name, params))


def samples(station: StationSpec, start: datetime, seconds: float, *, every_s: float = 1.0,
            faults: Sequence[ActiveFault] = (), channels: Sequence[str] = tuple(UNITS)) -> list[Sample]:
    """Every channel of the station at each poll from ``start`` for ``seconds``."""
    out = []
    for i in range(int(seconds / every_s) + 1):
        at = start + timedelta(seconds=i * every_s)
        reading = reading_at(station, at, boot_at=start - timedelta(days=1), faults=faults)
        out += [Sample(station.station_id, c, at, float(getattr(reading, c)), UNITS[c]) for c in channels]
    return out
