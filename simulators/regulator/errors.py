"""Typed errors of the regulator-station simulator; the control API maps them onto HTTP codes."""

from __future__ import annotations

from sitewatch.simulators.common.errors import (
    FleetNotRunning,
    InvalidFaultParams,
    PortUnavailable,
    SimulatorError,
    UnknownDevice,
    UnknownFault,
)

__all__ = [
    "DeviceFailure",
    "FleetNotRunning",
    "InvalidFaultParams",
    "PortUnavailable",
    "SimulatorError",
    "UnknownFault",
    "UnknownGateway",
    "UnknownStation",
]


class UnknownStation(UnknownDevice):
    noun = "station"


class UnknownGateway(UnknownDevice):
    noun = "gateway"


class DeviceFailure(SimulatorError):
    """Raised by a station's register source to make the server answer exception code 4."""
