"""The vault: device credentials sealed in the `credentials` table, every use audited.

Every method runs its own short transaction, and `get` reads the row at each call, so a
`put` from another process (the CLI, another worker) is seen on the very next `get`
without a restart. A holder may keep a `DeviceCredential` for the life of one device
connection; `DeviceCredential.updated_at` is what to compare if it ever caches longer.
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.domain.time import require_utc
from sitewatch.storage.repository import audit
from sitewatch.storage.tables import CredentialRow
from sitewatch.vault.errors import CredentialNotFound, WrongKey
from sitewatch.vault.keys import KeyRing
from sitewatch.vault.secret import CredentialInfo, DeviceCredential, Secret, mask_username

log = logging.getLogger(__name__)

ENTITY = "credential"  # the audit log's entity for everything the vault records
_NAME_MAX = 200  # CredentialRow.name


class Vault:
    def __init__(self, sessions: sessionmaker[Session], key: KeyRing) -> None:
        self._sessions = sessions
        self._key = key

    def put(self, name: str, *, username: str, password: str | Secret, actor: str, now: datetime) -> CredentialInfo:
        """Store a new credential or replace an existing one (audited set / rotated).

        The audit detail holds key ids and times only: not the secret, not a hash of it
        (a hash of a short password is a dictionary attack away from the password).
        """
        _check_name(name)
        now = require_utc(now)
        plain_password = password.reveal() if isinstance(password, Secret) else password
        if not username or not plain_password:
            raise ValueError(f"credential {name!r}: username and password must not be empty")
        key_id, username_enc = self._key.encrypt(username, name=name, field="username")
        _, password_enc = self._key.encrypt(plain_password, name=name, field="password")
        with self._sessions.begin() as session:
            row = session.scalar(select(CredentialRow).where(CredentialRow.name == name).with_for_update())
            if row is None:
                row = CredentialRow(name=name, created_at=now, uses=0)
                session.add(row)
                action, detail = "credential_set", {"key_id": key_id}
            else:
                action = "credential_rotated"
                detail = {
                    "key_id": key_id,
                    "previous_key_id": row.key_id,
                    "previous_updated_at": row.updated_at.isoformat(),
                }
            row.username_enc, row.password_enc, row.key_id, row.updated_at = username_enc, password_enc, key_id, now
            audit(session, at=now, actor=actor, entity=ENTITY, entity_id=name, action=action, detail=detail)
            session.flush()
            info = self._info(row)
        log.info("vault: %s %r by %s", action, name, actor)
        return info

    def get(self, name: str, *, purpose: str, actor: str, now: datetime) -> DeviceCredential:
        """Decrypt a credential for one use: counts the use and audits it with its purpose.

        A decryption failure is audited too (in its own transaction, as the use's
        transaction is rolled back) and raised as `WrongKey`.
        """
        now = require_utc(now)
        with self._sessions.begin() as session:
            row = session.scalar(select(CredentialRow).where(CredentialRow.name == name))
            if row is None:
                raise CredentialNotFound(name)
            try:
                username = self._key.decrypt(row.username_enc, key_id=row.key_id, name=name, field="username")
                password = self._key.decrypt(row.password_enc, key_id=row.key_id, name=name, field="password")
            except WrongKey as exc:
                failure = exc
            else:
                failure = None
                # uses + 1 in SQL, not in Python, so concurrent collectors do not lose counts.
                session.execute(
                    update(CredentialRow)
                    .where(CredentialRow.id == row.id)
                    .values(uses=CredentialRow.uses + 1, last_used_at=now, last_used_by=actor)
                )
                audit(
                    session,
                    at=now,
                    actor=actor,
                    entity=ENTITY,
                    entity_id=name,
                    action="credential_used",
                    detail={"purpose": purpose, "key_id": row.key_id},
                )
        if failure is not None:
            self._audit_failure(name, purpose=purpose, actor=actor, now=now, key_id=failure.key_id)
            raise failure
        log.debug("vault: %r used by %s for %s", name, actor, purpose)
        return DeviceCredential(name=name, username=username, password=Secret(password), updated_at=row.updated_at)

    def describe(self, name: str) -> CredentialInfo:
        with self._sessions.begin() as session:
            row = session.scalar(select(CredentialRow).where(CredentialRow.name == name))
            if row is None:
                raise CredentialNotFound(name)
            return self._info(row)

    def delete(self, name: str, *, actor: str, now: datetime) -> None:
        now = require_utc(now)
        with self._sessions.begin() as session:
            row = session.scalar(select(CredentialRow).where(CredentialRow.name == name).with_for_update())
            if row is None:
                raise CredentialNotFound(name)
            detail = {"key_id": row.key_id, "uses": row.uses, "updated_at": row.updated_at.isoformat()}
            session.delete(row)
            audit(session, at=now, actor=actor, entity=ENTITY, entity_id=name, action="credential_deleted", detail=detail)
        log.info("vault: credential_deleted %r by %s", name, actor)

    def rewrap(self, *, actor: str, now: datetime) -> int:
        """Re-seal every credential not under the current key; returns how many.

        All or nothing: if one row's key is not loaded, nothing changes and `WrongKey`
        names it. The values do not change, so `updated_at` stays as it was.
        """
        now = require_utc(now)
        current = self._key.current_id
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(CredentialRow).where(CredentialRow.key_id != current).with_for_update()
            ).all()
            for row in rows:
                previous = row.key_id
                for field in ("username", "password"):
                    plain = self._key.decrypt(getattr(row, f"{field}_enc"), key_id=previous, name=row.name, field=field)
                    _, sealed = self._key.encrypt(plain, name=row.name, field=field)
                    setattr(row, f"{field}_enc", sealed)
                row.key_id = current
                audit(
                    session,
                    at=now,
                    actor=actor,
                    entity=ENTITY,
                    entity_id=row.name,
                    action="credential_rewrapped",
                    detail={"key_id": current, "previous_key_id": previous},
                )
        log.info("vault: %d credential(s) rewrapped under key %s by %s", len(rows), current, actor)
        return len(rows)

    def _audit_failure(self, name: str, *, purpose: str, actor: str, now: datetime, key_id: str) -> None:
        log.warning("vault: credential %r cannot be decrypted (key %s) for %s by %s", name, key_id, purpose, actor)
        with self._sessions.begin() as session:
            audit(
                session,
                at=now,
                actor=actor,
                entity=ENTITY,
                entity_id=name,
                action="credential_unreadable",
                detail={"purpose": purpose, "key_id": key_id, "loaded_key_ids": list(self._key.key_ids)},
            )

    def _info(self, row: CredentialRow) -> CredentialInfo:
        try:
            username = self._key.decrypt(row.username_enc, key_id=row.key_id, name=row.name, field="username")
        except WrongKey:
            masked = None
        else:
            masked = mask_username(username)
        return CredentialInfo(
            name=row.name,
            username_masked=masked,
            key_id=row.key_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            uses=row.uses,
            last_used_at=row.last_used_at,
            last_used_by=row.last_used_by,
        )

    # Last in the class: once defined, `list` in this class body means this method.
    def list(self) -> list[CredentialInfo]:
        """Metadata of every credential, by name; no password, usernames masked."""
        with self._sessions.begin() as session:
            return [self._info(row) for row in session.scalars(select(CredentialRow).order_by(CredentialRow.name))]


def _check_name(name: str) -> None:
    # Names appear in logs, audit rows and CLI output: keep them plain, single-line text.
    if not name or name != name.strip() or len(name) > _NAME_MAX:
        raise ValueError(f"credential name {name!r}: 1-{_NAME_MAX} characters, no surrounding spaces")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ValueError(f"credential name {name!r} contains control characters")
