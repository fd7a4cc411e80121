"""Flapping: an alert changing state too often becomes one flapping alert, not churn.

The engine asks ``FlapGuard.admit`` before emitting each transition of a fingerprint. After
``transitions`` changes within ``window_s`` the fingerprint is flapping: one FIRING is let
through (marked as flapping), every further change is held back, and once nothing has
changed for ``window_s`` the guard lets the engine announce the state it has settled in.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class Admit(enum.Enum):
    PASS = "pass"  # an ordinary transition
    START = "start"  # this one makes it flapping: announce it once, as flapping
    HOLD = "hold"  # flapping: keep it back


@dataclass
class FlapGuard:
    transitions: int
    window_s: float
    _recent: dict[str, deque[float]] = field(default_factory=dict)
    _flapping: dict[str, float] = field(default_factory=dict)  # fingerprint -> last held change

    def admit(self, fingerprint: str, at: float) -> Admit:
        if fingerprint in self._flapping:
            self._flapping[fingerprint] = at
            return Admit.HOLD
        recent = self._recent.setdefault(fingerprint, deque())
        recent.append(at)
        while recent and recent[0] < at - self.window_s:
            recent.popleft()
        if len(recent) >= self.transitions:
            recent.clear()
            self._flapping[fingerprint] = at
            return Admit.START
        return Admit.PASS

    def settled(self, now: float) -> list[str]:
        """Fingerprints quiet for a whole window: no longer flapping."""
        done = [fp for fp, last in self._flapping.items() if now - last >= self.window_s]
        for fp in done:
            del self._flapping[fp]
        return done

    def is_flapping(self, fingerprint: str) -> bool:
        return fingerprint in self._flapping
