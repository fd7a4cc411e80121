"""Relational records: inventory, alerts, tickets and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sitewatch.storage.database import UtcDateTime


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
    # The summary as a message id and parameters, shown in the reader's language
    # (i18n/messages.py); None on rows written before, which show ``summary``.
    summary_msg: Mapped[dict[str, Any] | None] = mapped_column(JSON)
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
    # The ticket it paged on: the one it opened, or the fault's ticket it joined as a
    # symptom (tickets/correlation.py). None while held or never paged.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)

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
    # The fault group (a rule's ``fault``): its other alerts on the asset join this ticket.
    fault: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(400))
    # The title as a message (i18n/messages.py), shown in the reader's language; None for a
    # title a person typed or a row written before, which show ``title``.
    title_msg: Mapped[dict[str, Any] | None] = mapped_column(JSON)
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
    """Append-only: who changed what and when. Written only by sitewatch.storage.repository.audit; the
    database refuses UPDATE and DELETE (revision 0004), and each row is chained to the one
    before it (storage/audit_chain.py)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(32))  # ticket | alert | customer | site | asset
    entity_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(Integer)  # its place in the chain: 1, 2, 3 ... in id order
    prev_hash: Mapped[str] = mapped_column(String(64))  # the row before it's row_hash (hex SHA-256)
    row_hash: Mapped[str] = mapped_column(String(64))  # over its fields and prev_hash

    __table_args__ = (
        Index("ix_audit_entity", "entity", "entity_id"),
        Index("uq_audit_log_seq", "seq", unique=True),
    )


class AuditChainHeadRow(Base):
    """Where the audit log's hash chain ends (storage/audit_chain.py): one row, made with the
    first audit row. Writers lock it to take the next place; its seq never goes back."""

    __tablename__ = "audit_chain_head"
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


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


# --- inspections: checklist results, field readings, pressure tests, evidence, rain -----


class InspectionResultRow(Base):
    """One checklist item of an inspection, for its target (an asset, a plant item or the
    site: "site:<id>"). Re-recorded while the inspection runs; every change is audited."""

    __tablename__ = "inspection_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[int] = mapped_column(Integer, index=True)
    target_id: Mapped[str] = mapped_column(String(64))
    item: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(8))  # ok | fault | na
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("uq_inspection_result", "inspection_id", "target_id", "item", unique=True),)


class FieldReadingRow(Base):
    """A value read on site (U-tube manometer, gauge, portable detector) and SCADA's value of
    the same channel at the same moment: the check that SCADA is right (rule book 12 art. 8)."""

    __tablename__ = "field_readings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[int] = mapped_column(Integer, index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    scada_value: Mapped[float | None] = mapped_column(Float)  # None: no good sample near taken_at
    scada_ts: Mapped[datetime | None] = mapped_column(UtcDateTime)
    difference: Mapped[float | None] = mapped_column(Float)  # field - SCADA, in unit
    tolerance: Mapped[float | None] = mapped_column(Float)
    within_tolerance: Mapped[bool | None] = mapped_column(Boolean)
    ticket_id: Mapped[int | None] = mapped_column(Integer)  # the calibration ticket it opened or joined
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))


class PressureTestRow(Base):
    """Spring/autumn test of one regulator path: operating, lock-up, relief and slam-shut
    pressure (kPa). Not compliant: the maker repairs within two weeks, tracked by a ticket."""

    __tablename__ = "pressure_tests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[int] = mapped_column(Integer, index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(16))  # running | standby
    operating_kpa: Mapped[float] = mapped_column(Float)
    lock_up_kpa: Mapped[float] = mapped_column(Float)
    relief_kpa: Mapped[float] = mapped_column(Float)
    slam_shut_kpa: Mapped[float] = mapped_column(Float)
    compliant: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[list[str]] = mapped_column(JSON, default=list)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    repair_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))


class InspectionFlagRow(Base):
    """Evidence against an inspection, for the manager (DOMAIN.md: an inspection reported
    but not done is the worst offence): e.g. the station's door never opened meanwhile."""

    __tablename__ = "inspection_flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[int] = mapped_column(Integer, index=True)
    asset_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # door-never-opened | door-no-data
    detail: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    review_note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("uq_inspection_flag", "inspection_id", "asset_id", "kind", unique=True),)


class RainEventRow(Base):
    """It rained at a site: its low-lying valve wells are due again (rule book 12 art. 11)."""

    __tablename__ = "rain_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")


class DailyReviewRow(Base):
    """One site's regulator station operation log for one day (review/). ``content`` is the
    canonical JSON whose SHA-256 is ``content_sha256``; once ``signed_at`` is set nothing in
    the row may change (review/sign.py refuses it before it reaches the database)."""

    __tablename__ = "daily_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))  # site-local date the window ends on, YYYY-MM-DD
    content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    abnormal_stations: Mapped[int] = mapped_column(Integer)
    generated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    generated_by: Mapped[str] = mapped_column(String(100))
    signed_by: Mapped[str | None] = mapped_column(String(200))  # the manager's name as signed
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signed_actor: Mapped[str | None] = mapped_column(String(100))  # the authenticated account
    # Field-check tickets opened for its abnormal stations: {station_id: ticket_id}; not part
    # of the signed content (the tickets live on after the log is signed).
    field_check_tickets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("uq_daily_reviews_site_day", "site_id", "day", unique=True),)


# --- reports: the complaint register ------------------------------------------------------


class ComplaintRow(Base):
    """A customer's complaint (DOMAIN.md "Tickets", rule book 11), classified quality,
    non_quality (human) or other; counted in the monthly complaint rate. Recorded once and
    audited; reports/complaints.py refuses any later change before it reaches the database."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(Integer)  # the service call it is about, if any
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    complaint_class: Mapped[str] = mapped_column(String(16))  # quality | non_quality | other
    description: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))


# --- people: users, their browser sessions, login attempts --------------------------------


class UserRow(Base):
    """A person who logs in. ``customers`` empty = every customer; otherwise the only
    customers whose sites, assets, tickets, reports and complaints the user sees."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))  # Argon2id, with its own salt and parameters
    role: Mapped[str] = mapped_column(String(16))  # viewer | dispatcher | technician | manager | admin
    customers: Mapped[list[str]] = mapped_column(JSON, default=list)
    locale: Mapped[str | None] = mapped_column(String(16))  # None: the browser's language
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebSessionRow(Base):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is kept, so a
    copy of the database logs nobody in. Kept in the database, not in one process's memory,
    so any API process can serve any browser and a restart logs nobody out."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class LoginAttemptRow(Base):
    """Every password login, for the rate limit (by username and by address) and the audit."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    remote: Mapped[str] = mapped_column(String(64), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)


# --- fleet: leases on shards and fleet-wide chores ----------------------------------------


class LeaseRow(Base):
    """Who holds a named lease (a shard, a fleet-wide chore) and until when (storage/leases.py).
    The row outlives its holders: ``generation`` only ever grows, so a holder's generation is
    a fencing token a later holder's writes can be told apart by."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))  # None: released
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)  # held while now < expires_at
    renewed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    generation: Mapped[int] = mapped_column(Integer)  # +1 on every claim


class DeviceHealthRow(Base):
    """A polled device's health as its collector last saved it (storage/device_health.py), for
    processes that do not poll it: API processes and the other workers. Mirrors
    sitewatch.domain.health.DeviceHealth; ``updated_at`` is when the collector last wrote the row."""

    __tablename__ = "device_health"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # domain.health.HealthState's value
    last_success: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_failure: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer)
    polls_ok: Mapped[int] = mapped_column(Integer)
    polls_failed: Mapped[int] = mapped_column(Integer)
    exception_responses: Mapped[int] = mapped_column(Integer)
    malformed_replies: Mapped[int] = mapped_column(Integer)
    timeouts: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
