"""`sitewatch user ...`: add, passwd, disable, enable, role, list.

A password is typed twice at a hidden prompt when stdin is a terminal, else read as one
line from stdin (``--password-stdin`` says so explicitly, for scripts); never from argv,
which every user sees in `ps` and the shell keeps in its history. Every change is audited
with the actor ``cli:<login name>``; a refusal is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Collection, Sequence
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from sitewatch import i18n
from sitewatch.auth.roles import Role
from sitewatch.auth.users import UserError, add_user, check_customers, list_users, set_disabled, set_password, set_role
from sitewatch.domain.time import Clock, SystemClock

ROLES = [r.value for r in Role]


def main(
    argv: Sequence[str],
    *,
    sessions: sessionmaker[Session],
    customers: Collection[str],
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    prompt: Callable[[str], str] | None = None,
    clock: Clock | None = None,
) -> int:
    """Run one user command against the database; ``customers`` are the configured ids."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    try:
        with contextlib.redirect_stderr(stderr):
            args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or the one line _OneLine.error printed
        return 0 if exc.code == 0 else 2
    now = (clock or SystemClock()).now()
    actor = f"cli:{getpass.getuser()}"
    # Messages in the terminal's language (LANG=zh_CN.UTF-8 → Chinese), English otherwise.
    with i18n.using(i18n.normalise(os.environ.get("LANG", "").split(".")[0]) or "en"), sessions() as session:
        try:
            _run(args, session, customers=customers, actor=actor, now=now, stdin=stdin, stdout=stdout,
                 prompt=prompt or getpass.getpass)
            session.commit()
        except UserError as exc:
            print(f"error: {exc}", file=stderr)
            return 2
    return 0


def _run(args: argparse.Namespace, session: Session, *, customers: Collection[str], actor: str, now, stdin: TextIO,  # noqa: ANN001
         stdout: TextIO, prompt: Callable[[str], str]) -> None:
    if args.command == "list":
        _print_table(session, stdout)
        return
    if args.command == "add":
        scope = check_customers([c for c in args.customer if c], customers)
        password = _read_password(args.password_stdin, stdin=stdin, prompt=prompt)
        add_user(session, args.username, password, role=args.role, customers=scope, display_name=args.name or "",
                 at=now, actor=actor)
        print(f"{args.username}: added as {args.role}" + (f" for {', '.join(scope)}" if scope else ""), file=stdout)
    elif args.command == "passwd":
        set_password(session, args.username, _read_password(args.password_stdin, stdin=stdin, prompt=prompt),
                     at=now, actor=actor)
        print(f"{args.username}: password changed; their browser sessions are ended", file=stdout)
    elif args.command in ("disable", "enable"):
        set_disabled(session, args.username, args.command == "disable", at=now, actor=actor)
        print(f"{args.username}: {args.command}d", file=stdout)
    else:  # role
        if args.role is None and args.customer is None:
            raise UserError(i18n.lazy("Name the new role (--role), the customers (--customer), or both."))
        scope = None if args.customer is None else check_customers([c for c in args.customer if c], customers)
        row = set_role(session, args.username, role=args.role, customers=scope, at=now, actor=actor)
        print(f"{row.username}: {row.role}, customers: {', '.join(row.customers) or 'all'}", file=stdout)


class _OneLine(argparse.ArgumentParser):
    """Refuses a bad command line in one line (argparse's own error puts the usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see sitewatch user --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLine(prog="sitewatch user", description="The people who log in to Sitewatch.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")  # each a _OneLine too
    add = commands.add_parser("add", help="add a user (password from a prompt, or stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--customer", action="append", default=[], metavar="ID",
                     help="see only this customer (repeat for several; none: every customer)")
    add.add_argument("--name", help="the name shown on pages and signatures (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    passwd = commands.add_parser("passwd", help="set a new password; ends the user's browser sessions")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password as one line from stdin")
    for name, what in (("disable", "refuse the user's logins and end their sessions"), ("enable", "allow again")):
        commands.add_parser(name, help=what).add_argument("username")
    role = commands.add_parser("role", help="change the role and/or the customer scope; ends the user's sessions")
    role.add_argument("username")
    role.add_argument("--role", choices=ROLES)
    role.add_argument("--customer", action="append", metavar="ID",
                      help="the new scope (repeat for several); --customer '' alone: every customer")
    commands.add_parser("list", help="every user with role, scope, state and creation time")
    return parser


def _read_password(from_stdin: bool, *, stdin: TextIO, prompt: Callable[[str], str]) -> str:
    if from_stdin or not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    password = prompt("Password: ")
    if prompt("Password again: ") != password:
        raise UserError(i18n.lazy("The two passwords differ; nothing was changed."))
    return password


def _print_table(session: Session, out: TextIO) -> None:
    header = ("USERNAME", "ROLE", "CUSTOMERS", "STATE", "CREATED", "NAME")
    rows = [(u.username, u.role, ",".join(u.customers or []) or "all", "disabled" if u.disabled else "active",
             u.created_at.isoformat(timespec="seconds"), u.display_name) for u in list_users(session)]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip(), file=out)
