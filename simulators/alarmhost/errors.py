"""What the simulator refuses, as types the control API maps onto HTTP statuses."""

from __future__ import annotations

from sitewatch.simulators.common.errors import SimulatorError

__all__ = ["BrokerUnreachable", "HostOffline", "InvalidAction", "SimulatorError", "UnknownHost"]


class UnknownHost(SimulatorError):
    def __init__(self, host_id: str, *, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown host {host_id!r}; known: {', '.join(known)}")
        self.known = known


class InvalidAction(SimulatorError):
    """An unknown action, or a zone missing, out of range or not expected."""


class HostOffline(SimulatorError):
    def __init__(self, host_id: str) -> None:
        super().__init__(f"host {host_id!r} is offline: bring it back with the 'online' action first")


class BrokerUnreachable(SimulatorError):
    """The broker did not accept a host's connection in time."""
