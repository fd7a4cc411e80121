"""Secrets stay out of the configuration file. It names where each one is kept: an environment
variable (``password_env``), an entry of the vault (``credential``), or, for PostgreSQL, the
client library's own PGPASSWORD or ~/.pgpass. A file holding a secret is refused with the way
to move it; so is a file other users can write, whatever it holds.

Why refuse rather than warn: a configuration file travels (backups, support tickets, version
control, `sitewatch check` output pasted in a chat), and a warning in a service's log is read
after the fact. Reading by other users is allowed: with secrets refused, what is left (hosts,
ids, variable and entry names, SHA-256 of random API tokens) gives nobody a login.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# Keys whose string value is a secret wherever they appear (none of the models has one any more;
# paging's SMS request templates have free-form headers, query and body keys).
_SECRET_KEYS = frozenset({"password", "passwd", "pwd", "secret", "secret_key", "token", "access_token", "api_key",
                          "private_key", "authorization"})
# A value that names the vault entry's secret instead of holding it: paging's SMS templates
# ("Bearer {password}") are filled from the vault when a message is sent.
_FROM_THE_VAULT = re.compile(r"\{(password|username)\}")
# scheme://user:password@host: a password in the user-info part of a URL.
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:[^/?#@\s]+@")
# What to do instead, for the places a secret used to be written.
_MOVE_IT = {
    ("mqtt", "password"): 'set password_env = "SITEWATCH_MQTT_PASSWORD" in [mqtt] and put the password in that '
                          "environment variable of the service (systemd: EnvironmentFile=, a file of mode 0600)",
    ("storage", "database_url"): "remove it from the URL: PostgreSQL's client library reads it from the "
                                 "PGPASSWORD environment variable or the service user's ~/.pgpass (mode 0600), "
                                 "which backups (pg_dump) read too",
}
_ELSEWHERE = ("keep it in the vault (`sitewatch vault set NAME`) and name the entry with the table's `credential` "
              "key, or in an environment variable")


def _set_in_environment(name: str) -> str:
    if not os.environ.get(name):
        raise ValueError(f"environment variable {name} is not set, or empty: set it in the service's environment "
                         f"(systemd: EnvironmentFile=, a file of mode 0600)")
    return name


# The name of an environment variable that holds a secret; it must be set when the file is loaded.
EnvSecretName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"), AfterValidator(_set_in_environment)]


def plain_secrets(raw: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """(key path, what to do) for every secret written into the configuration itself."""
    found = []
    for loc, key, value in _strings(raw, ()):
        if _FROM_THE_VAULT.search(value):
            continue
        if (key.lower() in _SECRET_KEYS and value) or _URL_WITH_PASSWORD.match(value):
            found.append((loc, _MOVE_IT.get(_unindexed(loc), _ELSEWHERE)))
    return found


def refusal(found: list[tuple[str, int | None, str]], *, disclosed: bool) -> str:
    """The message for ``found``: (dotted key, line, what to do) each."""
    lines = [("a secret in the configuration file is refused (the file is copied, mailed and checked in; "
              "the service's environment and the vault are not):")]
    for key, line, advice in found:
        where = f"line {line}, " if line else ""
        lines.append(f"  {where}key {key}: {advice}")
    if disclosed:
        lines.append("  the file is readable by other users: treat these as disclosed and change them where they "
                     "are checked (broker, database) once moved")
    return "\n".join(lines)


def mode_problem(path: Path) -> str | None:
    """Why the file at ``path`` must not be used as it is, or None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & stat.S_IWOTH:
        return (f"writable by other users (mode {mode:04o}): anyone on this machine could point the service at "
                f"their own broker, database or devices; chmod o-w {path}")
    return None


def readable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IROTH)


def _strings(node: Any, loc: tuple[Any, ...], key: str = "") -> Iterator[tuple[tuple[Any, ...], str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _strings(value, (*loc, name), str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*loc, index), key)
    elif isinstance(node, str):
        yield loc, key, node


def _unindexed(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(part for part in loc if not isinstance(part, int))
