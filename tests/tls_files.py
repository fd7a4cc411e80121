"""A throwaway CA and the certificates the TLS tests hand to servers and clients, as files."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class CertFiles:
    cert: Path  # the certificate, then its chain
    key: Path  # mode 0600


class Pki:
    """A CA (``ca_file``) whose certificates are written into ``folder``."""

    def __init__(self, folder: Path, *, name: str = "ca") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._ca = trustme.CA(organization_name=f"Sitewatch test {name}")
        self.ca_file = folder / f"{name}.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def issue(self, name: str, *identities: str) -> CertFiles:
        """A certificate for ``identities`` (host names, IP addresses; any: a client's name)."""
        issued = self._ca.issue_cert(*identities)
        files = CertFiles(self.folder / f"{name}.pem", self.folder / f"{name}.key")
        files.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        files.key.touch(mode=0o600)
        files.key.write_bytes(issued.private_key_pem.bytes())
        return files

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this CA only."""
        return ssl.create_default_context(cafile=str(self.ca_file))
