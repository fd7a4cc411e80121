"""`sitewatch vault ...`: set, list, delete and rewrap device credentials.

A password is read from stdin (`--password-stdin`, for scripts) or typed twice at a
prompt, never taken from argv: argv is visible to every user in `ps` and kept in shell
history. Nothing here prints a password; `list` shows masked usernames.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from sitewatch.domain.time import Clock, SystemClock
from sitewatch.vault.errors import VaultError
from sitewatch.vault.keys import KeyRing
from sitewatch.vault.secret import CredentialInfo
from sitewatch.vault.store import Vault


def main(
    argv: Sequence[str] | None,
    *,
    sessions: sessionmaker[Session],
    key: KeyRing,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    prompt: Callable[[str], str] | None = None,
    clock: Clock | None = None,
) -> int:
    """Run one vault command; returns the exit status (0 done, 1 refused or not found)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    now = (clock or SystemClock()).now()
    actor = args.actor or getpass.getuser()
    vault = Vault(sessions, key)
    try:
        if args.command == "set":
            password = _read_password(args.password_stdin, stdin=stdin, prompt=prompt or getpass.getpass)
            info = vault.put(args.name, username=args.username, password=password, actor=actor, now=now)
            print(f"{info.name}: stored under key {info.key_id}", file=stdout)
        elif args.command == "list":
            _print_table(vault.list(), stdout)
        elif args.command == "delete":
            vault.delete(args.name, actor=actor, now=now)
            print(f"{args.name}: deleted", file=stdout)
        else:  # rewrap
            count = vault.rewrap(actor=actor, now=now)
            print(f"{count} credential(s) re-sealed under key {key.current_id}", file=stdout)
    except (VaultError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitewatch vault", description="Device credentials of delivered systems.")
    parser.add_argument("--actor", help="who is acting, for the audit log (default: the login name)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    set_ = commands.add_parser("set", help="store or replace a credential (password from a prompt or stdin)")
    set_.add_argument("name", help="the credential's name, e.g. the asset id")
    set_.add_argument("--username", required=True)
    set_.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    commands.add_parser("list", help="names, masked usernames and use counts; never passwords")
    delete = commands.add_parser("delete", help="remove a credential")
    delete.add_argument("name")
    commands.add_parser("rewrap", help="re-seal every credential under the current master key")
    return parser


def _read_password(from_stdin: bool, *, stdin: TextIO, prompt: Callable[[str], str]) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    password = prompt("Password: ")
    if prompt("Password again: ") != password:
        raise ValueError("the two passwords differ; nothing stored")
    return password


def _print_table(infos: Sequence[CredentialInfo], out: TextIO) -> None:
    header = ("NAME", "USERNAME", "KEY", "USES", "LAST USED", "BY", "UPDATED")
    rows = [
        (
            i.name,
            i.username_masked or "(key not loaded)",
            i.key_id,
            str(i.uses),
            i.last_used_at.isoformat(timespec="seconds") if i.last_used_at else "-",
            i.last_used_by or "-",
            i.updated_at.isoformat(timespec="seconds"),
        )
        for i in infos
    ]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip(), file=out)
