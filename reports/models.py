"""What a report says: small frozen models, units in names, times in UTC (shown in the
site's local time by the exports). Percentages are 0..100; None where nothing was due."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeadlineCompliance(_Frozen):
    """One deadline (arrive-by or resolve-by) over the period's tickets."""

    met_count: int
    missed_count: int
    not_due_count: int  # still open and the deadline not yet passed: excluded from the share
    compliance_pct: float | None  # met / (met + missed) * 100; None when nothing was due


class Satisfaction(_Frozen):
    """The customers' sign-off ratings, 1 (dissatisfied) .. 4 (very satisfied) per axis."""

    rated_count: int
    attitude_mean: float | None
    skill_mean: float | None
    arrival_time_mean: float | None
    follow_through_mean: float | None
    # axis -> [count of level 1, 2, 3, 4]
    levels_count: dict[str, list[int]]


class RepeatFault(_Frozen):
    ticket_id: int
    repeat_of: int
    site_id: str
    asset_id: str
    asset_name: str
    title: str  # English, as stored in tickets.title
    opened_at: datetime
    time_zone: str  # the site's: opened_at is shown in it
    # tickets.title_msg (i18n.messages.Message as JSON): the title in the reader's language;
    # None for a ticket stored before messages existed.
    title_msg: dict[str, Any] | None = None


class MonthTickets(_Frozen):
    month: str  # YYYY-MM
    by_service_type_count: dict[str, int]  # A paid, B contract, C warranty, D internal


class KindCount(_Frozen):
    kind: str  # a plan kind (inspections/plans.py)
    title: str
    count: int


class OverdueItem(_Frozen):
    site_id: str
    target_id: str
    target_name: str
    kind: str
    title: str
    due_on: date  # site-local: the last day it could be done
    technician: str | None


class MaintenanceReport(_Frozen):
    """Quarterly maintenance report for one customer (DOMAIN.md "Reports", rule book 1 ⑤)."""

    customer_id: str
    customer_name: str
    period: str  # YYYY-Qn
    first_day: date
    last_day: date
    time_zones: list[str]  # of the customer's sites
    site_ids: list[str]
    generated_at: datetime
    tickets_count: int
    tickets_by_month: list[MonthTickets]
    resolved_count: int  # of the period's tickets, resolved by the time of the report
    arrival: DeadlineCompliance
    resolution: DeadlineCompliance
    repeat_faults: list[RepeatFault]
    satisfaction: Satisfaction
    inspections_done: list[KindCount]
    inspections_done_count: int
    overdue_at_end: list[OverdueItem]
    overdue_as_of: datetime  # the period's end, or the report's time if the period has not ended
    complaints_by_class_count: dict[str, int]


class Finding(_Frozen):
    inspection_id: int
    target_id: str
    source: str  # checklist | field-reading | pressure-test
    detail: str


class Flag(_Frozen):
    inspection_id: int
    asset_id: str
    kind: str  # door-never-opened | door-no-data
    detail: str
    reviewed_by: str | None


class InspectionDone(_Frozen):
    id: int
    kind: str
    target_id: str  # an asset, a plant item, or "site:<id>"
    started_at: datetime
    ended_at: datetime
    in_charge: str
    people: list[str]
    items_checked_count: int
    items_failed_count: int


class SystemSection(_Frozen):
    system: str  # regulator_stations | security_systems | field_plant
    title: str
    inspections: list[InspectionDone]
    done_by_kind: list[KindCount]
    items_checked_count: int
    items_failed_count: int
    findings: list[Finding]
    flags: list[Flag]
    overdue_at_end: list[OverdueItem]


class InspectionReport(_Frozen):
    """Monthly inspection report for one site, per system (DOMAIN.md "Reports", rule book 2 (3))."""

    site_id: str
    site_name: str
    customer_id: str
    customer_name: str
    time_zone: str
    period: str  # YYYY-MM
    first_day: date
    last_day: date
    generated_at: datetime
    overdue_as_of: datetime
    systems: list[SystemSection]


class CustomerComplaintRate(_Frozen):
    customer_id: str
    customer_name: str
    time_zone: str
    complaints_count: int
    by_class_count: dict[str, int]  # quality | non_quality | other
    service_calls_count: int  # tickets opened in the month, internal (type D) excluded
    complaint_rate_pct: float | None  # complaints / service calls * 100; None without calls
    due_at: datetime  # the 5th of the next month, 17:00 site time


class ComplaintRateReport(_Frozen):
    """Monthly complaint rate per customer (DOMAIN.md "Tickets", rule book 11)."""

    period: str  # YYYY-MM
    first_day: date
    last_day: date
    generated_at: datetime
    customers: list[CustomerComplaintRate]
