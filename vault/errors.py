"""Typed vault errors. Messages name credentials and key ids, never key or secret values."""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""


class KeyConfigError(VaultError):
    """The master key is missing, malformed, or kept in a file others can read."""


class CredentialNotFound(VaultError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no credential named {name!r} in the vault")
        self.name = name


class WrongKey(VaultError):
    """A stored secret cannot be decrypted with the loaded key(s).

    Either its key id is not loaded (the master key was rotated and the old key dropped,
    or the process runs with another installation's key), or the ciphertext fails
    authentication (altered, or copied from another credential or field).
    """

    def __init__(self, message: str, *, name: str, key_id: str) -> None:
        super().__init__(message)
        self.name = name
        self.key_id = key_id
