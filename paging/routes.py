"""Who hears of a ticket: its route, the route's levels, and the recipients a level names.

Pure: the settings, the ticket's facts and the instant come in; no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sitewatch.domain.time import require_utc
from sitewatch.paging.config import Desk, PagingSettings, Route, Target
from sitewatch.paging.rota import on_call


@dataclass(frozen=True, slots=True)
class Recipient:
    """One channel to one person, or one group channel (person and address None)."""

    channel: str  # channel id in settings.channels
    person: str | None  # person id; None for a group channel
    address: str | None  # e-mail address or phone for a personal channel; None for a group
    locale: str  # "zh_CN" / "en": the person's, or the group channel's
    mentions: tuple[str, ...] = ()  # phones to @ in a group chat: the person on call

    @property
    def key(self) -> str:
        """Stable across runs: what outbox records and deduplication go by."""
        if self.person is None:
            return f"group:{self.channel}"
        return f"person:{self.person}/{self.channel}"


def route_for(settings: PagingSettings, *, desk: str, severity: str, customer: str, site: str) -> Route | None:
    """The first route matching the ticket (an empty match list matches anything), or None."""
    for route in settings.routes:
        if (_matches(route.desks, desk) and _matches(route.severities, severity)
                and _matches(route.customers, customer) and _matches(route.sites, site)):
            return route
    return None


def recipients(settings: PagingSettings, route: Route | None, *, desk: str, targets: Iterable[Target],
               at: datetime) -> list[Recipient]:
    """The recipients ``targets`` name at ``at``, among the people of the desk the route pages
    (``route.desk``, else the ticket's ``desk``). Deduplicated by key, in the targets' order;
    [] when that desk is not in the settings."""
    paged = settings.desks.get(route.desk if route is not None and route.desk else desk)
    if paged is None:
        return []
    targets = tuple(targets)
    unknown = sorted(set(targets) - {"on_call", "groups", "lead", "manager"})
    if unknown:
        raise ValueError(f"paging: unknown target(s) {unknown}")
    person_on_call = on_call(paged.rota, require_utc(at)) if "on_call" in targets else None
    found: list[Recipient] = []
    for target in targets:
        if target == "on_call":
            found += person_recipients(settings, person_on_call)
        elif target == "groups":
            found += _group_recipients(settings, paged, person_on_call)
        elif target == "lead":
            found += person_recipients(settings, paged.lead)
        else:
            found += person_recipients(settings, paged.manager)
    unique: dict[str, Recipient] = {}
    for recipient in found:
        unique.setdefault(recipient.key, recipient)
    return list(unique.values())


def person_recipients(settings: PagingSettings, person_id: str | None) -> list[Recipient]:
    """Every personal channel of the person (a technician named on a ticket: see
    ``settings.person_named``); [] for None or an unknown id."""
    person = settings.people.get(person_id) if person_id else None
    if person is None:
        return []
    found = []
    for channel in person.channels:
        address = person.email if settings.channels[channel].kind == "email" else person.phone
        found.append(Recipient(channel=channel, person=person_id, address=address, locale=person.locale))
    return found


def assignee_recipients(settings: PagingSettings, assignee: str | None) -> list[Recipient]:
    """The technician a ticket is assigned to (by id, name or alias), on their personal channels."""
    return person_recipients(settings, settings.person_named(assignee))


def level_targets(route: Route, level: int) -> tuple[Target, ...]:
    """Whom the route's ``level`` (1-based) pages."""
    if not 1 <= level <= len(route.levels):
        raise ValueError(f"route {route.name!r} has levels 1..{len(route.levels)}, not {level}")
    return route.levels[level - 1].to


def level_due(route: Route, level: int, paged_at: datetime, now: datetime) -> int:
    """The highest level whose ``after_min`` has passed at ``now`` since ``paged_at`` (at least 1).

    Never below ``level``, the level already reached (an escalation is not taken back), and
    never beyond the route's last level, should the configuration have lost levels since.
    """
    if level < 1:
        raise ValueError(f"levels start at 1, not {level}")
    elapsed_min = (require_utc(now) - require_utc(paged_at)).total_seconds() / 60
    passed = sum(1 for step in route.levels if step.after_min <= elapsed_min)
    return max(passed, min(level, len(route.levels)), 1)


def _group_recipients(settings: PagingSettings, desk: Desk, person_on_call: str | None) -> list[Recipient]:
    person = settings.people.get(person_on_call) if person_on_call else None
    mentions = (person.phone,) if person is not None and person.phone else ()
    found = []
    for channel in desk.groups:
        # PagingSettings only lets group kinds (webhook, wecom, dingtalk) under a desk: all have a locale.
        locale = settings.channels[channel].locale  # type: ignore[union-attr]
        found.append(Recipient(channel=channel, person=None, address=None, locale=locale, mentions=mentions))
    return found


def _matches(allowed: tuple[str, ...], value: str) -> bool:
    # Severity is a str enum, so "major" == Severity.MAJOR.
    return not allowed or value in allowed
