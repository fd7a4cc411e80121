"""The roles ``sitewatch run --roles`` accepts, and which combinations one process can run.

Kept free of heavy imports: the command line checks ``--roles`` before it builds anything.
"""

from __future__ import annotations

from collections.abc import Iterable

COLLECTOR, RULES, CHORES, API = "collector", "rules", "chores", "api"
ALL_ROLES: frozenset[str] = frozenset((COLLECTOR, RULES, CHORES, API))
ORDER = (COLLECTOR, RULES, CHORES, API)  # as messages list them


class RolesError(ValueError):
    """A role list one process cannot run; the message says why and what to give instead."""


def parse_roles(text: str) -> frozenset[str]:
    """``collector,rules`` -> the set of roles, checked by :func:`check_roles`."""
    return check_roles(name.strip() for name in text.split(",") if name.strip())


def check_roles(roles: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(roles)
    unknown = sorted(chosen - ALL_ROLES)
    if unknown:
        raise RolesError(f"unknown role(s) {', '.join(map(repr, unknown))}; the roles are {', '.join(ORDER)}")
    if not chosen:
        raise RolesError(f"no role given; the roles are {', '.join(ORDER)}")
    # The collector hands samples to the rules through the in-process bus: apart, the samples
    # would be stored but never judged (or the rules would judge nothing), so no ticket ever opens.
    if (COLLECTOR in chosen) != (RULES in chosen):
        raise RolesError("collector and rules go together in one process until samples travel over the "
                         "broker: give --roles collector,rules")
    return chosen


def describe(roles: frozenset[str]) -> str:
    return ",".join(role for role in ORDER if role in roles)
