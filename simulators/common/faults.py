"""Fault kinds, faults in force and the checking of their parameters, for any simulator."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from sitewatch.simulators.common.errors import InvalidFaultParams, UnknownFault


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    description: str
    defaults: Mapping[str, float] = field(default_factory=dict)
    optional: tuple[str, ...] = ()  # accepted params without a default
    signed: bool = False  # params may be negative (e.g. a clock runs fast or slow)
    one_shot: bool = False  # an action at one instant, never listed as in force


def kind(name: str, description: str, **defaults: float) -> FaultKind:
    """The common case: a fault whose params all have defaults and must be > 0."""
    return FaultKind(name, description, MappingProxyType(defaults))


def kinds(*all_kinds: FaultKind) -> Mapping[str, FaultKind]:
    return MappingProxyType({k.name: k for k in all_kinds})


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in force since `started_at` (the fleet's clock, UTC), every parameter filled in."""

    name: str
    started_at: datetime
    params: Mapping[str, float]


def checked_params(
    fault_kinds: Mapping[str, FaultKind], fault: str, params: Mapping[str, object]
) -> Mapping[str, float]:
    """The fault's defaults overlaid with `params`; names known, values finite (and > 0 unless signed)."""
    found = fault_kinds.get(fault)
    if found is None:
        raise UnknownFault(fault, known=tuple(fault_kinds))
    accepted = (*found.defaults, *found.optional)
    merged = dict(found.defaults)
    for key, value in params.items():
        if key not in accepted:
            raise InvalidFaultParams(fault, f"unknown param {key!r}", known=accepted)
        # bool is an int subclass; a True rate is a mistake, not 1.0.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidFaultParams(fault, f"{key} must be a number, got {value!r}", known=accepted)
        if not math.isfinite(value) or (value <= 0 and not found.signed):
            bound = "finite" if found.signed else "finite and > 0"
            raise InvalidFaultParams(fault, f"{key} must be {bound}, got {value}", known=accepted)
        merged[key] = float(value)
    return MappingProxyType(merged)
