"""The vault against SQLite and PostgreSQL: sealed at rest, counted and audited in use."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.tables import AuditRow, CredentialRow
from sitewatch.vault import CredentialNotFound, KeyRing, Vault, WrongKey, generate_key
from sitewatch.vault.keys import KEY_ENV, load_key

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
USERNAME = "ops-admin-7781"
PASSWORD = "Zq9!station-Pa55"
NEW_PASSWORD = "Rotated#2025-xyz"


@pytest.fixture
def key() -> KeyRing:
    return load_key(env={KEY_ENV: generate_key()})


@pytest.fixture
def vault(db_session_factory: sessionmaker[Session], key: KeyRing) -> Vault:
    return Vault(db_session_factory, key)


@pytest.fixture
def other_process(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A second engine on the same database, as the CLI or another worker would have."""
    engine = make_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()


def _audit(sessions: sessionmaker[Session]) -> list[AuditRow]:
    with sessions() as session:
        return list(session.scalars(select(AuditRow).where(AuditRow.entity == "credential").order_by(AuditRow.id)))


def _secrets_in(blob: str | bytes, *secrets: str) -> list[str]:
    """Which secrets appear in `blob`, as text, UTF-8 bytes or hex (PostgreSQL bytea text)."""
    raw = blob if isinstance(blob, bytes) else blob.encode()
    return [s for s in secrets if s.encode() in raw or s.encode().hex().encode() in raw.lower()]


def test_round_trip(vault: Vault) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    cred = vault.get("cam-1", purpose="onvif login", actor="collector", now=T0)
    assert (cred.name, cred.username, cred.password.reveal()) == ("cam-1", USERNAME, PASSWORD)
    assert cred.updated_at == T0


def test_no_plaintext_in_columns_or_table_dump(vault: Vault, db_session_factory: sessionmaker[Session], database_url: str) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    vault.put("cam-1", username=USERNAME, password=NEW_PASSWORD, actor="alice", now=T0 + timedelta(minutes=1))
    vault.get("cam-1", purpose="onvif login", actor="collector", now=T0 + timedelta(minutes=2))
    with db_session_factory() as session:
        rows = session.execute(text("SELECT * FROM credentials")).all()
        assert len(rows) == 1
        for value in rows[0]:
            cell = value if isinstance(value, bytes) else str(value)
            assert _secrets_in(cell, USERNAME, PASSWORD, NEW_PASSWORD) == []
        if database_url.startswith("postgresql"):
            dump = "\n".join(session.scalars(text("SELECT c::text FROM credentials c"))) + "\n".join(
                session.scalars(text("SELECT a::text FROM audit_log a"))
            )
            assert "\\x" in dump  # the bytea columns are in the dump, as hex
            assert _secrets_in(dump, USERNAME, PASSWORD, NEW_PASSWORD) == []
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
        dump_bytes = b"".join(p.read_bytes() for p in files)
        assert b"cam-1" in dump_bytes  # the file holds the row, so the check below means something
        assert _secrets_in(dump_bytes, USERNAME, PASSWORD, NEW_PASSWORD) == []


def test_wrong_key_is_a_clear_error_and_audited(vault: Vault, db_session_factory: sessionmaker[Session], key: KeyRing) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    stranger = Vault(db_session_factory, load_key(env={KEY_ENV: generate_key()}))
    with pytest.raises(WrongKey, match=f"'cam-1'.*{key.current_id}.*not loaded") as info:
        stranger.get("cam-1", purpose="onvif login", actor="collector", now=T0)
    assert info.value.key_id == key.current_id
    assert vault.describe("cam-1").uses == 0  # a failed decryption is not a use
    assert stranger.describe("cam-1").username_masked is None  # metadata still readable
    last = _audit(db_session_factory)[-1]
    assert (last.action, last.actor, last.detail["purpose"]) == ("credential_unreadable", "collector", "onvif login")


def test_ciphertext_moved_between_rows_is_refused(vault: Vault, db_session_factory: sessionmaker[Session]) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    vault.put("cam-2", username="viewer", password="other-password", actor="alice", now=T0)
    with db_session_factory.begin() as session:
        blob = session.scalar(select(CredentialRow.password_enc).where(CredentialRow.name == "cam-1"))
        session.execute(update(CredentialRow).where(CredentialRow.name == "cam-2").values(password_enc=blob))
    with pytest.raises(WrongKey, match="altered or copied"):
        vault.get("cam-2", purpose="test", actor="collector", now=T0)


def test_rotation_seen_by_another_instance_without_restart(
    vault: Vault, other_process: sessionmaker[Session], key: KeyRing
) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    assert vault.get("cam-1", purpose="poll", actor="collector", now=T0).password.reveal() == PASSWORD
    cli_vault = Vault(other_process, key)
    info = cli_vault.put("cam-1", username=USERNAME, password=NEW_PASSWORD, actor="bob", now=T0 + timedelta(hours=1))
    cred = vault.get("cam-1", purpose="poll", actor="collector", now=T0 + timedelta(hours=2))
    assert cred.password.reveal() == NEW_PASSWORD
    assert cred.updated_at == info.updated_at == T0 + timedelta(hours=1)
    assert info.created_at == T0


def test_uses_counted_and_last_use_recorded(vault: Vault) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    for minute in range(3):
        vault.get("cam-1", purpose="poll", actor=f"collector-{minute}", now=T0 + timedelta(minutes=minute))
    info = vault.describe("cam-1")
    assert (info.uses, info.last_used_at, info.last_used_by) == (3, T0 + timedelta(minutes=2), "collector-2")


def test_audit_trail_has_no_secret(vault: Vault, db_session_factory: sessionmaker[Session], key: KeyRing) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    vault.put("cam-1", username=USERNAME, password=NEW_PASSWORD, actor="bob", now=T0 + timedelta(minutes=1))
    vault.get("cam-1", purpose="onvif login", actor="collector", now=T0 + timedelta(minutes=2))
    vault.delete("cam-1", actor="carol", now=T0 + timedelta(minutes=3))
    rows = _audit(db_session_factory)
    assert [(r.action, r.actor, r.entity_id) for r in rows] == [
        ("credential_set", "alice", "cam-1"),
        ("credential_rotated", "bob", "cam-1"),
        ("credential_used", "collector", "cam-1"),
        ("credential_deleted", "carol", "cam-1"),
    ]
    assert rows[1].detail["previous_key_id"] == key.current_id
    assert rows[2].detail["purpose"] == "onvif login"
    dumped = json.dumps([r.detail for r in rows])
    assert _secrets_in(dumped, USERNAME, PASSWORD, NEW_PASSWORD) == []


def test_logs_carry_no_secret(vault: Vault, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy pins its loggers at WARN; open them to see statements and parameters.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    vault.get("cam-1", purpose="poll", actor="collector", now=T0)
    vault.list()
    # The logs were really captured, down to the statements and the rows read back.
    assert "cam-1" in caplog.text and "INSERT INTO credentials" in caplog.text and "Row (" in caplog.text
    assert _secrets_in(caplog.text, USERNAME, PASSWORD) == []


def test_describe_and_list_show_metadata_only(vault: Vault) -> None:
    vault.put("plc-2", username="admin", password=PASSWORD, actor="alice", now=T0)
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    infos = vault.list()
    assert [(i.name, i.username_masked) for i in infos] == [("cam-1", "op***"), ("plc-2", "ad***")]
    assert _secrets_in(repr(infos), USERNAME, PASSWORD) == []
    assert vault.describe("plc-2") == infos[1]


def test_missing_credential(vault: Vault) -> None:
    with pytest.raises(CredentialNotFound, match="'nope'"):
        vault.get("nope", purpose="poll", actor="collector", now=T0)
    with pytest.raises(CredentialNotFound):
        vault.describe("nope")
    with pytest.raises(CredentialNotFound):
        vault.delete("nope", actor="alice", now=T0)


def test_deleted_credential_is_gone(vault: Vault) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    vault.delete("cam-1", actor="alice", now=T0)
    with pytest.raises(CredentialNotFound):
        vault.get("cam-1", purpose="poll", actor="collector", now=T0)
    assert vault.list() == []


@pytest.mark.parametrize("name", ["", " cam", "cam\n1", "x" * 201])
def test_bad_names_refused(vault: Vault, name: str) -> None:
    with pytest.raises(ValueError):
        vault.put(name, username=USERNAME, password=PASSWORD, actor="alice", now=T0)


def test_master_key_rotation_by_rewrap(vault: Vault, db_session_factory: sessionmaker[Session], key: KeyRing) -> None:
    old_text, new_text = generate_key(), generate_key()
    old_vault = Vault(db_session_factory, load_key(env={KEY_ENV: old_text}))
    old_vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    both = Vault(db_session_factory, load_key(env={KEY_ENV: f"{new_text},{old_text}"}))
    assert both.get("cam-1", purpose="poll", actor="collector", now=T0).password.reveal() == PASSWORD
    assert both.rewrap(actor="alice", now=T0 + timedelta(days=1)) == 1
    assert both.rewrap(actor="alice", now=T0 + timedelta(days=1)) == 0
    new_only = Vault(db_session_factory, load_key(env={KEY_ENV: new_text}))
    cred = new_only.get("cam-1", purpose="poll", actor="collector", now=T0 + timedelta(days=2))
    assert (cred.password.reveal(), cred.updated_at) == (PASSWORD, T0)  # the value did not change
    assert _audit(db_session_factory)[-2].action == "credential_rewrapped"


def test_rewrap_without_the_old_key_changes_nothing(vault: Vault, db_session_factory: sessionmaker[Session]) -> None:
    vault.put("cam-1", username=USERNAME, password=PASSWORD, actor="alice", now=T0)
    stranger = Vault(db_session_factory, load_key(env={KEY_ENV: generate_key()}))
    with pytest.raises(WrongKey):
        stranger.rewrap(actor="alice", now=T0)
    assert vault.get("cam-1", purpose="poll", actor="collector", now=T0).password.reveal() == PASSWORD
