"""The backup command asking the running service for its copy of the time series:
``POST /api/admin/backup`` with an admin token (api/routes/backup.py), which answers where
under its data_dir it wrote the copy."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from sitewatch.backup.errors import BackupError, BackupRefused
from sitewatch.config.models import Config

TOKEN_ENV = "SITEWATCH_API_TOKEN"
PATH = "/api/admin/backup"


@dataclass(frozen=True, slots=True)
class ServiceCopy:
    folder: Path  # absolute, on this machine: the service's data_dir/backups/...
    tables: dict[str, int]
    duckdb: str  # the service's DuckDB version


def api_url(config: Config) -> str | None:
    """Where the configured service answers on this machine; None when its port is chosen
    at start (``port = 0``) and only the person knows it."""
    if config.api.port == 0:
        return None
    host = config.api.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.api.tls_cert_file else "http"
    return f"{scheme}://{host}:{config.api.port}"


def read_token(token_file: Path | None) -> str | None:
    """From the file given, else the environment: never from the command line, where ``ps``
    and the shell's history would keep it."""
    if token_file is not None:
        try:
            return token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise BackupError(f"cannot read the token file {token_file}: {exc}") from exc
    return os.environ.get(TOKEN_ENV) or None


def ask_service(url: str, token: str, *, timeout_s: float) -> ServiceCopy:
    try:
        response = httpx.post(url.rstrip("/") + PATH, headers={"Authorization": f"Bearer {token}"},
                              timeout=httpx.Timeout(timeout_s, connect=10))
    except httpx.TransportError as exc:
        raise BackupError(f"the time-series file is held by a running process, and no Sitewatch API answered at "
                          f"{url} ({exc!r}): pass the service's --url, or stop it and back up again") from exc
    if response.status_code in (401, 403, 404):
        raise BackupRefused(f"the service refused the copy ({response.status_code}: {_detail(response)}): the token "
                            "must be an admin's, for every customer")
    if response.status_code != 200:
        raise BackupError(f"the service could not copy the time series ({response.status_code}: {_detail(response)})")
    body = response.json()
    return ServiceCopy(Path(body["folder"]), {str(k): int(v) for k, v in body["tables"].items()}, str(body["duckdb"]))


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
