"""Typed errors of the camera simulator; the control API maps them onto HTTP codes."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose."""


class UnknownCamera(SimulatorError, KeyError):
    def __init__(self, camera_id: str, *, known: tuple[str, ...]) -> None:
        super().__init__(camera_id)
        self.camera_id = camera_id
        self.known = known

    def __str__(self) -> str:
        # KeyError would print repr(arg) only; say what exists instead.
        shown = ", ".join(self.known[:5]) + (" ..." if len(self.known) > 5 else "")
        return f"unknown camera {self.camera_id!r} (cameras: {shown})"


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
    """A camera's server could not bind its port (e.g. re-opening after `offline`)."""
