"""Values handed out by the vault, shaped so that printing or logging them leaks nothing."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

MASK = "***"


class Secret:
    """A secret string: repr and str are `***`; `reveal()` is the one way to the value.

    Call `reveal()` only where the value goes to the device (the client's login call), so
    a grep for `reveal(` lists every place a password leaves the vault.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]  # a secret is no dict key: it would sit in reprs


def mask_username(username: str) -> str:
    """`admin` → `ad***`: enough to tell accounts apart, not enough to log in with.
    Short names show nothing, as two characters would be most of them."""
    return username[:2] + MASK if len(username) > 4 else MASK


@dataclass(frozen=True, repr=False)
class DeviceCredential:
    """A decrypted credential for one use. `updated_at` tells a holder whether it went stale."""

    name: str
    username: str
    password: Secret
    updated_at: datetime

    def __repr__(self) -> str:
        return (
            f"DeviceCredential(name={self.name!r}, username={mask_username(self.username)!r},"
            f" password={self.password!r}, updated_at={self.updated_at.isoformat()!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class CredentialInfo:
    """What `describe` and `list` show: metadata, a masked username, never the password.

    `username_masked` is None when the row was sealed with a key this process lacks.
    """

    name: str
    username_masked: str | None
    key_id: str
    created_at: datetime
    updated_at: datetime
    uses: int
    last_used_at: datetime | None
    last_used_by: str | None
