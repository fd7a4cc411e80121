"""What the API returns: ``*Public`` models (never a secret), ``*In`` models for writes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sitewatch.api.bounds import Instant, StoredId
from sitewatch.domain.tickets import ServiceType, TicketState
from sitewatch.i18n import messages


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SitePublic(_Out):
    id: str
    customer_id: str
    name: str
    address: str
    time_zone: str
    sla_zone: str


class HealthPublic(_Out):
    state: str
    last_success: datetime | None
    last_failure: datetime | None
    last_error: str | None
    consecutive_failures: int
    polls_ok: int
    polls_failed: int
    exception_responses: int
    malformed_replies: int
    timeouts: int


class ValuePublic(BaseModel):
    channel: str
    value: float | None  # null when the last poll failed
    unit: str
    quality: str  # good | comm_error | stale | not_polled
    ts: datetime


class AssetPublic(_Out):
    id: str
    site_id: str
    kind: str
    name: str
    details: dict  # host, port, device_id, profile, poll_interval_s: never credentials
    reported: dict = Field(default_factory=dict)  # what the device says: model, firmware, serial
    health: HealthPublic | None = None
    values: list[ValuePublic] = Field(default_factory=list)


class SamplePublic(BaseModel):
    ts: datetime
    channel: str
    value: float | None
    unit: str
    quality: str


class AlertPublic(_Out):
    id: int
    fingerprint: str
    asset_id: str
    rule_id: str
    channel: str
    severity: str
    state: str
    started_at: datetime
    resolved_at: datetime | None
    value: float | None
    unit: str
    summary: str  # in the request's language (from summary_msg; rows from before it: the stored English)
    summary_msg: dict | None = Field(default=None, exclude=True)
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str
    escalated_at: datetime | None
    suppressed_by: str | None  # why it pages nobody: maintenance:<id>, inspection:<id>, offline:<asset>, site-down:<site>
    muted_until: datetime | None
    muted_by: str | None
    mute_reason: str
    ticket_id: int | None  # the ticket it paged on: opened it, or joined it as a symptom of the same fault

    @model_validator(mode="after")
    def _summary_in_the_readers_language(self) -> AlertPublic:
        self.summary = messages.render(self.summary_msg, self.summary)
        return self


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)


class MuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(gt=0, le=24 * 60)
    reason: str = Field(min_length=1, max_length=2000)


class TicketPublic(_Out):
    id: int
    fingerprint: str
    asset_id: str
    site_id: str
    rule_id: str | None
    fault: str | None  # the fault group ([correlation.faults]) whose alerts join this ticket
    title: str  # in the request's language (from title_msg; a typed title or an older row: as stored)
    title_msg: dict | None = Field(default=None, exclude=True)
    severity: str
    priority: int
    state: str
    service_type: str
    source: str
    opened_at: datetime
    arrive_by: datetime
    arrived_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla_breached: bool
    occurrences: int
    repeat_of: int | None
    assignee: str | None
    desk: str
    resolve_by: datetime | None
    resolve_reason: str
    resolve_breached: bool
    cause: str
    work_done: str
    work_hours: float | None
    parts_used: str
    customer_name: str | None
    rating_attitude: int | None
    rating_skill: int | None
    rating_arrival_time: int | None
    rating_follow_through: int | None

    @model_validator(mode="after")
    def _title_in_the_readers_language(self) -> TicketPublic:
        self.title = messages.render(self.title_msg, self.title)
        return self


class AuditPublic(_Out):
    at: datetime
    actor: str
    action: str
    detail: dict


class TicketDetail(TicketPublic):
    history: list[AuditPublic]
    alerts: list[AlertPublic]  # the fault's alerts since the ticket opened, with who acknowledged them


class RatingIn(BaseModel):
    """Four axes, four levels each: 1 dissatisfied, 2 fair, 3 satisfied, 4 very satisfied."""

    model_config = ConfigDict(extra="forbid")

    attitude: int = Field(ge=1, le=4)
    skill: int = Field(ge=1, le=4)
    arrival_time: int = Field(ge=1, le=4)
    follow_through: int = Field(ge=1, le=4)


class TicketTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: TicketState
    note: str = Field(default="", max_length=2000)
    assignee: str | None = Field(default=None, max_length=100)  # dispatched
    service_type: ServiceType | None = None  # until resolved: A paid, B contract, C warranty, D internal
    cause: str = Field(default="", max_length=4000)  # resolved
    work_done: str = Field(default="", max_length=4000)  # resolved
    work_hours: float | None = Field(default=None, ge=0, le=1000)  # resolved
    parts_used: str = Field(default="", max_length=2000)  # resolved
    customer_name: str | None = Field(default=None, max_length=200)  # signed_off
    rating: RatingIn | None = None  # signed_off


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolve_by: Instant
    reason: str = Field(min_length=1, max_length=2000)


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: str
    asset_id: str | None = None  # None: the whole site
    # A plan kind (GET /api/inspection-plans): regulator_round, security_monthly, ...
    kind: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    in_charge: str = Field(min_length=1, max_length=100)  # a regulator_round needs one more in people
    people: list[str] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=2000)


class FinishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


class InspectionPublic(_Out):
    id: int
    site_id: str
    asset_id: str | None
    kind: str
    in_charge: str
    people: list[str]
    started_at: datetime
    ended_at: datetime | None
    started_by: str
    note: str


# --- inspections: plans, due lists, records, evidence, contracts ----------------------


class PlanPublic(BaseModel):
    kind: str
    title: str
    source: str
    target_kinds: list[str]
    every_months: int | None
    every_days: int | None
    seasons: list[str]  # e.g. "spring 03-01..05-31"
    overhaul_years: dict[str, int] | None
    after_rain_days: int | None
    min_people: int
    min_dn_mm: int | None
    below_dn_mm: int | None
    compare_with_scada: bool
    items: list[dict[str, str]]  # {"key", "text"}


class DuePublic(BaseModel):
    site_id: str
    target_id: str
    target_kind: str
    target_name: str
    kind: str  # the plan, and the inspection kind that does it
    title: str
    status: str  # overdue | due | scheduled
    due_on: date  # site-local: the last day it may be done
    window_start: date | None
    last_done_on: date | None  # site-local
    reason: str
    technician: str | None


class ResultEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=64)
    outcome: Literal["ok", "fault", "na"]
    note: str = Field(default="", max_length=2000)
    target_id: str | None = Field(default=None, max_length=64)  # default: the inspection's asset, else the site


class ResultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[ResultEntryIn] = Field(min_length=1, max_length=200)


class ResultPublic(_Out):
    target_id: str
    item: str
    outcome: str
    note: str
    recorded_at: datetime
    recorded_by: str


class ReadingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_id: str | None = None  # default: the inspection's asset
    channel: str = Field(min_length=1, max_length=64)  # a SCADA channel: inlet_mpa, outlet_kpa, gas_lel_pct
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1, max_length=16)  # must be the channel's unit: kPa is not MPa
    taken_at: Instant | None = None  # when it was read; default: now


class ReadingPublic(_Out):
    id: int
    asset_id: str
    channel: str
    value: float
    unit: str
    taken_at: datetime
    scada_value: float | None
    scada_ts: datetime | None
    difference: float | None
    tolerance: float | None
    within_tolerance: bool | None
    ticket_id: int | None


class PressureTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_id: str | None = None
    path: Literal["running", "standby"]
    operating_kpa: float = Field(gt=0, allow_inf_nan=False)
    lock_up_kpa: float = Field(gt=0, allow_inf_nan=False)
    relief_kpa: float = Field(gt=0, allow_inf_nan=False)
    slam_shut_kpa: float = Field(gt=0, allow_inf_nan=False)


class PressureTestPublic(_Out):
    id: int
    asset_id: str
    path: str
    operating_kpa: float
    lock_up_kpa: float
    relief_kpa: float
    slam_shut_kpa: float
    compliant: bool
    findings: list[str]
    ticket_id: int | None
    repair_by: datetime | None


class FlagPublic(_Out):
    id: int
    inspection_id: int
    asset_id: str
    kind: str  # door-never-opened | door-no-data
    detail: str
    raised_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None
    review_note: str


class FlagReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)


class InspectionDetail(InspectionPublic):
    results: list[ResultPublic]
    readings: list[ReadingPublic]
    pressure_tests: list[PressureTestPublic]
    flags: list[FlagPublic]


class RainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: Instant | None = None  # default: now
    note: str = Field(default="", max_length=2000)


class ContractPublic(BaseModel):
    site_id: str
    what: str  # free-maintenance-end | contract-end
    ends_on: date
    days_left: int
    remind_on: list[date]  # 3 months and 1 month before


# --- reports: the complaint register -------------------------------------------------------


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=64)
    site_id: str | None = Field(default=None, max_length=64)
    ticket_id: StoredId | None = None  # the service call it is about
    received_at: Instant | None = None  # default: now
    complaint_class: Literal["quality", "non_quality", "other"]  # non_quality: human (attitude, conduct)
    description: str = Field(min_length=1, max_length=4000)


class ComplaintPublic(_Out):
    id: int
    customer_id: str
    site_id: str | None
    ticket_id: int | None
    received_at: datetime
    complaint_class: str
    description: str
    recorded_at: datetime
    recorded_by: str


class FieldErrorPublic(BaseModel):
    loc: list[str | int]  # where: ["query", "start"], ["body", "note"]
    msg: str
    type: str


class RefusalPublic(BaseModel):
    """A 422: the request is well-formed but asks for what is not allowed. ``detail`` is the
    list of values that failed validation (where and why; api/bounds.py), or one sentence from
    the workflow (a ticket move without its details, a mute too long, a complaint refused)."""

    detail: list[FieldErrorPublic] | str


class LoopPublic(_Out):
    state: Literal["running", "restarting"]
    restarts: int
    errors: int  # unexpected errors, each logged with its traceback
    last_error: str | None
    last_error_at: datetime | None


class BufferPublic(_Out):
    samples: int  # waiting on disk for the store
    max_samples: int
    warn_at: int
    warning: bool  # samples >= warn_at: the control room shows it
    spooled: int  # since start
    replayed: int  # since start
    dropped: int  # since start: lost to a full buffer


class ServiceHealthPublic(BaseModel):
    # degraded: a loop is restarting or failed in the last minutes, or a buffer is past its warning level
    status: Literal["ok", "degraded"]
    checks: dict[str, str]  # database, store: "ok", or what went wrong when asked just now
    devices: dict[str, int]  # polled devices by health state
    loops: dict[str, LoopPublic]
    set_aside: dict[str, int]  # by kind: what could not be processed and was put aside
    inputs: dict[str, dict[str, int]]  # e.g. alarm_hosts: accepted, malformed, duplicates...
    buffers: dict[str, BufferPublic]  # e.g. store: the store-and-forward buffer while the store is down
