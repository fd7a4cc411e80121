"""Titles of the tickets no alert names: messages (i18n/messages.py), so that each reader
sees them in their own language; the writer keeps the English beside (tickets.title).

A rules ticket is named by its alert's summary (rules/), a person's ticket by what they typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from i18n import lazy
from i18n.messages import COMMA, SEMICOLON, Channel, Joined, Message, Term

# The 08:30 log's flags (review.models.FlagKind values).
FLAG_KINDS = {
    "outside_limits": lazy("outside limits"),
    "low_completeness": lazy("low completeness"),
    "field_disagrees": lazy("field disagrees"),
}


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
