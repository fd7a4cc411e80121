"""The device-credential vault: delivered systems' accounts, encrypted, never shown back.

Public API: `load_key`, `generate_key`, `KeyRing`, `Vault`, `Secret`, `DeviceCredential`,
`CredentialInfo` and the errors in `sitewatch.vault.errors`. See README.md for operations.
"""

from sitewatch.vault.errors import CredentialNotFound, KeyConfigError, VaultError, WrongKey
from sitewatch.vault.keys import KeyRing, generate_key, load_key
from sitewatch.vault.secret import CredentialInfo, DeviceCredential, Secret
from sitewatch.vault.store import Vault

__all__ = [
    "CredentialInfo",
    "CredentialNotFound",
    "DeviceCredential",
    "KeyConfigError",
    "KeyRing",
    "Secret",
    "Vault",
    "VaultError",
    "WrongKey",
    "generate_key",
    "load_key",
]
