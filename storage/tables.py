"""Relational records: inventory, alerts, tickets and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.database import UtcDateTime


class Base(DeclarativeBase):
    pass


class CustomerRow(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))


class SiteRow(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400), default="")
    time_zone: Mapped[str] = mapped_column(String(64))
    sla_zone: Mapped[str] = mapped_column(String(64))


class AssetRow(Base):
    __tablename__ = "assets"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # Non-secret connection facts (host, port, device_id, profile, poll_interval_s).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the device says about itself (a camera's model, firmware, serial), kept apart
    # from `details` so a config re-sync never overwrites it.
    reported: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertRow(Base):
    """One alert instance: from firing to resolved. At most one firing per fingerprint."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(200), index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # firing | resolved
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    # The control room's acknowledgement: silences the alarm sound, keeps the alert.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    ack_comment: Mapped[str] = mapped_column(Text, default="")
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Why it pages nobody (yet): "maintenance:<window>", "inspection:<id>", "offline:<asset>"
    # or "site-down:<site>" (tickets/holds.py). Announced when the reason ends.
    suppressed_by: Mapped[str | None] = mapped_column(String(100))
    # Muted by the control room: no sound or escalation until then; announced again after.
    muted_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    muted_by: Mapped[str | None] = mapped_column(String(100))
    mute_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index(
            "uq_alerts_firing_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("state = 'firing'"),
            postgresql_where=text("state = 'firing'"),
        ),
    )


class TicketRow(Base):
    """A maintenance ticket. At most one open (not closed) ticket per fingerprint: the
    partial unique index makes that hold even with two rules processes writing."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(200), index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(400))
    severity: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)  # 1 = most urgent
    state: Mapped[str] = mapped_column(String(16), index=True)
    service_type: Mapped[str] = mapped_column(String(1), default="B")
    source: Mapped[str] = mapped_column(String(16), default="rules")  # rules | manual
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    arrive_by: Mapped[datetime] = mapped_column(UtcDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    # The closed ticket this one repeats (same fault within REPEAT_WINDOW of its closing):
    # the same problem must not be repaired twice, so a repeat is itself a finding.
    repeat_of: Mapped[int | None] = mapped_column(Integer)
    assignee: Mapped[str | None] = mapped_column(String(100))
    desk: Mapped[str] = mapped_column(String(64), default="")  # who was on duty when it opened
    # Resolution deadline: the same (site-local) day, else a committed time with a reason
    # (DOMAIN.md). Each deadline missed is recorded once (resolve_overdue_for) and sticks.
    resolve_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolve_reason: Mapped[str] = mapped_column(Text, default="")
    resolve_overdue_for: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolve_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    # The technician's report (at "resolved") and the customer's sign-off.
    cause: Mapped[str] = mapped_column(Text, default="")
    work_done: Mapped[str] = mapped_column(Text, default="")
    work_hours: Mapped[float | None] = mapped_column(Float)
    parts_used: Mapped[str] = mapped_column(Text, default="")
    customer_name: Mapped[str | None] = mapped_column(String(200))
    # Four axes, four levels each (1 dissatisfied .. 4 very satisfied), DOMAIN.md "Tickets".
    rating_attitude: Mapped[int | None] = mapped_column(Integer)
    rating_skill: Mapped[int | None] = mapped_column(Integer)
    rating_arrival_time: Mapped[int | None] = mapped_column(Integer)
    rating_follow_through: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(
            "uq_tickets_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("state <> 'closed'"),
            postgresql_where=text("state <> 'closed'"),
        ),
    )


class InspectionRow(Base):
    """Technicians at work on a site (or one asset of it). While in progress, its alerts are
    recorded but page nobody: testing lock-up pressure must not call out the control room."""

    __tablename__ = "inspections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(64))  # None: the whole site
    kind: Mapped[str] = mapped_column(String(64))  # e.g. regulator_round, security_monthly
    in_charge: Mapped[str] = mapped_column(String(100))
    people: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    started_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")


class AuditRow(Base):
    """Append-only: who changed what and when. Nothing in the code updates or deletes it."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(32))  # ticket | alert | customer | site | asset
    entity_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)


class RulesStateRow(Base):
    """Durable snapshot of the rules engine's per-fingerprint state."""

    __tablename__ = "rules_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class CredentialRow(Base):
    """A delivered system's account, written and read only through vault.Vault.

    Username and password are AES-GCM ciphertext (nonce + ciphertext + tag), bound to the
    name and field, under the master key `key_id`; plaintext never reaches this table.
    """

    __tablename__ = "credentials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    username_enc: Mapped[bytes] = mapped_column(LargeBinary)
    password_enc: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_by: Mapped[str | None] = mapped_column(String(100))

    def __repr__(self) -> str:
        # The default repr would print the ciphertext columns; keep it to metadata.
        return f"CredentialRow(name={self.name!r}, key_id={self.key_id!r}, uses={self.uses})"
