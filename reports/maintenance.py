"""The quarterly maintenance report per customer (DOMAIN.md "Reports", rule book 1 ⑤):
tickets, SLA compliance, repeat faults, inspections done and overdue, satisfaction and
complaints, over the customer's sites, each placed by its own site's calendar.

* The period's tickets are those opened in the quarter; compliance, repeat faults and
  satisfaction are defined in reports/compute.py. "Not yet due" is judged at ``now``.
* Inspections done: finished inspections started in the quarter, per plan kind.
* Overdue: inspections/due.py's verdict at the quarter's last instant (or ``now`` if the
  quarter has not ended), from the record as it stood then (reports/overdue.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.time import require_utc
from sitewatch.inspections.plans import plan
from sitewatch.reports import compute, gather
from sitewatch.reports.complaints import ComplaintClass
from sitewatch.reports.models import KindCount, MaintenanceReport, MonthTickets
from sitewatch.reports.overdue import as_of, overdue_at
from sitewatch.reports.periods import Period
from sitewatch.reports.scope import complaint_zone, customer_zones

SERVICE_TYPES = ("A", "B", "C", "D")


def maintenance_report(
    session: Session, config: Config, *, customer_id: str, period: Period, now: datetime,
) -> MaintenanceReport:
    now = require_utc(now)
    zones = customer_zones(config, customer_id)
    customer = next(c for c in config.customers if c.id == customer_id)
    tickets = gather.tickets_opened(session, period, zones)
    asset_names = {a.id: a.name for a in config.assets}

    by_month = []
    for month in period.months():
        counts = Counter(t.service_type for t in tickets if month.contains(t.opened_at, zones[t.site_id]))
        by_month.append(MonthTickets(month=month.label, by_service_type_count={k: counts[k] for k in SERVICE_TYPES}))

    done = gather.inspections_done(session, period, zones)
    kinds = Counter(i.kind for i in done)
    overdue, latest = [], None
    for site_id, zone in zones.items():
        at = as_of(period, zone, now)
        latest = at if latest is None else max(latest, at)
        overdue.extend(overdue_at(session, config, site_id=site_id, at=at))

    complaints = [c for c in gather.complaints_received(session, period, [customer_id])
                  if period.contains(c.received_at, complaint_zone(c.site_id, zones))]
    classes = Counter(c.complaint_class for c in complaints)
    return MaintenanceReport(
        customer_id=customer_id, customer_name=customer.name, period=period.label, first_day=period.first_day,
        last_day=period.next_first_day - timedelta(days=1), time_zones=sorted(set(zones.values())),
        site_ids=list(zones), generated_at=now, tickets_count=len(tickets), tickets_by_month=by_month,
        resolved_count=sum(1 for t in tickets if t.resolved_at is not None),
        arrival=compute.arrival_compliance(tickets, now=now),
        resolution=compute.resolution_compliance(tickets, now=now),
        repeat_faults=compute.repeat_faults(tickets, asset_names, zones),
        satisfaction=compute.satisfaction(tickets),
        inspections_done=[KindCount(kind=k, title=plan(k).title, count=n) for k, n in sorted(kinds.items())],
        inspections_done_count=len(done),
        overdue_at_end=sorted(overdue, key=lambda i: (i.due_on, i.site_id, i.target_id, i.kind)),
        overdue_as_of=latest or now,
        complaints_by_class_count={c.value: classes[c.value] for c in ComplaintClass},
    )
