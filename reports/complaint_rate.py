"""The monthly complaint rate per customer (DOMAIN.md "Tickets", rule book 11).

complaint rate = complaints received in the month / service calls in the month, where the
service calls are the tickets opened in the month at the customer's sites, internal admin
tickets (service type D: calibration, contract reminders) excluded since no customer
called. Complaints are counted per class (quality, non_quality, other). Each is placed by
its site's calendar, or the customer's (its first site's) when it names no site; tickets
by their site's. The statistics are due by the 5th of the next month at 17:00, in the
customer's time zone.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sitewatch.config.models import Config
from sitewatch.domain.time import UTC, require_utc
from sitewatch.reports import gather
from sitewatch.reports.complaints import ComplaintClass
from sitewatch.reports.compute import rate_pct
from sitewatch.reports.models import ComplaintRateReport, CustomerComplaintRate
from sitewatch.reports.periods import Period
from sitewatch.reports.scope import complaint_zone, customer_zone, customer_zones

DUE_DAY, DUE_AT = 5, time(17, 0)
INTERNAL = "D"


def due_at(period: Period, time_zone: str) -> datetime:
    """The 5th of the month after ``period`` at 17:00 in ``time_zone``, in UTC."""
    day = period.next_first_day.replace(day=DUE_DAY)
    return datetime.combine(day, DUE_AT, ZoneInfo(time_zone)).astimezone(UTC)


def complaint_rate_report(
    session: Session, config: Config, *, period: Period, now: datetime, customer_id: str | None = None,
) -> ComplaintRateReport:
    customers = [c for c in config.customers if customer_id is None or c.id == customer_id]
    complaints = gather.complaints_received(session, period, [c.id for c in customers])
    rows = []
    for customer in customers:
        zones = customer_zones(config, customer.id)
        mine = [c for c in complaints
                if c.customer_id == customer.id and period.contains(c.received_at, complaint_zone(c.site_id, zones))]
        calls = [t for t in gather.tickets_opened(session, period, zones) if t.service_type != INTERNAL]
        classes = Counter(c.complaint_class for c in mine)
        zone = customer_zone(zones)
        rows.append(CustomerComplaintRate(
            customer_id=customer.id, customer_name=customer.name, time_zone=zone, complaints_count=len(mine),
            by_class_count={c.value: classes[c.value] for c in ComplaintClass}, service_calls_count=len(calls),
            complaint_rate_pct=rate_pct(len(mine), len(calls)), due_at=due_at(period, zone),
        ))
    return ComplaintRateReport(period=period.label, first_day=period.first_day,
                               last_day=period.next_first_day - timedelta(days=1), generated_at=require_utc(now),
                               customers=rows)
