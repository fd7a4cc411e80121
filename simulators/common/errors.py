"""Typed error bases shared by the simulators; each control API maps them onto HTTP codes."""

from __future__ import annotations

from typing import ClassVar


class SimulatorError(Exception):
    """Base of every error a simulator raises on purpose."""


class UnknownDevice(SimulatorError, KeyError):
    """A device id the fleet does not have; subclasses name the device ("station", "camera")."""

    noun: ClassVar[str]

    def __init__(self, device_id: str, *, known: tuple[str, ...]) -> None:
        super().__init__(device_id)
        self.device_id = device_id
        self.known = known

    def __str__(self) -> str:
        # KeyError would print repr(arg) only; say what exists instead.
        shown = ", ".join(self.known[:5]) + (" ..." if len(self.known) > 5 else "")
        return f"unknown {self.noun} {self.device_id!r} ({self.noun}s: {shown})"


class UnknownFault(SimulatorError, ValueError):
    def __init__(self, fault: str, *, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown fault {fault!r}; known faults: {', '.join(known)}")
        self.fault = fault
        self.known = known


class InvalidFaultParams(SimulatorError, ValueError):
    def __init__(self, fault: str, message: str, *, known: tuple[str, ...]) -> None:
        accepted = ", ".join(known) if known else "none"
        super().__init__(f"fault {fault!r}: {message} (accepted params: {accepted})")
        self.fault = fault
        self.known = known


class FleetNotRunning(SimulatorError, RuntimeError):
    """A port was asked for before the fleet was started."""


class PortUnavailable(SimulatorError, OSError):
    """A server could not bind its port (e.g. re-opening after the device went offline)."""
