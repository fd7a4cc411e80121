"""The named faults a station or a gateway can be given, their parameters and defaults."""

from __future__ import annotations

from collections.abc import Mapping

from sitewatch.simulators.common.faults import ActiveFault, FaultKind, checked_params, kind, kinds

__all__ = [
    "FAULT_KINDS",
    "GATEWAY_FAULT_KINDS",
    "ActiveFault",
    "FaultKind",
    "fault_params",
    "known_faults",
]

FAULT_KINDS: Mapping[str, FaultKind] = kinds(
    kind(
        "regulator_failure",
        "outlet climbs from set point to a plateau; relief opens above relief_kpa "
        "(slam-shut trips only if peak_kpa reaches slam_shut_kpa)",
        rate_kpa_s=0.5,  # a failed-open regulator: past lock-up within a second
        peak_kpa=3.2,
    ),
    kind(
        "night_creep",
        "during the low-flow night window the regulator fails to lock up: the outlet "
        "creeps up until the relief valve holds it at peak_kpa",
        rate_kpa_s=0.002,
        peak_kpa=3.1,
    ),
    kind(
        "pipe_burst",
        "downstream pipe broken: outlet collapses, flow spikes",
        outlet_kpa=0.5,
        flow_factor=5.0,
    ),
    kind("slam_shut_trip", "slam-shut valve closed: outlet decays to 0, flow 0"),
    kind("stuck_sensor", "outlet reading frozen at its value at injection time"),
    kind(
        "comm_loss",
        "the station's Modbus server is down (connection refused); behind a gateway, the "
        "station is silent (the gateway passes nothing back)",
    ),
    kind("modbus_exception", "every read answered with exception code 4"),
    kind("gas_leak", "gas concentration rises to a cap", rate_pct_s=1.0, cap_pct=60.0),
    kind("door_open", "station door open"),
    kind(
        "mains_loss",
        "mains power lost; battery drains",
        drain_v_per_h=0.5,
        min_v=10.5,
    ),
)

# A gateway has no model of its own: it is up or down.
GATEWAY_FAULT_KINDS: Mapping[str, FaultKind] = kinds(
    kind("comm_loss", "the gateway is down: its listener closed, its connections dropped"),
)


def known_faults() -> tuple[str, ...]:
    return tuple(FAULT_KINDS)


def fault_params(fault: str, params: Mapping[str, object]) -> Mapping[str, float]:
    """The fault's defaults overlaid with `params`, checked against its kind."""
    return checked_params(FAULT_KINDS, fault, params)
