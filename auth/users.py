"""Users: passwords (Argon2id), roles, customer scope, login with a rate limit, and the
browser sessions a login opens. Every change and every login attempt is audited."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.auth.roles import Principal, Role
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import AuditRow, LoginAttemptRow, UserRow, WebSessionRow

SESSION_LIFETIME = timedelta(hours=12)  # one shift, and the hand-over
# Failed logins per username (and per address) within the window before logins are refused.
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

# Argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile): about 0.1 s a hash, on
# purpose. The test suite swaps HASHER for the cheapest Argon2id (tests/conftest.py): the same
# code, a fraction of the time; tests/auth/test_users.py checks PRODUCTION_HASHER's parameters.
PRODUCTION_HASHER = PasswordHasher()
HASHER = PRODUCTION_HASHER


class UserError(ValueError):
    """A refused change to a user: a bad name, a short password, an unknown role ... Its text
    is translated when shown (``str(exc)`` in the current locale: the admin page's, the CLI's)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message, self.params = message, params

    def __str__(self) -> str:
        return i18n.gettext(self.message, **self.params)


class LoginRefused(Exception):
    """Wrong username or password, or a disabled user (not told apart, on purpose)."""


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(i18n.lazy("A password needs at least %(n)s characters."), n=MIN_PASSWORD_LENGTH)


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(i18n.lazy("Unknown role %(role)s; the roles are %(roles)s."), role=repr(role),
                        roles=", ".join(r.value for r in Role)) from None


def check_customers(customers: Iterable[str], known: Collection[str]) -> list[str]:
    """The customer scope to keep, refused if it names a customer the configuration lacks."""
    chosen = sorted(set(customers))
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise UserError(i18n.lazy("Unknown customer(s): %(ids)s."), ids=", ".join(unknown))
    return chosen


def get_user(session: Session, username: str) -> UserRow | None:
    return session.scalar(select(UserRow).where(UserRow.username == username))


def list_users(session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.username)))


def add_user(session: Session, username: str, password: str, *, role: str, at: datetime, actor: str,
             display_name: str = "", customers: Iterable[str] = (), locale: str | None = None) -> UserRow:
    if not _USERNAME.match(username):
        raise UserError(i18n.lazy("Username %(name)s: 2-64 lower-case letters, digits, '.', '_' or '-'."),
                        name=repr(username))
    if get_user(session, username) is not None:
        raise UserError(i18n.lazy("User %(name)s exists already."), name=repr(username))
    _check_password(password)
    row = UserRow(username=username, display_name=display_name or username, password_hash=HASHER.hash(password),
                  role=_role(role).value, customers=sorted(set(customers)), locale=locale, disabled=False,
                  created_at=at, updated_at=at)
    session.add(row)
    session.flush()
    audit(session, at=at, actor=actor, entity="user", entity_id=username, action="created",
          detail={"role": row.role, "customers": row.customers, "display_name": row.display_name})
    return row


def _existing(session: Session, username: str) -> UserRow:
    row = get_user(session, username)
    if row is None:
        raise UserError(i18n.lazy("No user %(name)s."), name=repr(username))
    return row


def set_password(session: Session, username: str, password: str, *, at: datetime, actor: str) -> UserRow:
    row = _existing(session, username)
    _check_password(password)
    row.password_hash = HASHER.hash(password)
    row.updated_at = at
    _end_sessions(session, row.id)  # a new password logs every browser out
    audit(session, at=at, actor=actor, entity="user", entity_id=username, action="password_changed", detail={})
    return row


def set_role(session: Session, username: str, *, at: datetime, actor: str, role: str | None = None,
             customers: Iterable[str] | None = None) -> UserRow:
    row = _existing(session, username)
    before = {"role": row.role, "customers": list(row.customers or [])}
    if role is not None:
        row.role = _role(role).value
    if customers is not None:
        row.customers = sorted(set(customers))
    after = {"role": row.role, "customers": list(row.customers or [])}
    if after != before:
        row.updated_at = at
        _end_sessions(session, row.id)  # the new rights apply from the next login
        audit(session, at=at, actor=actor, entity="user", entity_id=username, action="role_changed",
              detail={"before": before, "after": after})
    return row


def set_disabled(session: Session, username: str, disabled: bool, *, at: datetime, actor: str) -> UserRow:
    row = _existing(session, username)
    if row.disabled != disabled:
        row.disabled = disabled
        row.updated_at = at
        _end_sessions(session, row.id)
        audit(session, at=at, actor=actor, entity="user", entity_id=username,
              action="disabled" if disabled else "enabled", detail={})
    return row


def set_locale(session: Session, user_id: int, locale: str | None, *, at: datetime) -> None:
    row = session.get(UserRow, user_id)
    if row is not None and row.locale != locale:
        row.locale = locale
        row.updated_at = at


# --- logging in ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str  # goes into the cookie; never stored
    principal: Principal
    expires_at: datetime


def log_in(session: Session, username: str, password: str, *, remote: str, at: datetime) -> OpenedSession:
    """Check the password and open a browser session; every attempt is recorded and audited.
    Refused before the password is even checked once the username or the address has failed
    too often within the window: guessing costs the guesser, not the Argon2 CPU."""
    username = username.strip().lower()[:64]
    _rate_limit(session, username, remote, at)
    row = get_user(session, username)
    ok = False
    if row is not None and not row.disabled:
        try:
            ok = HASHER.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    else:
        HASHER.hash(password)  # the same cost for an unknown name: timing tells nothing
    session.add(LoginAttemptRow(at=at, username=username, remote=remote[:64], ok=ok))
    audit(session, at=at, actor=username or "-", entity="user", entity_id=username or "-",
          action="login" if ok else "login_failed", detail={"remote": remote})
    if not ok:
        session.commit()  # the failure counts even though the caller answers with an error
        raise LoginRefused("wrong username or password")
    assert row is not None
    if HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = HASHER.hash(password)
    token = secrets.token_urlsafe(32)
    expires = at + SESSION_LIFETIME
    session.add(WebSessionRow(token_sha256=token_digest(token), user_id=row.id, csrf_token=secrets.token_urlsafe(24),
                              created_at=at, expires_at=expires))
    session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < at))
    session.flush()
    principal = principal_of_session(session, token, at=at)
    assert principal is not None
    return OpenedSession(token, principal, expires)


def _rate_limit(session: Session, username: str, remote: str, at: datetime) -> None:
    since = at - FAILURE_WINDOW
    for column, value, limit in ((LoginAttemptRow.username, username, MAX_FAILURES_PER_USER),
                                 (LoginAttemptRow.remote, remote, MAX_FAILURES_PER_ADDRESS)):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginAttemptRow.at))
            .where(column == value, LoginAttemptRow.ok.is_(False), LoginAttemptRow.at > since)
        ).one()
        if count >= limit:
            retry = max(1, int((oldest + FAILURE_WINDOW - at).total_seconds()) + 1)
            audit(session, at=at, actor=username or "-", entity="user", entity_id=username or "-",
                  action="login_throttled", detail={"remote": remote})
            session.commit()
            raise TooManyAttempts(retry)


def principal_of_session(session: Session, token: str, *, at: datetime) -> Principal | None:
    found = session.execute(
        select(WebSessionRow, UserRow).join(UserRow, UserRow.id == WebSessionRow.user_id)
        .where(WebSessionRow.token_sha256 == token_digest(token))
    ).first()
    if found is None:
        return None
    web, user = found
    if web.expires_at <= at or user.disabled:
        return None
    return Principal(name=user.username, role=Role(user.role),
                     customers=frozenset(user.customers) if user.customers else None, user_id=user.id,
                     display_name=user.display_name, locale=user.locale, csrf_token=web.csrf_token)


def log_out(session: Session, token: str, *, at: datetime) -> None:
    principal = principal_of_session(session, token, at=at)
    session.execute(delete(WebSessionRow).where(WebSessionRow.token_sha256 == token_digest(token)))
    if principal is not None:
        audit(session, at=at, actor=principal.name, entity="user", entity_id=principal.name, action="logout",
              detail={})


LOGIN_ACTIONS = ("login", "login_failed", "login_throttled", "logout")


def recent_logins(session: Session, *, limit: int = 50) -> list[AuditRow]:
    """The newest login audit rows (logins, failures, throttles, logouts), newest first."""
    return list(session.scalars(
        select(AuditRow).where(AuditRow.entity == "user", AuditRow.action.in_(LOGIN_ACTIONS))
        .order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)))


def _end_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == user_id))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
