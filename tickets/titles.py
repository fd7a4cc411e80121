"""Titles of the tickets no alert names: messages (i18n/messages.py), so that each reader
sees them in their own language; the writer keeps the English beside (tickets.title).

A rules ticket is named by its alert's summary (rules/), a person's ticket by what they typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sitewatch.i18n import lazy
from sitewatch.i18n.messages import COMMA, SEMICOLON, Channel, Joined, Message, Term, Unit

# The 08:30 log's flags (review.models.FlagKind values).
FLAG_KINDS = {
    "outside_limits": lazy("outside limits"),
    "low_completeness": lazy("low completeness"),
    "field_disagrees": lazy("field disagrees"),
}
# What a contract reminder is about (inspections/contracts.py).
_ENDS = {
    "free-maintenance-end": lazy("%(site)s: free maintenance ends on %(day)s (%(within)s): tell the customer and "
                                 "arrange the renewal"),
    "contract-end": lazy("%(site)s: maintenance contract ends on %(day)s (%(within)s): tell the customer and "
                         "arrange the renewal"),
}
# A seasonal pressure test's paths and pressures (inspections/records.py).
PATHS = {"running": lazy("running"), "standby": lazy("standby")}
PRESSURES = {"operating_kpa": lazy("operating pressure"), "lock_up_kpa": lazy("lock-up pressure"),
             "relief_kpa": lazy("relief pressure"), "slam_shut_kpa": lazy("slam-shut pressure")}


def site_down(site_name: str) -> Message:
    return Message.of(lazy("%(site)s: its devices went silent together — network or power at the site?"),
                      site=site_name)


def field_check(station_name: str, day: date, flags: Iterable[tuple[str, str]]) -> Message:
    """The daily log found a station abnormal; ``flags``: (kind, channel) pairs. One part
    per kind with its channels: "low completeness: battery_v, door_open; outside limits: outlet_kpa"."""
    by_kind: dict[str, list[str]] = {}
    for kind, channel in flags:
        channels = by_kind.setdefault(kind, [])
        if channel not in channels:
            channels.append(channel)
    reasons = tuple(
        Message.of(lazy("%(flag)s: %(channels)s"), flag=Term(FLAG_KINDS[kind], raw=kind.replace("_", " ")),
                   channels=Joined(tuple(Channel(c) for c in channels), COMMA))
        for kind, channels in by_kind.items()
    )
    return Message.of(lazy("Field check %(station)s: abnormal in the %(day)s operation log (%(reasons)s)"),
                      station=station_name, day=day.isoformat(), reasons=Joined(reasons, SEMICOLON))


def calibration(asset_name: str, channel: str, unit: str, *, scada: float, field: float, difference: float,
                tolerance: float) -> Message:
    """A field reading disagrees with SCADA beyond the tolerance."""
    return Message.of(lazy("%(asset)s: SCADA %(channel)s reads %(scada)s %(unit)s, field reading %(field)s %(unit)s "
                           "(difference %(difference)s, tolerance ±%(tolerance)s): calibrate SCADA"),
                      asset=asset_name, channel=Channel(channel), unit=Unit(unit), scada=f"{scada:g}", field=f"{field:g}",
                      difference=f"{difference:+.3g}", tolerance=f"{tolerance:g}")


def contract_reminder(site_name: str, what: str, ends_on: date, months: int) -> Message:
    """``what``: free-maintenance-end or contract-end, ``months`` before ``ends_on``."""
    within = Message.of(lazy("in %(n)s month") if months == 1 else lazy("in %(n)s months"), n=months)
    return Message.of(_ENDS[what], site=site_name, day=ends_on.isoformat(), within=within)


def pressures_out_of_order(values: Sequence[float]) -> Message:
    return Message.of(lazy("pressures must rise operating < lock-up < relief < slam-shut, got %(values)s"),
                      values=str(list(values)))


def pressure_off_setting(key: str, tested: float, setting: float, tolerance_fraction: float) -> Message:
    return Message.of(lazy("%(pressure)s %(tested)s kPa, set to %(setting)s kPa (±%(tolerance)s)"),
                      pressure=Term(PRESSURES[key], raw=key), tested=f"{tested:g}", setting=f"{setting:g}",
                      tolerance=f"{tolerance_fraction:.0%}")


def maker_repair(asset_name: str, path: str, findings: Sequence[Message], days: int) -> Message:
    """A regulator path failed its seasonal pressure test: the maker repairs it."""
    return Message.of(lazy("%(asset)s: %(path)s regulator not compliant (%(findings)s): the maker repairs within "
                           "%(days)s days"),
                      asset=asset_name, path=Term(PATHS[path]), findings=Joined(tuple(findings), SEMICOLON), days=days)
