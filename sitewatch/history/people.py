"""The demo's users: one per role and a viewer who sees one customer only, each with a
password made for this run, and the table of their logins the demo prints."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from sitewatch import i18n
from sitewatch.auth.roles import Role
from sitewatch.auth.users import add_user, get_user, set_password


@dataclass(frozen=True, slots=True)
class Person:
    username: str
    role: Role
    display_name: str
    customers: tuple[str, ...] = ()  # empty: every customer


# Usernames are people's, not roles': they show as assignees, crews, signers and actors in
# the audit log, and read there as a control room's would.
ADMIN = Person("zhao.lei", Role.ADMIN, "Zhao Lei")
DISPATCHER = Person("li.na", Role.DISPATCHER, "Li Na")
TECHNICIAN = Person("wang.qiang", Role.TECHNICIAN, "Wang Qiang")
MANAGER = Person("chen.jie", Role.MANAGER, "Chen Jie")
VIEWER = Person("zhou.min", Role.VIEWER, "Zhou Min")
APPRENTICE = "Liu Yang"  # the second of a two-person regulator round: no login of his own


def demo_people(*, scoped_customer: str) -> tuple[Person, ...]:
    """Everyone who logs in to the demo: one per role, then a viewer of ``scoped_customer`` only."""
    return (VIEWER, DISPATCHER, TECHNICIAN, MANAGER, ADMIN,
            Person("sun.hui", Role.VIEWER, "Sun Hui", (scoped_customer,)))


@dataclass(frozen=True, slots=True)
class Login:
    person: Person
    password: str


def add_people(sessions: sessionmaker[Session], people: Sequence[Person], *, at: datetime) -> list[Login]:
    """Create the users, or give them new passwords when the data folder is one a previous
    demo left (the old passwords were never kept). The admin creates the others."""
    logins = []
    with sessions() as session:
        for person in people:
            password = secrets.token_urlsafe(12)  # 16 characters
            actor = "demo" if person.role is Role.ADMIN else ADMIN.username
            if get_user(session, person.username) is None:
                add_user(session, person.username, password, role=person.role.value, at=at, actor=actor,
                         display_name=person.display_name, customers=person.customers)
            else:
                set_password(session, person.username, password, at=at, actor="demo")
            logins.append(Login(person, password))
        session.commit()
    return logins


def logins_table(logins: Sequence[Login]) -> str:
    """Username, role, scope and password of each, in columns, in the current locale."""
    _ = i18n.gettext
    rows = [(_("Username"), _("Role"), _("Scope"), _("Password"))]
    rows += [(login.person.username, _(login.person.role.value),
              ", ".join(login.person.customers) or _("all customers"), login.password) for login in logins]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("    " + "  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if "\u2e80" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" else 1 for c in text)
