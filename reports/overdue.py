"""What was overdue at a period's end: inspections/due.py's plans and rules, with the record
as it stood then (inspections started later do not count, nor does later rain)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.time import require_utc
from sitewatch.inspections.due import targets, technician_for
from sitewatch.inspections.plans import PLANS, Status, next_due
from sitewatch.reports.gather import last_done_before, last_rain_before
from sitewatch.reports.models import OverdueItem
from sitewatch.reports.periods import Period

_INSTANT = timedelta(microseconds=1)


def as_of(period: Period, time_zone: str, now: datetime) -> datetime:
    """The last instant of the period in the site's calendar, or ``now`` if that is sooner."""
    return min(period.end(time_zone) - _INSTANT, require_utc(now))


def overdue_at(session: Session, config: Config, *, site_id: str, at: datetime) -> list[OverdueItem]:
    """The site's plans overdue at ``at`` (its local date past the plan's due_on), by due date."""
    at = require_utc(at)
    site = config.site(site_id)
    done, rain = last_done_before(session, at), last_rain_before(session, at)
    items = []
    for target in targets(config, site_id=site_id):
        for plan in PLANS:
            if not plan.applies_to(target):
                continue
            due = next_due(plan, target, now=at, time_zone=site.time_zone,
                           last_done_at=done.get((plan.kind, target.target_id)), rain_at=rain.get(site_id))
            if due is None or due.status is not Status.OVERDUE:
                continue
            items.append(OverdueItem(site_id=site_id, target_id=target.target_id, target_name=target.name,
                                     kind=plan.kind, title=plan.title, due_on=due.due_on,
                                     technician=technician_for(site, plan.kind)))
    items.sort(key=lambda i: (i.due_on, i.target_id, i.kind))
    return items
