"""A collector's cached credential: counted once per fetch, rotation seen without restart."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy.exc import SQLAlchemyError

from sitewatch.domain.time import UTC
from sitewatch.vault import generate_key
from sitewatch.vault.cache import CachedCredential
from sitewatch.vault.keys import load_key
from sitewatch.vault.store import Vault

T0 = datetime(2026, 11, 27, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t


def test_a_rotated_password_is_used_within_the_check_interval(db_session_factory):
    key = load_key(env={"SITEWATCH_VAULT_KEY": generate_key()})
    admin = Vault(db_session_factory, key)
    admin.put("cam-01", username="admin", password="first", actor="lead", now=T0)
    clock = StepClock()
    collector = CachedCredential(Vault(db_session_factory, key), "cam-01", purpose="onvif", actor="collector",
                                 check_every_s=30, clock=clock)
    assert [collector() for _ in range(50)] == [("admin", "first")] * 50
    assert admin.describe("cam-01").uses == 1, "fifty SOAP calls, one counted fetch"
    admin.put("cam-01", username="admin", password="second", actor="lead", now=T0 + timedelta(seconds=5))
    clock.t = 10
    assert collector() == ("admin", "first"), "checked at most every 30 s"
    clock.t = 31
    assert collector() == ("admin", "second"), "the rotation is picked up without a restart"
    clock.t = 62
    assert collector() == ("admin", "second")
    assert admin.describe("cam-01").uses == 2, "an unchanged credential is not fetched again"


class CountingVault(Vault):
    """The real vault, counting what asks the database."""

    calls = 0

    def describe(self, *args, **kwargs):
        self.calls += 1
        return super().describe(*args, **kwargs)

    def get(self, *args, **kwargs):
        self.calls += 1
        return super().get(*args, **kwargs)


def test_a_refresh_ahead_of_a_poll_leaves_no_database_call_inside_it(db_session_factory):
    """A poller refreshes in a thread with its poll's budget; the calls signing inside the poll,
    on the event loop, must then find the credential fresh for that whole budget."""
    key = load_key(env={"SITEWATCH_VAULT_KEY": generate_key()})
    Vault(db_session_factory, key).put("cam-01", username="admin", password="first", actor="lead", now=T0)
    clock = StepClock()
    vault = CountingVault(db_session_factory, key)
    collector = CachedCredential(vault, "cam-01", purpose="onvif", actor="collector", check_every_s=30, clock=clock)
    assert collector.due(within_s=10)
    collector.refresh(within_s=10)
    assert vault.calls == 1 and not collector.due(within_s=10)
    clock.t = 25  # a poll starting now may run to 35, past the 30 s check
    assert not collector.due() and collector.due(within_s=10)
    collector.refresh(within_s=10)
    assert vault.calls == 2, "checked ahead of the poll"
    before = vault.calls
    for t in (25, 30, 34.9):
        clock.t = t
        assert collector() == ("admin", "first")
    assert vault.calls == before, "no database call inside the poll's budget"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_with_the_database_down_the_credential_read_before_goes_on(database_url, db_session_factory):
    # Found by the soak: a camera's polls failed as internal errors while PostgreSQL restarted.
    key = load_key(env={"SITEWATCH_VAULT_KEY": generate_key()})
    Vault(db_session_factory, key).put("cam-01", username="admin", password="first", actor="lead", now=T0)
    clock = StepClock()
    collector = CachedCredential(Vault(db_session_factory, key), "cam-01", purpose="onvif", actor="collector",
                                 check_every_s=30, clock=clock)
    fresh = CachedCredential(Vault(db_session_factory, key), "cam-01", purpose="onvif", actor="collector",
                             check_every_s=30, clock=clock)
    assert collector() == ("admin", "first")
    name = database_url.rsplit("/", 1)[1]
    admin = psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        clock.t = 31  # due: the vault is asked, and cannot answer
        assert collector() == ("admin", "first"), "the credential read before is used"
        assert not collector.due(), "asked again a check period later, not at every SOAP call"
        with pytest.raises(SQLAlchemyError):
            fresh()  # nothing read yet: nothing to sign with
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
