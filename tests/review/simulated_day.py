"""A day of simulator data with known injected faults, written straight into a DuckDBStore.

Ten regulator stations on two sites (Asia/Shanghai), polled every 60 s from an hour before
the window of 2026-11-27 (2026-11-26 08:30 -> 2026-11-27 08:30 site time) to an hour after
it. Values come from sitewatch.simulators.regulator.model.reading_at, so they are exact and
deterministic; the raw arrays are kept for an independent numpy computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo import example_config
from sitewatch.domain.samples import Quality, Sample
from sitewatch.domain.time import UTC
from sitewatch.review.compute import FieldReading
from sitewatch.simulators.common.faults import ActiveFault
from sitewatch.simulators.regulator.faults import fault_params
from sitewatch.simulators.regulator.model import Reading, reading_at
from sitewatch.simulators.regulator.spec import StationSpec

DAY = date(2026, 11, 27)
SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW_START = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI).astimezone(UTC)
WINDOW_END = datetime(2026, 11, 27, 8, 30, tzinfo=SHANGHAI).astimezone(UTC)
INTERVAL_S = 60.0
BOOT = WINDOW_START - timedelta(days=3)
UNITS = {"inlet_mpa": "MPa", "outlet_kpa": "kPa", "flow_nm3h": "Nm3/h", "temperature_c": "degC",
         "filter_dp_kpa": "kPa", "gas_lel_pct": "%LEL", "slam_shut_closed": "state", "relief_open": "state",
         "door_open": "state", "mains_ok": "state", "battery_v": "V", "uptime_s": "s"}
LIMITS = {"outlet_kpa": {"high": 2.9, "high_clear": 2.7, "low": 1.8, "low_clear": 2.0},
          "gas_lel_pct": {"high": 20.0}}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def fault(name: str, at: datetime, **params: float) -> ActiveFault:
    return ActiveFault(name, at, fault_params(name, params))


# What each station lives through, and whether the day's log must call it abnormal.
FAULTS: dict[str, list[ActiveFault]] = {
    "rs-02": [fault("gas_leak", local(2026, 11, 26, 20, 0), rate_pct_s=0.01, cap_pct=30.0)],
    "rs-04": [fault("regulator_failure", local(2026, 11, 27, 2, 0), peak_kpa=3.2)],
    # after the window ends: tomorrow's problem, not today's
    "rs-05": [fault("gas_leak", local(2026, 11, 27, 8, 45), rate_pct_s=1.0, cap_pct=60.0)],
    # the transmitter froze in the evening; the regulator then crept up at night (under the
    # outlet limit): only the technician's U-tube reading at 04:00 shows it
    "rs-08": [fault("stuck_sensor", local(2026, 11, 26, 22, 0)),
              fault("night_creep", local(2026, 11, 26, 23, 0), peak_kpa=2.85)],
}
# Polls that failed (the collector stores COMM_ERROR with NaN): comm_loss for 2 h on rs-06
# (91.7 % complete), 14 min on rs-03 (99.0 %: still normal).
COMM_LOSS: dict[str, tuple[datetime, datetime]] = {
    "rs-06": (local(2026, 11, 26, 14, 0), local(2026, 11, 26, 16, 0)),
    "rs-03": (local(2026, 11, 26, 11, 0), local(2026, 11, 26, 11, 14)),
}
FIELD_AT = local(2026, 11, 27, 4, 0)
EXPECTED_ABNORMAL = {"rs-02", "rs-04", "rs-06", "rs-08"}


@dataclass
class SimulatedDay:
    config: Config
    specs: dict[str, StationSpec]
    # station -> channel -> (epoch seconds, values with NaN where the poll failed)
    raw: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    field_readings: dict[str, FieldReading] = field(default_factory=dict)


def station_ids() -> list[str]:
    return [f"rs-{i:02d}" for i in range(1, 11)]


def raw_config(data_dir: str) -> dict:
    raw = example_config()
    raw["storage"] = {"data_dir": data_dir}
    raw["sites"] = [
        {"id": "north", "customer": "citygas", "name": "North district", "time_zone": "Asia/Shanghai",
         "sla_zone": "ring2"},
        {"id": "south", "customer": "citygas", "name": "South district", "time_zone": "Asia/Shanghai",
         "sla_zone": "city"},
    ]
    raw["assets"] = [
        {"id": sid, "site": "north" if i <= 6 else "south", "kind": "regulator_station",
         "name": f"{'North' if i <= 6 else 'South'} {i:02d} regulator station", "poll_interval_s": INTERVAL_S,
         "modbus": {"host": "127.0.0.1", "port": 15020 + i, "profile": "regulator-v1"},
         "regulator": {"set_point_kpa": 2.5, "lock_up_kpa": 2.75, "relief_kpa": 3.0, "slam_shut_kpa": 3.5},
         "limits": LIMITS}
        for i, sid in enumerate(station_ids(), start=1)
    ]
    raw["maintenance_windows"] = []
    return raw


def build(store, data_dir: str) -> SimulatedDay:  # noqa: ANN001
    config = config_from_dict(raw_config(data_dir))
    day = SimulatedDay(config, {sid: StationSpec(station_id=sid, seed=100 + i) for i, sid in enumerate(station_ids())})
    first = WINDOW_START - timedelta(hours=1)
    polls = int((WINDOW_END - WINDOW_START + timedelta(hours=2)).total_seconds() // INTERVAL_S)
    stamps = [first + timedelta(seconds=INTERVAL_S * k) for k in range(polls)]
    epochs = np.array([t.timestamp() for t in stamps])
    for sid, spec in day.specs.items():
        faults = FAULTS.get(sid, [])
        lost = COMM_LOSS.get(sid)
        columns: dict[str, list[float]] = {c: [] for c in UNITS}
        samples = []
        for ts in stamps:
            failed = lost is not None and lost[0] <= ts < lost[1]
            reading = reading_at(spec, ts, boot_at=BOOT, faults=faults)
            for channel, unit in UNITS.items():
                value = math.nan if failed else float(getattr(reading, channel))
                columns[channel].append(value)
                samples.append(Sample(sid, channel, ts, value, unit, Quality.COMM_ERROR if failed else Quality.GOOD))
        store.write(samples)
        day.raw[sid] = {c: (epochs, np.array(v)) for c, v in columns.items()}
    # The round's field readings: rs-07's agree within a percent; rs-08's show the real outlet.
    healthy: Reading = reading_at(day.specs["rs-07"], FIELD_AT, boot_at=BOOT)
    day.field_readings["rs-07"] = FieldReading(FIELD_AT, {"outlet_kpa": healthy.outlet_kpa * 1.01,
                                                         "inlet_mpa": healthy.inlet_mpa * 0.99})
    real = reading_at(day.specs["rs-08"], FIELD_AT, boot_at=BOOT,
                      faults=[f for f in FAULTS["rs-08"] if f.name != "stuck_sensor"])
    day.field_readings["rs-08"] = FieldReading(FIELD_AT, {"outlet_kpa": real.outlet_kpa})
    return day
