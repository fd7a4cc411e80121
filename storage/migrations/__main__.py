"""Write a new migration from what the models have and the head has not:

    .venv/bin/python -m sitewatch.storage.migrations revision "add tickets.cost"

Alembic's autogenerate against a scratch SQLite database brought to the head (or --url, a
database at the head, e.g. a scratch PostgreSQL one); the file lands in versions/ as the
next number. Read it and fix it before committing: autogenerate does not see renames
(it writes a drop and an add) and writes no data migration."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command

from sitewatch.storage.database import make_engine
from sitewatch.storage.schema import alembic_config, head_revision, upgrade_schema


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sitewatch.storage.migrations", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="autogenerate the next migration")
    revision.add_argument("message", help="what it changes, e.g. 'add tickets.cost'")
    revision.add_argument("--url", help="compare against this database (upgraded to the head first)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(args.url or f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            upgrade_schema(engine)
            number = f"{int(head_revision()) + 1:04d}"
            with engine.begin() as conn:
                script = command.revision(alembic_config(conn), message=args.message, autogenerate=True,
                                          rev_id=number)
        finally:
            engine.dispose()
    print(f"wrote {script.path}" if script is not None else "nothing written")  # type: ignore[union-attr]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
