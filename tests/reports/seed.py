"""Tickets and complaints at known local times, and the reports' numbers computed from
them plainly: local wall-clock dates and hour offsets, no UTC bounds, no report code."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sitewatch.domain.time import UTC
from sitewatch.storage.tables import ComplaintRow, TicketRow
from tests.reports.conftest import ASSET_OF_SITE, CUSTOMER_OF_SITE, ZONES


@dataclass(frozen=True)
class TicketSpec:
    id: int
    site: str
    opened_local: datetime  # naive wall-clock time at the site
    service_type: str = "B"
    arrive_h: float = 2.0  # arrive-by, hours after opening
    arrived_h: float | None = None  # when the technician arrived, hours after opening
    resolve_h: float | None = None  # resolve-by
    resolved_h: float | None = None
    sla_breached: bool = False
    resolve_breached: bool = False
    repeat_of: int | None = None
    rating: tuple[int, int, int, int] | None = None

    def at(self, hours: float) -> datetime:
        return self.opened_utc + timedelta(hours=hours)

    @property
    def opened_utc(self) -> datetime:
        return self.opened_local.replace(tzinfo=ZoneInfo(ZONES[self.site])).astimezone(UTC)

    @property
    def customer(self) -> str:
        return CUSTOMER_OF_SITE[self.site]


# The boundaries, pinned by hand.
EDGES = (
    TicketSpec(1, "harbour", datetime(2026, 11, 30, 23, 30), "A", arrived_h=1),  # November (UTC: Dec 1 04:30)
    TicketSpec(2, "harbour", datetime(2026, 12, 31, 23, 30), "C", arrived_h=3),  # Q4 (UTC: 2027-01-01 04:30)
    TicketSpec(3, "harbour", datetime(2026, 9, 30, 23, 30), "B", arrived_h=1),  # Q3 (UTC: Oct 1 03:30)
    TicketSpec(4, "north", datetime(2026, 10, 1, 0, 30), "B", arrived_h=1),  # Q4 (UTC: Sep 30 16:30)
    TicketSpec(5, "north", datetime(2027, 1, 1, 0, 30), "B", arrived_h=1),  # Q1 2027 (UTC: Dec 31 16:30)
    TicketSpec(6, "harbour", datetime(2026, 11, 30, 22, 0), "D", arrived_h=1),  # November, internal
)


def ticket_specs(seed: int = 2026) -> list[TicketSpec]:
    rng = random.Random(seed)
    specs = list(EDGES)
    start = datetime(2026, 9, 20)
    for number in range(7, 90):
        site = rng.choice(sorted(ZONES))
        opened = start + timedelta(days=rng.randrange(0, 112), hours=rng.randrange(0, 24), minutes=rng.choice((0, 30)))
        if site == "berlin" and opened.date() == datetime(2026, 10, 25).date() and opened.hour == 2:
            opened += timedelta(hours=2)  # not the hour Berlin's clocks repeat
        arrived = rng.choice((None, rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0)))
        resolve = rng.choice((None, 8.0, 30.0, 24.0 * 20))
        resolved = rng.choice((None, rng.uniform(1, 40))) if arrived is not None else None
        earlier = [s.id for s in specs if s.site == site]
        specs.append(TicketSpec(
            number, site, opened, rng.choice("ABBBCD"), arrive_h=rng.choice((2.0, 3.0, 4.0)), arrived_h=arrived,
            resolve_h=resolve, resolved_h=resolved, sla_breached=arrived is not None and arrived > 4.5,
            resolve_breached=resolve is not None and rng.random() < 0.1,
            repeat_of=rng.choice(earlier) if earlier and rng.random() < 0.15 else None,
            rating=tuple(rng.randint(1, 4) for _ in range(4)) if resolved is not None and rng.random() < 0.7 else None,
        ))
    return specs


def insert_tickets(session, specs: list[TicketSpec]) -> None:
    for s in specs:
        rating = dict(zip(("rating_attitude", "rating_skill", "rating_arrival_time", "rating_follow_through"),
                          s.rating or (None,) * 4))
        session.add(TicketRow(
            id=s.id, fingerprint=f"seed/{s.id}", asset_id=ASSET_OF_SITE[s.site], site_id=s.site, rule_id=None,
            channel=None, title=f"seeded fault {s.id}", severity="major", priority=2,
            state="closed" if s.rating else "registered", service_type=s.service_type, source="manual",
            opened_at=s.opened_utc, arrive_by=s.at(s.arrive_h),
            arrived_at=None if s.arrived_h is None else s.at(s.arrived_h),
            resolve_by=None if s.resolve_h is None else s.at(s.resolve_h),
            resolved_at=None if s.resolved_h is None else s.at(s.resolved_h),
            sla_breached=s.sla_breached, resolve_breached=s.resolve_breached, repeat_of=s.repeat_of,
            updated_at=s.opened_utc, **rating,
        ))
    session.flush()


@dataclass(frozen=True)
class ComplaintSpec:
    customer: str
    site: str | None
    received_local: datetime  # naive, at the site (or the customer's first site)
    complaint_class: str

    @property
    def zone(self) -> str:
        return ZONES[self.site or {"citygas": "north", "harbour": "harbour"}[self.customer]]

    @property
    def received_utc(self) -> datetime:
        return self.received_local.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC)


COMPLAINTS = (
    ComplaintSpec("harbour", "harbour", datetime(2026, 11, 3, 9, 0), "quality"),
    ComplaintSpec("harbour", "harbour", datetime(2026, 11, 30, 23, 45), "non_quality"),  # UTC: Dec 1
    ComplaintSpec("harbour", None, datetime(2026, 11, 15, 12, 0), "quality"),
    ComplaintSpec("harbour", "harbour", datetime(2026, 12, 1, 0, 10), "other"),  # December
    ComplaintSpec("citygas", "north", datetime(2026, 11, 1, 0, 15), "other"),  # November (UTC: Oct 31)
    ComplaintSpec("citygas", "berlin", datetime(2026, 11, 30, 23, 0), "quality"),
    ComplaintSpec("citygas", None, datetime(2026, 10, 31, 23, 0), "non_quality"),  # October in Shanghai
    ComplaintSpec("citygas", "north", datetime(2026, 12, 31, 23, 59), "quality"),
)


def insert_complaints(session, specs=COMPLAINTS) -> None:
    for s in specs:
        session.add(ComplaintRow(customer_id=s.customer, site_id=s.site, ticket_id=None, received_at=s.received_utc,
                                 complaint_class=s.complaint_class, description="seeded", recorded_at=s.received_utc,
                                 recorded_by="seed"))
    session.flush()


# --- the plain computation ---------------------------------------------------------------


def in_quarter(local: datetime, year: int, quarter: int) -> bool:
    return local.year == year and (local.month - 1) // 3 + 1 == quarter


def in_month(local: datetime, year: int, month: int) -> bool:
    return (local.year, local.month) == (year, month)


def deadline_counts(specs, now: datetime, *, deadline: str) -> tuple[int, int, int]:
    """(met, missed, not due) by hour offsets."""
    met = missed = not_due = 0
    for s in specs:
        due_h = s.arrive_h if deadline == "arrive" else s.resolve_h
        done_h = s.arrived_h if deadline == "arrive" else s.resolved_h
        breached = s.sla_breached if deadline == "arrive" else s.resolve_breached
        hours_now = (now - s.opened_utc).total_seconds() / 3600
        if breached:
            missed += 1
        elif due_h is None:
            not_due += 1
        elif done_h is not None:
            met, missed = (met + 1, missed) if done_h <= due_h else (met, missed + 1)
        elif hours_now > due_h:
            missed += 1
        else:
            not_due += 1
    return met, missed, not_due
