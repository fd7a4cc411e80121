"""Roles and what each may do; a principal (a logged-in user or an integration's token)
and the customers it may see.

The permissions follow DOMAIN.md: the control room / dispatch desk acknowledges alarms
and dispatches; technicians work tickets and record inspections; the operations manager
signs the 08:30 log and orders field checks; admins manage users and see to the messages
paging gave up on. Everyone may read what their scope shows; a viewer may only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    DISPATCHER = "dispatcher"
    TECHNICIAN = "technician"
    MANAGER = "manager"
    ADMIN = "admin"


class Permission(StrEnum):
    ALERTS_ACKNOWLEDGE = "alerts.acknowledge"  # acknowledge, mute
    TICKETS_DISPATCH = "tickets.dispatch"  # open by hand, assign, follow up
    TICKETS_WORK = "tickets.work"  # arrive, resolve, customer sign-off, commit a date
    INSPECTIONS_RECORD = "inspections.record"  # start a round, checklist, readings, rain
    INSPECTIONS_REVIEW = "inspections.review"  # clear a field-reading flag
    REVIEW_GENERATE = "review.generate"  # make a day's 08:30 log (again)
    REVIEW_SIGN = "review.sign"
    COMPLAINTS_RECORD = "complaints.record"
    INVENTORY_WRITE = "inventory.write"
    USERS_MANAGE = "users.manage"
    PAGING_ADMIN = "paging.admin"  # the dead-letter list: send a message that was given up again
    BACKUP_MAKE = "backup.make"  # `sitewatch backup`: the running service copies its time series


_DISPATCH = {Permission.ALERTS_ACKNOWLEDGE, Permission.TICKETS_DISPATCH, Permission.COMPLAINTS_RECORD}
_FIELD = {Permission.ALERTS_ACKNOWLEDGE, Permission.TICKETS_WORK, Permission.INSPECTIONS_RECORD}
_MANAGE = _DISPATCH | _FIELD | {Permission.INSPECTIONS_REVIEW, Permission.REVIEW_GENERATE, Permission.REVIEW_SIGN}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(),
    Role.DISPATCHER: frozenset(_DISPATCH),
    Role.TECHNICIAN: frozenset(_FIELD),
    Role.MANAGER: frozenset(_MANAGE),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. ``customers`` None = every customer."""

    name: str  # the actor written to the audit log: a username or a token's name
    role: Role
    customers: frozenset[str] | None = None
    user_id: int | None = None  # None for a bearer token
    display_name: str = ""
    locale: str | None = None
    csrf_token: str | None = None  # set for a browser session: its unsafe requests must echo it

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def sees(self, customer_id: str | None) -> bool:
        return self.customers is None or customer_id in self.customers

    @property
    def writes(self) -> bool:
        return bool(PERMISSIONS[self.role])
