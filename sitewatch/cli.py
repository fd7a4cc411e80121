"""``sitewatch`` command line: demo, run, check, simulate, vault, user, db, audit, modbus."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sitewatch.cli_modbus import add_modbus_command, run_modbus
from sitewatch.config.load import ConfigError, load_config
from sitewatch.config.models import Config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sitewatch",
        description="Monitoring and maintenance tickets for gas regulator stations and security systems.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="simulated stations, collector, rules and dashboard in one process",
                               description="Start a demo fleet of simulated regulator stations on three sites, "
                               "the collector, the rules and the dashboard, on embedded stores. A fault is "
                               "injected on a schedule so that a ticket appears within two minutes.")
    demo.add_argument("--stations", type=int, default=20, help="number of simulated stations (default 20)")
    demo.add_argument("--gateway-stations", type=_gateway_stations, default=4, metavar="N",
                      help="stations behind one simulated DTU gateway (RTU over TCP), besides those (default 4; "
                           "0: no gateway)")
    demo.add_argument("--cameras", type=int, default=30, help="number of simulated cameras (default 30)")
    demo.add_argument("--alarm-hosts", type=int, default=5, help="number of simulated alarm hosts (default 5)")
    demo.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="dashboard port (default 8000)")
    demo.add_argument("--data-dir", default=None, help="where the demo keeps its stores (default: a new temp folder)")
    demo.add_argument("--poll-interval-s", type=float, default=5.0, help="poll interval of every station (default 5)")
    demo.add_argument("--no-schedule", action="store_true", help="do not inject faults on a schedule")
    demo.add_argument("--no-history", action="store_true",
                      help="start with empty stores instead of a week of past (tickets, inspections, 08:30 logs)")
    demo.add_argument("--site-time", default=None, metavar="HH:MM", type=_site_time,
                      help="start the demo's clock at this local time at the sites (e.g. 03:00 to see the night's "
                           "low flows now); default: the real time")

    run = commands.add_parser("run", help="run the service from a configuration file",
                              description="Run the collector, the rules, the chores and the API as configured, "
                              "or only some of them (--roles).")
    run.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    run.add_argument("--roles", type=_roles, default=None, metavar="ROLE,...",
                     help="what this process runs: collector,rules (polling, the store writer, alerts and "
                          "tickets; the two go together), chores (08:30 logs, inspections, store maintenance, "
                          "paging), api (the web API and pages); default: all of them")
    run.add_argument("--port", type=int, default=None, metavar="P",
                     help="the API's port instead of [api] port: several API processes on one machine")
    run.add_argument("--metrics-port", type=int, default=None, metavar="P",
                     help="serve Prometheus metrics on http://127.0.0.1:P/metrics (for a process without the API, "
                          "which serves /metrics itself); 0 picks a free port")

    paging = commands.add_parser("paging", help="only the paging stage (planner and senders), e.g. in its own process",
                                 description="Plans and sends the messages of [paging] from the configured database.")
    paging.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    check = commands.add_parser("check", help="validate a configuration file and exit",
                                description="Validate a configuration file; exit 0 when it is usable.")
    check.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")

    commands.add_parser("simulate", help="run simulated regulator stations (see `sitewatch simulate --help`)",
                        add_help=False)
    vault = commands.add_parser("vault", help="device credentials: set, list, delete, rewrap",
                                description="Manage the encrypted device credentials of a deployment. "
                                "The key comes from [vault] key_file in the config or SITEWATCH_VAULT_KEY.")
    vault.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    vault.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                       help="set NAME --username U [--password-stdin] | list | delete NAME | rewrap")
    user = commands.add_parser("user", help="the people who log in: add, passwd, disable, enable, role, list",
                               description="Manage the users of a deployment (kept in its database). "
                               "Passwords come from a hidden prompt, or from stdin when it is not a terminal.")
    user.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    user.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                      help="add USERNAME --role R [--customer C ...] [--name N] [--password-stdin] | "
                      "passwd USERNAME | disable USERNAME | enable USERNAME | role USERNAME [--role R] "
                      "[--customer C ...] | list")
    db = commands.add_parser("db", help="the database's schema: upgrade, current",
                             description="upgrade: migrate the deployment's database to this version's schema "
                             "(every start does it too); current: print the revision it is at.")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    audit = commands.add_parser("audit", help="the audit log: verify its hash chain",
                                description="verify: walk the audit log's hash chain (storage/audit_chain.py) "
                                "and print OK with the number of rows, or the first broken row and what differs "
                                "(exit 1).")
    audit.add_argument("action", choices=["verify"])
    audit.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file")
    add_modbus_command(commands)
    for name, summary in (("backup", "copy the database and the time series into a folder, also while the service runs"),
                          ("restore", "put a backup back into the stores, the service stopped")):
        commands.add_parser(name, help=f"{summary} (see `sitewatch {name} --help`)", add_help=False)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:  # the simulator has its own command line; hand it everything
        from sitewatch.simulators.regulator.__main__ import main as simulate

        return simulate(argv[1:])
    if argv[:1] in (["backup"], ["restore"]):  # their own command line: backup/cli.py
        from sitewatch.backup.cli import main as backup_main

        return backup_main(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # pymodbus logs every refused connection at ERROR; our health records say it once.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    # One line per camera request, or per credential use, drowns what matters; the audit
    # log in the database keeps every credential use.
    for chatty in ("httpx", "sitewatch.vault.store", "alembic"):  # alembic: storage.schema says what it migrated
        logging.getLogger(chatty).setLevel(logging.WARNING)

    if args.command == "check":
        return _check(args.config)
    if args.command == "vault":
        return _vault(args.config, args.args)
    if args.command == "user":
        return _user(args.config, args.args)
    if args.command == "run":
        return _run(args.config, args.roles, args.port, args.metrics_port)
    if args.command == "paging":
        return _paging(args.config)
    if args.command == "db":
        return _db(args.config, args.action)
    if args.command == "audit":
        return _audit_verify(args.config)
    if args.command == "modbus":
        return run_modbus(args)
    from sitewatch.demo import DemoOptions, run_demo

    options = DemoOptions(
        stations=args.stations, cameras=args.cameras, alarm_hosts=args.alarm_hosts, host=args.host,
        port=args.port, data_dir=args.data_dir, poll_interval_s=args.poll_interval_s, schedule=not args.no_schedule,
        site_time=args.site_time, history=not args.no_history, gateway_stations=args.gateway_stations,
    )
    return _until_signal(lambda stop: run_demo(options, stop=stop))


def _site_time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day such as 03:00") from None


def _gateway_stations(text: str) -> int:
    """A count of stations behind the demo's gateway: its device ids are 1-247."""
    try:
        count = int(text)
    except ValueError:
        count = -1
    if not 0 <= count <= 247:
        raise argparse.ArgumentTypeError(f"{text!r}: a gateway has device ids 1-247, give 0 to 247 stations")
    return count


def _roles(text: str) -> frozenset[str]:
    from sitewatch.stages.roles import RolesError, parse_roles

    try:
        return parse_roles(text)
    except RolesError as exc:  # argparse says it and exits 2
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def _check(path: str) -> int:
    config = _load(path)
    if config is None:
        return 2
    print(f"{path}: ok — {len(config.sites)} site(s), {len(config.assets)} asset(s), {len(config.rules)} rule(s)")
    from sitewatch.i18n.fonts import problem

    if (fonts := problem(config.review.pdf_font_file)) is not None:  # not fatal: English PDFs still work
        print(f"warning: {fonts}", file=sys.stderr)
    return 0


def _vault(path: str, args: list[str]) -> int:
    config = _load(path)
    if config is None:
        return 2
    from sitewatch.vault.cli import main as vault_main
    from sitewatch.vault.errors import KeyConfigError
    from sitewatch.vault.keys import load_key

    try:
        key = load_key(key_file=config.vault.key_file)
    except KeyConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with _database(config) as sessions:
        return vault_main(args, sessions=sessions, key=key)


def _user(path: str, args: list[str]) -> int:
    config = _load(path)
    if config is None:
        return 2
    from sitewatch.auth.cli import main as user_main

    with _database(config) as sessions:
        return user_main(args, sessions=sessions, customers={c.id for c in config.customers})


@contextlib.contextmanager
def _database(config: Config):
    """The deployment's database at this version's schema, for a command that works on it directly."""
    from sitewatch.storage.database import session_factory
    from sitewatch.storage.schema import SchemaRefused, upgrade_schema

    with _engine(config) as engine:
        try:
            upgrade_schema(engine)
        except SchemaRefused as exc:
            raise SystemExit(f"error: {exc}") from None
        yield session_factory(engine)


@contextlib.contextmanager
def _engine(config: Config):
    from sitewatch.storage.database import make_engine

    data_dir = config.storage.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.storage.database_url.format(data_dir=data_dir.as_posix()))
    try:
        yield engine
    finally:
        engine.dispose()


def _db(path: str, action: str) -> int:
    config = _load(path)
    if config is None:
        return 2
    from sitewatch.storage import schema

    with _engine(config) as engine:
        try:
            if action == "upgrade":
                schema.upgrade_schema(engine)
        except schema.SchemaRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        revision, head = schema.current_revision(engine), schema.head_revision()
    if revision is None:
        print("none: an empty database, or one made before migrations (`sitewatch db upgrade` adopts it)")
    else:
        print(f"{revision} (head)" if revision == head else f"{revision} (this version's head is {head})")
    return 0


def _audit_verify(path: str) -> int:
    """Reads only: the database is not migrated first (a chain is verified as it was found)."""
    config = _load(path)
    if config is None:
        return 2
    from sitewatch.storage import audit_chain, schema

    with _engine(config) as engine:
        revision, head = schema.current_revision(engine), schema.head_revision()
        if revision != head:
            print(f"error: the database is at revision {revision}, not {head}: `sitewatch db upgrade` first",
                  file=sys.stderr)
            return 2
        with engine.connect() as conn:
            verdict = audit_chain.verify(conn)
    print(audit_chain.describe(verdict))
    return 0 if verdict.broken is None else 1


def _run(path: str, roles: frozenset[str] | None, port: int | None = None, metrics_port: int | None = None) -> int:
    config = _load(path)
    if config is None:
        return 2
    from sitewatch.components import build_components
    from sitewatch.metrics_http import serve_metrics
    from sitewatch.serve import restrict_file_modes, serve
    from sitewatch.stages.roles import ALL_ROLES, describe
    from sitewatch.storage.schema import SchemaRefused
    from sitewatch.vault.errors import KeyConfigError

    # Before anything is created: the stores, spool and snapshots are for the service alone.
    restrict_file_modes(Path(config.storage.data_dir))
    try:
        parts = build_components(config)
    except (KeyConfigError, SchemaRefused) as exc:  # no key for the cameras' passwords; a database not ours
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main(stop: asyncio.Event) -> None:

        async def ready(port: int | None) -> None:
            chosen = "" if roles is None else f" [roles: {describe(roles)}]"
            if port is None:
                print(f"Sitewatch is running{chosen}, without the API", flush=True)
            else:
                scheme = "https" if config.api.tls_cert_file else "http"
                print(f"Sitewatch is running: {scheme}://{config.api.host}:{port}/  (API docs: /docs){chosen}",
                      flush=True)

        metrics = None
        if metrics_port is not None:
            metrics = await serve_metrics(parts.metrics, host="127.0.0.1", port=metrics_port)
            print(f"metrics: http://127.0.0.1:{metrics.sockets[0].getsockname()[1]}/metrics", flush=True)
        try:
            await serve(parts, host=config.api.host, port=config.api.port if port is None else port, stop=stop,
                        on_ready=ready, roles=roles or ALL_ROLES)
        finally:
            if metrics is not None:
                metrics.close()
                await metrics.wait_closed()
            parts.close()

    return _until_signal(main)


def _paging(path: str) -> int:
    config = _load(path)
    if config is None:
        return 2
    from sitewatch.domain.time import SystemClock
    from sitewatch.paging.service import credential_names, run_alone
    from sitewatch.vault.errors import KeyConfigError
    from sitewatch.vault.keys import load_key
    from sitewatch.vault.store import Vault

    try:
        key = load_key(key_file=config.vault.key_file) if credential_names(config) else None
    except KeyConfigError as exc:  # the channels' secrets are in the vault
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main(stop: asyncio.Event) -> None:
        with _database(config) as sessions:
            vault = Vault(sessions, key) if key is not None else None
            print(f"Sitewatch paging is running ({len(config.paging.channels) if config.paging else 0} channel(s))",
                  flush=True)
            await run_alone(config, sessions=sessions, vault=vault, clock=SystemClock(), stop=stop)

    return _until_signal(main)


def _until_signal(main) -> int:
    from sitewatch.components import tune_garbage_collector

    tune_garbage_collector()

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
