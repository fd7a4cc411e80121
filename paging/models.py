"""What paging passes between its parts: the facts of a ticket, what to tell about it, and
the message a channel sends. Small and immutable; times aware UTC (shown in the site's
local time only by paging/messages.py)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sitewatch.i18n.messages import Message


class NoticeKind(str, enum.Enum):
    OPENED = "opened"  # a new fault: level 1 of the route
    RAISED = "raised"  # its severity went up (a more severe symptom, a step-up)
    ESCALATION = "escalation"  # nobody acknowledged it: the next level
    REPEAT = "repeat"  # still unacknowledged after the route's repeat interval
    CLEARED = "cleared"  # every alert of the fault resolved (the ticket stays open)
    DISPATCHED = "dispatched"  # to the technician it was given to
    ARRIVE_SOON = "arrive_soon"  # arrive-by near and nobody on site: technician and desk
    BREACHED = "breached"  # arrive-by passed with nobody on site: the manager
    RESOLVE_OVERDUE = "resolve_overdue"  # not resolved by the same day / committed time: the manager
    END_OF_DAY = "end_of_day"  # the site's working day ends: resolve today or commit a time
    SUMMARY = "summary"  # a storm: the rest of a window's messages about one site, in one


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """A ticket as a message tells it, read from the database when the message is planned."""

    ticket_id: int
    title: Message | str
    severity: str  # domain.alerts.Severity value
    state: str  # domain.tickets.TicketState value
    site_id: str
    site_name: str
    time_zone: str  # the site's: every time in a message is shown in it
    asset_id: str
    asset_name: str
    customer_name: str
    opened_at: datetime
    arrive_by: datetime
    resolve_by: datetime | None
    desk: str
    link: str  # the ticket page, for people to open (after logging in) and acknowledge
    assignee: str | None = None
    occurrences: int = 1
    symptoms: tuple[Message | str, ...] = ()  # the summaries of its alerts, the first being the fault
    committed_reason: str = ""  # why the resolution was put off (a committed time), if it was


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell: what happened (``kind``) to a ticket, or the tickets a summary folds."""

    kind: NoticeKind
    at: datetime
    ticket: TicketFacts | None = None  # None only for SUMMARY
    level: int = 1  # ESCALATION / REPEAT: the level reached
    items: tuple[TicketFacts, ...] = ()  # SUMMARY: the tickets it stands for
    site_name: str = ""  # SUMMARY: the site they are all at
    time_zone: str = "Asia/Shanghai"  # SUMMARY: that site's zone
    link: str = ""  # SUMMARY: the ticket list of the site
    acknowledged_by: str | None = None  # CLEARED after an acknowledgement, for the record


@dataclass(frozen=True, slots=True)
class Content:
    """A notice written for one language: every form a channel may need."""

    subject: str  # one line: e-mail subject, markdown title
    text: str  # plain text body (e-mail)
    markdown: str  # WeCom / DingTalk markdown
    short: str  # SMS: one short paragraph ending with the link
    data: dict[str, Any] = field(default_factory=dict)  # the generic webhook's structured part (JSON-able)

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "text": self.text, "markdown": self.markdown, "short": self.short,
                "data": self.data}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Content:
        return cls(subject=value["subject"], text=value["text"], markdown=value["markdown"], short=value["short"],
                   data=value.get("data", {}))


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one recipient through one channel, as the sender hands it over.

    ``key`` is the same on every attempt of this message (the webhook's
    X-Sitewatch-Delivery header, the e-mail's Message-ID, the SMS template's ``{id}``): a
    receiver that keeps it can drop a repeat after a crash between the send and its record.
    """

    key: str
    content: Content
    address: str | None = None  # e-mail address or phone number; None for a group channel
    mentions: tuple[str, ...] = ()  # phones to @ in a group chat (the person on call)
