"""A collector's view of one credential: fetched (and so counted and audited) only when new.

ONVIF signs every SOAP call, several per poll; fetching the secret each time would write
an audit row per call. Instead the holder looks at the row's `updated_at` (metadata, no
secret, no audit) at most every `check_every_s`, and fetches the secret again only when it
changed: a password rotated with `sitewatch vault set` is used within that time, without
a restart, and every fetch of the secret is a counted use.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from sitewatch.domain.time import Clock, SystemClock
from sitewatch.storage.database import first_line
from sitewatch.vault.secret import DeviceCredential
from sitewatch.vault.store import Vault

log = logging.getLogger(__name__)


class CachedCredential:
    def __init__(
        self, vault: Vault, name: str, *, purpose: str, actor: str, check_every_s: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self._vault = vault
        self._name = name
        self._purpose = purpose
        self._actor = actor
        self._check_every_s = check_every_s
        self._clock = clock or SystemClock()
        self._credential: DeviceCredential | None = None
        self._checked_at: float | None = None

    def __call__(self) -> tuple[str, str]:
        """(username, password) for the next call; raises CredentialNotFound or WrongKey."""
        self.refresh()
        assert self._credential is not None
        return self._credential.username, self._credential.password.reveal()

    def due(self, *, within_s: float = 0.0) -> bool:
        """Whether a call within ``within_s`` would ask the database (a query, perhaps a fetch
        and its audit row)."""
        return (self._credential is None or self._checked_at is None
                or self._clock.monotonic() + within_s - self._checked_at >= self._check_every_s)

    def refresh(self, *, within_s: float = 0.0) -> None:
        """Ask the database if due within ``within_s``. Blocking I/O: a poller on an event loop
        calls it in a thread first, with its poll's budget, so that no call inside the poll does.

        The database down: the credential already read goes on being used (a camera must not
        fail its polls because the vault cannot be asked whether its password changed), and it
        is asked again a check period later; with none read yet, the SQLAlchemyError propagates."""
        if self.due(within_s=within_s):
            now = self._clock.monotonic()
            try:
                self._refresh(self._clock.now())
            except SQLAlchemyError as exc:
                if self._credential is None:
                    raise
                log.info("%s: the vault cannot be asked, using the credential read before: %s",
                         self._name, first_line(exc))
            self._checked_at = now

    def _refresh(self, now: datetime) -> None:
        if self._credential is not None and self._vault.describe(self._name).updated_at == self._credential.updated_at:
            return
        self._credential = self._vault.get(self._name, purpose=self._purpose, actor=self._actor, now=now)
