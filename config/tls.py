"""Certificate and key files named by the configuration: checked when it is loaded, so a
missing, unreadable or mismatched file stops start-up with its key and reason instead of
surfacing later as a failed handshake."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def _readable(path: Path) -> Path:
    try:
        with path.open("rb") as file:
            file.read(1)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: a directory, not a file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    return path


def _private(path: Path) -> Path:
    # Like ssh with its keys: a key other users can read is a key to treat as disclosed.
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & stat.S_IROTH:
        raise ValueError(f"{path}: a private key readable by other users (mode {mode:04o}): chmod o-r {path}, "
                         f"and replace the key if others could read it")
    return path


# A file the process can read now.
ReadableFile = Annotated[Path, AfterValidator(_readable)]
# A private key: readable by us, not by other users (group: the service's own, allowed).
PrivateKeyFile = Annotated[Path, AfterValidator(_readable), AfterValidator(_private)]


def _no_passphrase() -> str:
    # Called by OpenSSL only for an encrypted key; a service started unattended has nobody to
    # type the passphrase (without this callback OpenSSL would prompt on the terminal).
    raise ValueError("the key is encrypted: a service cannot type its passphrase; keep it unencrypted, mode 0600")


def load_ca(context: ssl.SSLContext, ca_file: Path) -> None:
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except ssl.SSLError as exc:
        raise ValueError(f"{ca_file}: no PEM certificate to trust in it ({exc.reason or exc})") from None


def load_pair(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    try:
        context.load_cert_chain(str(cert_file), str(key_file), password=_no_passphrase)
    except ssl.SSLError as exc:
        raise ValueError(f"{cert_file} with {key_file}: not a PEM certificate and its own key "
                         f"({exc.reason or exc})") from None


def check_server_pair(cert_file: Path, key_file: Path) -> None:
    """Raise ValueError unless the pair loads as a TLS server's certificate and key."""
    load_pair(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cert_file, key_file)


def both_or_neither(what: str, cert_file: Path | None, key_file: Path | None) -> None:
    if (cert_file is None) != (key_file is None):
        raise ValueError(f"{what}: tls_cert_file and tls_key_file go together (the certificate and its key)")


def check_optional_server_pair(what: str, cert_file: Path | None, key_file: Path | None) -> None:
    """Raise ValueError unless neither is set, or both are and load as a server's certificate and key."""
    both_or_neither(what, cert_file, key_file)
    if cert_file is not None and key_file is not None:
        check_server_pair(cert_file, key_file)
