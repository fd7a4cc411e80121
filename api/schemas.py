"""What the API returns: ``*Public`` models (never a secret), ``*In`` models for writes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from domain.tickets import TicketState


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
    suppressed_by: str | None  # the maintenance window it fired in: recorded, nobody paged


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)


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


class AuditPublic(_Out):
    at: datetime
    actor: str
    action: str
    detail: dict


class TicketDetail(TicketPublic):
    history: list[AuditPublic]


class TicketTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: TicketState
    note: str = Field(default="", max_length=2000)
    assignee: str | None = Field(default=None, max_length=100)
