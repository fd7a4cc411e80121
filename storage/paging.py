"""Paging's records: the outbox, one page per ticket, and every message planned or sent.

The outbox is filled by sitewatch.storage.repository.audit in the transaction of the change it
records (a ticket opened, an alert acknowledged ...), so a change that committed is never
without its entry and an entry never exists for a change that rolled back. The planner
(paging/planner.py) turns entries into deliveries and marks them processed in one
transaction; senders (paging/sender.py) work from the deliveries. A processed outbox
entry is dropped after a day (the audit row it points to stays); nothing else here is
deleted: a delivery is the record of what was sent to whom, when, and with what answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sitewatch.storage.database import UtcDateTime
from sitewatch.storage.tables import AuditRow, Base


class OutboxRow(Base):
    """An audited change to a ticket or an alert that paging has still to look at."""

    __tablename__ = "paging_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audit_log.id"), unique=True)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    audit: Mapped[AuditRow] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_paging_outbox_pending", "id", sqlite_where=text("processed_at IS NULL"),
              postgresql_where=text("processed_at IS NULL")),
    )


class PageRow(Base):
    """A ticket some route pages people about: how far it has escalated, and what ended it."""

    __tablename__ = "pages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    route: Mapped[str] = mapped_column(String(64))
    desk: Mapped[str] = mapped_column(String(64))  # whose people are paged
    paged_at: Mapped[datetime] = mapped_column(UtcDateTime)
    level: Mapped[int] = mapped_column(Integer, default=1)  # the highest level told
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    last_told_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the repeat interval counts from here
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # every alert resolved
    clear_told_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # ... and people were told so
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # resolved or closed: nothing more to say

    __table_args__ = (
        Index("ix_pages_live", "paged_at", sqlite_where=text("acknowledged_at IS NULL AND ended_at IS NULL"),
              postgresql_where=text("acknowledged_at IS NULL AND ended_at IS NULL")),
    )


class ReminderRow(Base):
    """A reminder already planned for a ticket ("arrive_soon", "end_of_day:2026-12-07"): once each."""

    __tablename__ = "paging_reminders"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    mark: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryRow(Base):
    """One message to one recipient through one channel.

    States: ``pending`` (to send, at ``next_attempt_at``), ``waiting`` (a storm: waits for
    its window to end and a summary), ``folded`` (carried by the summary ``summary_id``),
    ``delivered``, ``dead`` (given up: the dead-letter list admins see and can retry).
    ``key`` is unique: planning the same message twice adds nothing, and it is the
    idempotency key every attempt carries.
    """

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # paging.models.NoticeKind
    level: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(200))  # paging.routes.Recipient.key
    person: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # paging.models.Content, as written then
    mentions: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UtcDateTime)  # waiting: when its storm window ends
    summary_id: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)  # a sender is on it until then
    last_error: Mapped[str] = mapped_column(Text, default="")
    receipt: Mapped[str] = mapped_column(Text, default="")  # the receiver's answer
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dead_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retried_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # an admin sent a dead letter again

    __table_args__ = (
        Index("ix_deliveries_due", "next_attempt_at", sqlite_where=text("state = 'pending'"),
              postgresql_where=text("state = 'pending'")),
        Index("ix_deliveries_queue", "recipient", "ticket_id", "state"),
        Index("ix_deliveries_storm", "channel", "recipient", "site_id", "created_at"),
    )
