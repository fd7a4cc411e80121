"""Maintenance-contract reminders (DOMAIN.md "maintenance period"; rule book 2 §4, rule book
13 art. 20): the free-maintenance end and the contract end of each site, reminded 3 months
and 1 month before, as internal (type D) tickets.

Each reminder is sent once, ever: its ticket's fingerprint names the site, what ends, the
date and the lead (``<site>/contract-end/2027-03-31/3m``), and a reminder whose ticket
exists in any state — closed included — is not sent again. When the config is only
written after the 3-month mark has passed, the 1-month reminder alone is sent once due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.config.models import Config, Site
from sitewatch.domain.alerts import Severity
from sitewatch.domain.tickets import ServiceType
from sitewatch.inspections.plans import add_months, local_date
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets import titles
from sitewatch.tickets.writer import open_work_ticket

log = logging.getLogger(__name__)

LEADS_MONTHS = (3, 1)


@dataclass(frozen=True, slots=True)
class Reminder:
    site_id: str
    what: str  # free-maintenance-end | contract-end
    ends_on: date
    lead_months: int
    remind_on: date

    @property
    def fingerprint(self) -> str:
        return f"{self.site_id}/{self.what}/{self.ends_on.isoformat()}/{self.lead_months}m"


def ends_of(site: Site) -> list[tuple[str, date]]:
    ends = [("free-maintenance-end", site.free_maintenance_until), ("contract-end", site.contract_until)]
    return [(what, day) for what, day in ends if day is not None]


def reminders_due(site: Site, today: date) -> list[Reminder]:
    """Pure: the reminders due on ``today`` (site-local) — the latest lead reached per end,
    until the end itself has passed."""
    out = []
    for what, ends_on in ends_of(site):
        if today > ends_on:
            continue
        reached = [m for m in LEADS_MONTHS if today >= add_months(ends_on, -m)]
        if reached:
            months = min(reached)  # the nearest lead: 1 month before beats 3
            out.append(Reminder(site.id, what, ends_on, months, add_months(ends_on, -months)))
    return out


def check_contracts(session: Session, config: Config, *, now: datetime, actor: str = "contracts") -> list[TicketRow]:
    """Open the reminder tickets that are due and were never sent; returns those opened."""
    opened = []
    for site in config.sites:
        for reminder in reminders_due(site, local_date(now, site.time_zone)):
            sent = session.scalars(select(TicketRow.id).where(TicketRow.fingerprint == reminder.fingerprint)
                                   .limit(1)).first()
            if sent is not None:
                continue
            # The 1-month reminder supersedes an unsent 3-month one; nothing is sent twice.
            title = titles.contract_reminder(site.name, reminder.what, reminder.ends_on, reminder.lead_months)
            ticket, new = open_work_ticket(
                session, config, fingerprint=reminder.fingerprint, site_id=site.id, asset_id=None, title=title,
                severity=Severity.INFO, service_type=ServiceType.D_INTERNAL, source="contract", at=now, actor=actor,
            )
            if new:
                opened.append(ticket)
                log.info("contract reminder: %s", ticket.title)
    return opened


def contract_view(site: Site, today: date) -> list[dict]:
    """Per end: the date, the reminder dates, and how many days are left (for the API)."""
    return [
        {"what": what, "ends_on": ends_on, "days_left": (ends_on - today).days,
         "remind_on": [add_months(ends_on, -m) for m in LEADS_MONTHS]}
        for what, ends_on in ends_of(site)
    ]
