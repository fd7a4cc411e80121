"""``sitewatch backup`` and ``sitewatch restore`` (sitewatch/cli.py hands them their arguments)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sitewatch.backup.errors import BackupError
from sitewatch.backup.make import ServiceAccess, make_backup
from sitewatch.backup.remote import TOKEN_ENV, api_url, read_token
from sitewatch.backup.restore import restore_backup
from sitewatch.config.load import ConfigError, load_config
from sitewatch.domain.time import SystemClock

_BACKUP = f"""\
Copy the relational database and the embedded time series into a new folder with a
manifest (row counts, SHA-256 per file), consistently while the service runs. SQLite is
copied with its online backup API, PostgreSQL with pg_dump (on PATH). The DuckDB file
cannot be opened while the service holds it: the service then makes the copy itself, asked
through POST /api/admin/backup with an admin token (--token-file, or {TOKEN_ENV}); when no
process holds the file, this command copies it. A time series on an InfluxDB-protocol
server is not copied: back it up with the server's own tools."""

_RESTORE = """\
Restore a backup made by `sitewatch backup` into the configured stores, with the service
stopped. Every file is checked against the manifest first; stores that hold data are
replaced only with --force."""


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="sitewatch")
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup", description=_BACKUP, formatter_class=argparse.RawDescriptionHelpFormatter)
    backup.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    backup.add_argument("--out", required=True, type=Path, metavar="DIR", help="a new (or empty) folder")
    backup.add_argument("--url", help="the running service's address (default: from [api] in the config)")
    backup.add_argument("--token-file", type=Path, metavar="FILE",
                        help=f"a file holding an admin API token (default: ${TOKEN_ENV})")
    backup.add_argument("--timeout-s", type=float, default=3600.0,
                        help="how long the service may take to copy the time series (default 3600)")
    restore = commands.add_parser("restore", description=_RESTORE)
    restore.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    restore.add_argument("--from", dest="source", required=True, type=Path, metavar="DIR", help="the backup folder")
    restore.add_argument("--force", action="store_true", help="replace stores that hold data")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        if args.command == "backup":
            access = ServiceAccess(url=args.url or api_url(config), token=read_token(args.token_file),
                                   timeout_s=args.timeout_s)
            made = make_backup(config, args.out, clock=SystemClock(), service=access)
            series = made.timeseries
            if series.folder is None:
                print(f"note: {series.note}", file=sys.stderr)
            else:
                print(f"time series: {made.samples} sample(s), copied by the {series.made_by}")
            print(f"{made.relational.kind}: {sum(made.relational.tables.values())} row(s) in "
                  f"{len(made.relational.tables)} table(s)")
            print(f"backup written to {args.out} ({len(made.files)} files, "
                  f"{sum(f.bytes for f in made.files.values()) / 1e6:.1f} MB)")
        else:
            done = restore_backup(config, args.source, force=args.force)
            for note in done.notes:
                print(f"note: {note}", file=sys.stderr)
            made = done.manifest
            print(f"restored {args.source} (made {made.created_at.isoformat()}): "
                  f"{sum(made.relational.tables.values())} relational row(s), "
                  f"{made.samples if made.samples is not None else 'no'} sample(s); the service may start")
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
