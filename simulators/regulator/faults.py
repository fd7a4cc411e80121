"""The named faults a station can be given, their parameters and defaults."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from simulators.regulator.errors import InvalidFaultParams, UnknownFault


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    description: str
    defaults: Mapping[str, float] = field(default_factory=dict)


def _kind(name: str, description: str, **defaults: float) -> FaultKind:
    return FaultKind(name, description, MappingProxyType(defaults))


FAULT_KINDS: Mapping[str, FaultKind] = MappingProxyType(
    {
        k.name: k
        for k in (
            _kind(
                "regulator_failure",
                "outlet climbs from set point to a plateau; relief opens above relief_kpa "
                "(slam-shut trips only if peak_kpa reaches slam_shut_kpa)",
                rate_kpa_s=0.5,  # a failed-open regulator: past lock-up within a second
                peak_kpa=3.2,
            ),
            _kind(
                "night_creep",
                "during the low-flow night window the regulator fails to lock up: the outlet "
                "creeps up until the relief valve holds it at peak_kpa",
                rate_kpa_s=0.002,
                peak_kpa=3.1,
            ),
            _kind(
                "pipe_burst",
                "downstream pipe broken: outlet collapses, flow spikes",
                outlet_kpa=0.5,
                flow_factor=5.0,
            ),
            _kind("slam_shut_trip", "slam-shut valve closed: outlet decays to 0, flow 0"),
            _kind("stuck_sensor", "outlet reading frozen at its value at injection time"),
            _kind("comm_loss", "the station's Modbus server is down (connection refused)"),
            _kind("modbus_exception", "every read answered with exception code 4"),
            _kind("gas_leak", "gas concentration rises to a cap", rate_pct_s=1.0, cap_pct=60.0),
            _kind("door_open", "station door open"),
            _kind(
                "mains_loss",
                "mains power lost; battery drains",
                drain_v_per_h=0.5,
                min_v=10.5,
            ),
        )
    }
)


def known_faults() -> tuple[str, ...]:
    return tuple(FAULT_KINDS)


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in force since `started_at`, with every parameter filled in."""

    name: str
    started_at: datetime  # UTC, timezone-aware
    params: Mapping[str, float]


def fault_params(fault: str, params: Mapping[str, object]) -> Mapping[str, float]:
    """The fault's defaults overlaid with `params`; names known, values finite and > 0."""
    kind = FAULT_KINDS.get(fault)
    if kind is None:
        raise UnknownFault(fault, known=known_faults())
    accepted = tuple(kind.defaults)
    merged = dict(kind.defaults)
    for key, value in params.items():
        if key not in kind.defaults:
            raise InvalidFaultParams(fault, f"unknown param {key!r}", known=accepted)
        # bool is an int subclass; a True rate is a mistake, not 1.0.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidFaultParams(
                fault, f"{key} must be a number, got {value!r}", known=accepted
            )
        if not math.isfinite(value) or value <= 0:
            raise InvalidFaultParams(
                fault, f"{key} must be finite and > 0, got {value}", known=accepted
            )
        merged[key] = float(value)
    return MappingProxyType(merged)
