"""Users in the database: Argon2id hashes, logins refused alike for a wrong password, an
unknown name and a disabled user, changes that end sessions, and the audit of all of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from sitewatch import i18n
from sitewatch.auth.roles import Role
from sitewatch.auth.users import (
    LoginRefused,
    UserError,
    add_user,
    get_user,
    log_in,
    principal_of_session,
    set_disabled,
    set_password,
    set_role,
)
from sitewatch.storage.tables import AuditRow, LoginAttemptRow
from tests.auth.conftest import NOW

PASSWORD = "correct horse battery"


@pytest.fixture
def session(db_session_factory):
    with db_session_factory() as s:
        add_user(s, "li.wei", PASSWORD, role="dispatcher", customers=["citygas"], display_name="Li Wei", at=NOW,
                 actor="admin")
        s.commit()
        yield s


def audit_of(session, username: str) -> list[tuple[str, str]]:
    session.commit()  # audit rows are written at the commit (storage/audit_chain.py), as the API's requests end
    rows = session.scalars(select(AuditRow).where(AuditRow.entity == "user", AuditRow.entity_id == username)
                           .order_by(AuditRow.id))
    return [(r.actor, r.action) for r in rows]


def test_the_database_keeps_an_argon2id_hash_never_the_password(session):
    row = get_user(session, "li.wei")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert PasswordHasher().verify(row.password_hash, PASSWORD)
    other = add_user(session, "wang.fang", PASSWORD, role="viewer", at=NOW, actor="admin")
    assert other.password_hash != row.password_hash, "each hash has its own salt"


def test_the_service_hashes_with_argon2id_at_the_rfc_9106_low_memory_profile():
    from argon2.profiles import RFC_9106_LOW_MEMORY

    from sitewatch.auth import users

    production = users.PRODUCTION_HASHER
    assert (production.type, production.time_cost, production.memory_cost, production.parallelism) == (
        RFC_9106_LOW_MEMORY.type, RFC_9106_LOW_MEMORY.time_cost, RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism), "the tests run a cheap hasher; the service must not"


def test_a_login_opens_a_session_with_role_scope_and_csrf_token(session):
    opened = log_in(session, "Li.Wei ", PASSWORD, remote="10.0.0.5", at=NOW)
    p = opened.principal
    assert (p.name, p.role, p.customers, p.display_name) == ("li.wei", Role.DISPATCHER, frozenset({"citygas"}), "Li Wei")
    assert p.csrf_token and opened.expires_at == NOW + timedelta(hours=12)
    assert principal_of_session(session, opened.token, at=NOW + timedelta(hours=11)) == p
    assert principal_of_session(session, opened.token, at=NOW + timedelta(hours=12)) is None, "expired"
    assert audit_of(session, "li.wei")[-1] == ("li.wei", "login")


@pytest.mark.parametrize("username, password", [("li.wei", "wrong password!"), ("nobody", PASSWORD)])
def test_a_wrong_password_and_an_unknown_name_are_refused_alike_and_audited(session, username, password):
    with pytest.raises(LoginRefused, match="wrong username or password"):
        log_in(session, username, password, remote="10.0.0.5", at=NOW)
    assert audit_of(session, username)[-1] == (username, "login_failed")
    [attempt] = session.scalars(select(LoginAttemptRow)).all()
    assert (attempt.username, attempt.remote, attempt.ok) == (username, "10.0.0.5", False)


def test_a_disabled_user_cannot_log_in_and_loses_the_open_session(session):
    opened = log_in(session, "li.wei", PASSWORD, remote="-", at=NOW)
    set_disabled(session, "li.wei", True, at=NOW, actor="admin")
    assert principal_of_session(session, opened.token, at=NOW) is None
    with pytest.raises(LoginRefused):
        log_in(session, "li.wei", PASSWORD, remote="-", at=NOW)
    set_disabled(session, "li.wei", False, at=NOW, actor="admin")
    assert log_in(session, "li.wei", PASSWORD, remote="-", at=NOW).principal.name == "li.wei"
    assert [a for _, a in audit_of(session, "li.wei")] == ["created", "login", "disabled", "login_failed", "enabled",
                                                          "login"]


def test_a_new_password_or_role_ends_the_sessions_and_is_audited(session):
    first = log_in(session, "li.wei", PASSWORD, remote="-", at=NOW)
    set_password(session, "li.wei", "a new long passphrase", at=NOW, actor="admin")
    assert principal_of_session(session, first.token, at=NOW) is None
    with pytest.raises(LoginRefused):
        log_in(session, "li.wei", PASSWORD, remote="-", at=NOW)
    second = log_in(session, "li.wei", "a new long passphrase", remote="-", at=NOW)
    set_role(session, "li.wei", role="manager", customers=[], at=NOW, actor="admin")
    assert principal_of_session(session, second.token, at=NOW) is None
    third = log_in(session, "li.wei", "a new long passphrase", remote="-", at=NOW).principal
    assert (third.role, third.customers) == (Role.MANAGER, None), "empty scope: every customer"
    session.commit()
    changed = session.scalars(select(AuditRow).where(AuditRow.action == "role_changed")).one()
    assert changed.actor == "admin" and changed.detail == {"before": {"role": "dispatcher", "customers": ["citygas"]},
                                                         "after": {"role": "manager", "customers": []}}
    assert ("admin", "password_changed") in audit_of(session, "li.wei")
    set_role(session, "li.wei", role="manager", at=NOW, actor="admin")
    assert len(session.scalars(select(AuditRow).where(AuditRow.action == "role_changed")).all()) == 1, \
        "no change, no audit row"


@pytest.mark.parametrize("change, message", [
    (lambda s: add_user(s, "li.wei", PASSWORD, role="viewer", at=NOW, actor="a"), "exists already"),
    (lambda s: add_user(s, "Bad Name", PASSWORD, role="viewer", at=NOW, actor="a"), "lower-case letters"),
    (lambda s: add_user(s, "zhao", "short", role="viewer", at=NOW, actor="a"), "at least 10 characters"),
    (lambda s: add_user(s, "zhao", PASSWORD, role="boss", at=NOW, actor="a"), "Unknown role 'boss'"),
    (lambda s: set_role(s, "nobody", role="viewer", at=NOW, actor="a"), "No user 'nobody'"),
])
def test_refused_changes_say_why(session, change, message):
    with i18n.using("en"), pytest.raises(UserError, match=message):
        change(session)
    with i18n.using("zh_CN"), pytest.raises(UserError) as refused:
        change(session)
    assert str(refused.value) != refused.value.message, "shown in the reader's language"
