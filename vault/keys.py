"""The master key: generated, loaded from the environment or a private file, and used.

This is the only module importing `cryptography`. Secrets are sealed with AES-256-GCM
rather than Fernet because GCM authenticates associated data: each ciphertext is bound to
its credential name and field, so a database writer cannot swap one device's password into
another's row (or the username into the password) without decryption failing.

Rotation of the master key: a key ring holds the current key (encrypts) and older keys
(decrypt only); every stored secret carries the id of the key that sealed it. To rotate,
put the new key first and keep the old one after it, run `Vault.rewrap`, then drop the old.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sitewatch.vault.errors import KeyConfigError, WrongKey

KEY_ENV = "SITEWATCH_VAULT_KEY"
_KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12  # the GCM standard nonce; random per seal, fine at vault volumes


def generate_key() -> str:
    """A new random master key, as url-safe base64 text (what the env var and file hold)."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def _key_id(key: bytes) -> str:
    # Derived, not configured, so the same key always has the same id in every process.
    # 48 bits of a domain-separated hash say nothing useful about a 256-bit key.
    return hashlib.sha256(b"sitewatch-vault-key-id\0" + key).hexdigest()[:12]


def _context(name: str, field: str) -> bytes:
    return f"sitewatch-vault\0{name}\0{field}".encode()


class KeyRing:
    """The current key (first; encrypts) and older keys (decrypt only), each with its id."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyConfigError("a vault key ring needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for key in keys:
            if len(key) != _KEY_BYTES:
                raise KeyConfigError(f"a vault key must be {_KEY_BYTES} bytes, got {len(key)}")
            self._ciphers.setdefault(_key_id(key), AESGCM(key))
        self.current_id = _key_id(keys[0])

    @classmethod
    def from_text(cls, text: str, *, source: str) -> KeyRing:
        """Keys as base64, separated by commas, spaces or newlines; the first is current."""
        tokens = text.replace(",", " ").split()
        if not tokens:
            raise KeyConfigError(f"{source} holds no vault key")
        keys = []
        for position, token in enumerate(tokens, start=1):
            try:
                key = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
            except (UnicodeEncodeError, binascii.Error):
                raise KeyConfigError(
                    f"key {position} in {source} is not base64 text; make one with vault.generate_key()"
                ) from None
            if len(key) != _KEY_BYTES:
                raise KeyConfigError(f"key {position} in {source} is {len(key)} bytes, expected {_KEY_BYTES}")
            keys.append(key)
        return cls(keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def encrypt(self, plaintext: str, *, name: str, field: str) -> tuple[str, bytes]:
        """Seal under the current key; returns (key id, nonce + ciphertext + tag)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self.current_id].encrypt(nonce, plaintext.encode(), _context(name, field))
        return self.current_id, nonce + sealed

    def decrypt(self, blob: bytes, *, key_id: str, name: str, field: str) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise WrongKey(
                f"the {field} of credential {name!r} was sealed with vault key {key_id}, which is not"
                f" loaded (loaded: {', '.join(self._ciphers)}): wrong {KEY_ENV} or key file,"
                " or an old key dropped before the vault was rewrapped",
                name=name,
                key_id=key_id,
            )
        try:
            plaintext = cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _context(name, field))
        except InvalidTag:
            raise WrongKey(
                f"the {field} of credential {name!r} fails authentication under vault key {key_id}:"
                " the stored ciphertext was altered or copied from another credential or field",
                name=name,
                key_id=key_id,
            ) from None
        return plaintext.decode()

    def __repr__(self) -> str:
        return f"KeyRing(current_id={self.current_id!r}, key_ids={list(self._ciphers)!r})"


def load_key(*, env: Mapping[str, str] = os.environ, key_file: Path | None = None) -> KeyRing:
    """The key ring from `SITEWATCH_VAULT_KEY` or from `key_file` (one source, not both).

    Both set is refused: silently preferring one could seal new secrets under a key the
    other processes do not hold.
    """
    env_text = env.get(KEY_ENV)
    if env_text is not None and key_file is not None:
        raise KeyConfigError(f"both {KEY_ENV} and the key file {key_file} are given; use one of them")
    if env_text is not None:
        if not env_text.strip():
            raise KeyConfigError(f"{KEY_ENV} is set but empty")
        return KeyRing.from_text(env_text, source=f"${KEY_ENV}")
    if key_file is None:
        raise KeyConfigError(f"no vault key: set {KEY_ENV} or give a key file (no key file path was given)")
    return KeyRing.from_text(_read_private_file(key_file), source=f"key file {key_file}")


def _read_private_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyConfigError(f"no vault key: {KEY_ENV} is not set and the key file {path} does not exist") from None
    except OSError as exc:
        raise KeyConfigError(f"cannot open the vault key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, encoding="ascii", errors="replace") as handle:
        # fstat the opened file, not the path, so the check covers what is actually read.
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyConfigError(f"the vault key file {path} is not a regular file")
        if mode & 0o077:
            raise KeyConfigError(
                f"the vault key file {path} is accessible to group or others (mode {stat.filemode(mode)});"
                f" run: chmod 600 {path}"
            )
        return handle.read()
