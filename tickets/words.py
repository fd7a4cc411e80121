"""How a ticket's facts are said to people, on the pages and in messages alike: state and
severity words, instants on the site's clock with its UTC offset, time left or overdue.

Kept out of the web layer so that paging (which may run in a process of its own) says a
time exactly as the ticket page its link opens does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sitewatch import i18n
from sitewatch.domain.alerts import Severity
from sitewatch.domain.tickets import TicketState
from sitewatch.domain.time import to_local

STATES = {
    TicketState.REGISTERED.value: i18n.lazy("Registered"),
    TicketState.DISPATCHED.value: i18n.lazy("Dispatched"),
    TicketState.ARRIVED.value: i18n.lazy("Arrived"),
    TicketState.RESOLVED.value: i18n.lazy("Resolved"),
    TicketState.SIGNED_OFF.value: i18n.lazy("Signed off"),
    TicketState.FOLLOWED_UP.value: i18n.lazy("Followed up"),
    TicketState.CLOSED.value: i18n.lazy("Closed"),
}
SEVERITIES = {
    Severity.CRITICAL.value: i18n.lazy("Critical"),
    Severity.MAJOR.value: i18n.lazy("Major"),
    Severity.WARNING.value: i18n.lazy("Warning"),
    Severity.INFO.value: i18n.lazy("Info"),
}


def label(table: dict, key: Any) -> str:
    """A value's translated label; the value itself when the table does not know it."""
    return i18n.gettext(table[key]) if key in table else str(key)


def offset_name(local: datetime) -> str:
    """'UTC+8', 'UTC+5:30', 'UTC-3': the zone as people read it next to a time."""
    minutes = int(local.utcoffset().total_seconds()) // 60
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def when(at: datetime | None, time_zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC instant on the site's clock, with the zone: '2026-05-04 14:05 UTC+8'."""
    if at is None:
        return "—"
    local = to_local(at, time_zone)
    return f"{local.strftime(fmt)} {offset_name(local)}"


def duration(seconds: float) -> str:
    minutes = int(abs(seconds)) // 60
    return i18n.gettext("%(hours)d h %(minutes)02d min", hours=minutes // 60, minutes=minutes % 60)


def countdown(deadline: datetime, now: datetime) -> tuple[str, bool]:
    """The time left to a deadline, or how far past it; and whether it is past."""
    left = (deadline - now).total_seconds()
    if left >= 0:
        return i18n.gettext("%(duration)s left", duration=duration(left)), False
    return i18n.gettext("%(duration)s overdue", duration=duration(left)), True
