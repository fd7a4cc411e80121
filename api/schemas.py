"""What the API returns: ``*Public`` models (never a secret), ``*In`` models for writes."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.tickets import ServiceType, TicketState


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
    quality: str  # good | comm_error | stale
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
    summary: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str
    escalated_at: datetime | None
    suppressed_by: str | None  # why it pages nobody: maintenance:<id>, inspection:<id>, offline:<asset>, site-down:<site>
    muted_until: datetime | None
    muted_by: str | None
    mute_reason: str


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
    title: str
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

    resolve_by: AwareDatetime
    reason: str = Field(min_length=1, max_length=2000)


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: str
    asset_id: str | None = None  # None: the whole site
    kind: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    in_charge: str = Field(min_length=1, max_length=100)
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
