"""Typed errors of the camera simulator; the control API maps them onto HTTP codes."""

from __future__ import annotations

from sitewatch.simulators.common.errors import (
    FleetNotRunning,
    InvalidFaultParams,
    PortUnavailable,
    SimulatorError,
    UnknownDevice,
    UnknownFault,
)

__all__ = ["FleetNotRunning", "InvalidFaultParams", "PortUnavailable", "SimulatorError", "UnknownCamera", "UnknownFault"]


class UnknownCamera(UnknownDevice):
    noun = "camera"
