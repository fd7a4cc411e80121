"""Outbox throughput: messages/s from ticket changes to a local webhook and SMS gateway.

    python -m bench.bench_paging [--tickets 500] [--database sqlite|postgresql|postgresql://USER@HOST:PORT]

Plan: --tickets stations (100 per site) each fire a critical outlet-high alert through
TicketWriter.apply, as the rules do; one route pages two recipients per ticket, the
dispatch desk's group webhook and its on-call person's SMS, with storm folding effectively
off (per_site_burst 1000). Timed: one Planner.run turning the outbox into pages and
deliveries (outbox entries/s, deliveries planned/s).

Send: a Sender drains every pending delivery to one local HTTP receiver (a bare asyncio
server in this process that answers 200 {"errcode":0} and counts message keys) with its
own loop, as the service runs it (claim, POST, record; a landed message's slot is filled
at once), each channel at per_minute 6000 so the rate limit is
not what is measured, and at most IN_FLIGHT_PER_CHANNEL in flight per channel. Every
delivery must end delivered and the receiver must see each key once, or a FAILED line
is printed and the exit status is 1.

Baseline in the same process: the very requests the receiver got (same paths, headers
and bodies), POSTed again straight through the same shared httpx client, at most
IN_FLIGHT_PER_CHANNEL at a time per channel, no database: the ceiling for this receiver
on this machine. The receiver shares the event loop and the CPU with both.

Storm, on a database of its own: 200 stations of one site go dark within a minute with
the default storm settings (per_site_burst 1, window 60 s); the injected clock is moved
past the window and the messages each recipient gets are counted in the deliveries table.

The clock is injected (now() and monotonic() move only when the bench moves them), so
leases, back-off and the token buckets never wait on the wall clock. SQLite in a
temporary folder by default; --database postgresql creates a fresh database on the
server (postgresql://postgres@127.0.0.1:5432 unless a server URL is given) and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.paging.channels.build import build_channels, http_client
from sitewatch.paging.planner import Planner
from sitewatch.paging.sender import IN_FLIGHT_PER_CHANNEL, Sender
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.schema import upgrade_schema
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets.writer import TicketWriter

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "sitewatch.example.toml"
# Thursday 2026-12-03 02:30 in Shanghai: the dispatch centre's night.
T0 = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
STATIONS_PER_SITE = 100
WRITE_BATCH = 50  # transitions per TicketWriter.apply, as a rules batch
RETRY_MAX_S = 60.0
MAX_STALLS = 10  # rounds in a row that start nothing (back-off, an empty bucket) before giving up
STORM_BATCHES = 4  # the dark site's alerts arrive in this many rules batches, 10 s apart


class BenchClock:
    """Reads ``now`` until the bench moves it; monotonic time moves with it."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._start = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._start).total_seconds()

    def advance(self, *, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


# --- the receiver ----------------------------------------------------------------------

_ANSWER = b'{"errcode":0}'
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(_ANSWER), _ANSWER)
_NOT_SUPPORTED = b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def key(self) -> str:
        """The message key: the webhook's X-Sitewatch-Delivery, the SMS gateway's form ``id``."""
        return self.headers.get("x-sitewatch-delivery") or parse_qs(self.body.decode("ascii"))["id"][0]

    def replay_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k == "content-type" or k.startswith("x-sitewatch-")}


class Receiver:
    """Every robot and the SMS gateway at once: keeps each request and counts its key."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.keys: Counter[str] = Counter()
        self.url = ""

    def got(self, request: Received) -> None:
        self.requests.append(request)
        self.keys[request.key] += 1

    def forget(self) -> None:
        self.requests, self.keys = [], Counter()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        server = await asyncio.get_running_loop().create_server(lambda: _HttpProtocol(self), "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()


class _HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all httpx sends for these channels.
    Far cheaper than a full server, so the ceiling measured is mostly the client's."""

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            request_line, *lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "transfer-encoding" in headers:
                self._transport.write(_NOT_SUPPORTED)
                self._transport.close()
                return
            size = end + 4 + int(headers.get("content-length", "0"))
            if len(self._buffer) < size:
                return  # the rest of the body is on its way
            body = bytes(self._buffer[end + 4:size])
            del self._buffer[:size]
            self._receiver.got(Received(path=request_line.split(" ")[1], headers=headers, body=body))
            self._transport.write(_RESPONSE)


# --- the world -------------------------------------------------------------------------


def bench_config(url: str, *, stations: int, per_site: int, storm_burst: int | None) -> Config:
    """The example config plus ``stations`` regulator stations, ``per_site`` to a site, and a
    [paging] section: one desk (the dispatch centre) whose group webhook and on-call person's
    SMS both go to ``url``. ``storm_burst`` None: the default storm settings."""
    raw = tomllib.loads(EXAMPLE.read_text())
    site = next(s for s in raw["sites"] if s["id"] == "north")
    station = next(a for a in raw["assets"] if a["id"] == "rs-north-01")
    sites = (stations + per_site - 1) // per_site
    raw["sites"] += [site | {"id": f"d{k:03d}", "name": f"District {k:03d}"} for k in range(sites)]
    raw["assets"] += [station | {"id": station_id(i), "site": f"d{i // per_site:03d}", "name": f"Station {i:05d}"}
                      for i in range(stations)]
    storm = {} if storm_burst is None else {"per_site_burst": storm_burst}
    raw["paging"] = {
        "base_url": "https://sitewatch.example",
        "retry_first_s": 5, "retry_max_s": RETRY_MAX_S, "give_up_after_min": 60,
        "storm": storm,
        "people": {
            "wang": {"name": "王强", "phone": "13800000003", "channels": ["sms"]},
            "liu": {"name": "刘洋", "phone": "13800000004", "channels": ["sms"]},
            "chen": {"name": "陈静", "phone": "13800000005", "channels": ["sms"]},
        },
        "channels": {
            "sms": {"kind": "sms", "per_minute": 6000,
                    "request": {"url": f"{url}/sms", "form": {"to": "{phone}", "text": "{text}", "id": "{id}"},
                                "success_json": {"errcode": 0}}},
            "hook": {"kind": "webhook", "url": f"{url}/hook", "per_minute": 6000},
        },
        "desks": {"dispatch-centre": {"rota": {"weekly": ["wang"], "weekly_from": "2026-11-30"}, "lead": "liu",
                                      "manager": "chen", "groups": ["hook"]}},
        # One desk whatever the hour: the recipients are the same two for every ticket.
        "routes": [{"name": "urgent", "severities": ["critical", "major"], "desk": "dispatch-centre"}],
    }
    return config_from_dict(raw)


def station_id(i: int) -> str:
    return f"rs-{i:05d}"


def firing(asset: str, at: datetime, *, rule: str, channel: str, severity: Severity) -> AlertTransition:
    return AlertTransition(
        fingerprint=f"{asset}/{rule}/{channel}", asset_id=asset, rule_id=rule, channel=channel,
        state=AlertState.FIRING, at=at, severity=severity, value=3.1, unit="kPa",
        summary=f"{asset}: {channel} 3.1 kPa above 2.9 kPa for 10 s",
    )


@contextlib.contextmanager
def fresh_database(server: str | None, folder: Path, name: str) -> Iterator[sessionmaker[Session]]:
    """An empty database with the schema: a SQLite file in ``folder`` (``server`` None), or a
    database created on the PostgreSQL ``server`` and dropped afterwards."""
    if server is None:
        engine = make_engine(f"sqlite:///{folder / name}.db")
        try:
            upgrade_schema(engine)
            yield session_factory(engine)
        finally:
            engine.dispose()
        return
    database = f"bench_paging_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5)
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        engine = make_engine(f"{server}/{database}")
        try:
            upgrade_schema(engine)
            yield session_factory(engine)
        finally:
            engine.dispose()
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
    finally:
        admin.close()


def pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.state == "pending"))


# --- the phases ------------------------------------------------------------------------


def open_tickets(sessions: sessionmaker[Session], config: Config, clock: BenchClock, tickets: int) -> tuple[float, int]:
    """Every station's outlet goes high; returns (seconds, tickets opened)."""
    writer = TicketWriter(sessions=sessions, config=config)
    ids = [station_id(i) for i in range(tickets)]
    opened = 0
    started = time.perf_counter()
    for first in range(0, tickets, WRITE_BATCH):
        batch = [firing(s, clock.now(), rule="outlet-high", channel="outlet_kpa", severity=Severity.CRITICAL)
                 for s in ids[first:first + WRITE_BATCH]]
        opened += writer.apply(batch).tickets_opened
    return time.perf_counter() - started, opened


async def send_all(sender: Sender, sessions: sessionmaker[Session], clock: BenchClock) -> tuple[float, int]:
    """The sender's own loop (as the service runs it) until nothing is pending; returns
    (seconds, times the clock was moved on for a retry's back-off or an empty bucket)."""
    moved = stalls = 0
    started = time.perf_counter()
    loop = asyncio.create_task(sender.run(idle_s=0.01))
    try:
        last = pending(sessions)
        while last:
            await asyncio.sleep(0.05)
            now_pending = pending(sessions)
            stalls = 0 if now_pending < last else stalls + 1
            if stalls == MAX_STALLS:
                break
            if stalls:
                moved += 1
                clock.advance(seconds=RETRY_MAX_S)
            last = now_pending
        return time.perf_counter() - started, moved
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def post_all(http: httpx.AsyncClient, url: str, requests: list[Received], per_channel: int) -> tuple[float, int]:
    """The baseline: ``requests`` POSTed again, ``per_channel`` at a time per path; returns
    (seconds, how many were answered 2xx)."""
    gates = {path: asyncio.Semaphore(per_channel) for path in {r.path for r in requests}}

    async def post(request: Received) -> bool:
        async with gates[request.path]:
            response = await http.post(url + request.path, content=request.body, headers=request.replay_headers(),
                                       timeout=10)
        return response.is_success

    started = time.perf_counter()
    answered = await asyncio.gather(*(post(r) for r in requests))
    return time.perf_counter() - started, sum(answered)


def storm(sessions: sessionmaker[Session], stations: int) -> tuple[Counter[tuple[str, str]], int, float]:
    """``stations`` of one site go dark within a minute, default storm settings; returns
    (deliveries by (recipient, state), tickets opened, planning seconds)."""
    config = bench_config("http://127.0.0.1:9", stations=stations, per_site=stations, storm_burst=None)
    assert config.paging is not None
    clock = BenchClock(T0)
    writer = TicketWriter(sessions=sessions, config=config)
    planner = Planner(sessions=sessions, config=config)
    ids = [station_id(i) for i in range(stations)]
    step = -(-stations // STORM_BATCHES)
    planning = 0.0
    for first in range(0, stations, step):
        at = clock.advance(seconds=10)
        writer.apply([firing(s, at, rule="no-data", channel="outlet_kpa", severity=Severity.MAJOR)
                      for s in ids[first:first + step]])
        started = time.perf_counter()
        planner.run(now=clock.now())
        planning += time.perf_counter() - started
    clock.advance(seconds=config.paging.storm.window_s + 1)  # the first waiting message's window ends
    started = time.perf_counter()
    planner.run(now=clock.now())
    planning += time.perf_counter() - started
    with sessions() as session:
        rows = session.execute(select(DeliveryRow.recipient, DeliveryRow.state, func.count())
                               .group_by(DeliveryRow.recipient, DeliveryRow.state)).all()
        tickets = session.scalar(select(func.count()).select_from(TicketRow))
    return Counter({(recipient, state): n for recipient, state, n in rows}), tickets, planning


def check(sessions: sessionmaker[Session], receiver: Receiver) -> list[str]:
    """What went wrong in the send phase, if anything."""
    with sessions() as session:
        planned = dict(session.execute(select(DeliveryRow.key, DeliveryRow.state)).all())
    problems = []
    states = Counter(planned.values())
    if set(states) != {"delivered"}:
        problems.append(f"deliveries by state {dict(states)}: not all delivered")
    twice = sorted(k for k, n in receiver.keys.items() if n > 1)
    missing = sorted(set(planned) - set(receiver.keys))
    unknown = sorted(set(receiver.keys) - set(planned))
    if twice:
        problems.append(f"{len(twice)} keys arrived more than once, e.g. {twice[:3]}")
    if missing:
        problems.append(f"{len(missing)} planned messages never arrived, e.g. {missing[:3]}")
    if unknown:
        problems.append(f"{len(unknown)} keys arrived that nobody planned, e.g. {unknown[:3]}")
    return problems


async def run(args: argparse.Namespace, server: str | None, folder: Path) -> list[str]:
    """All three phases; returns what went wrong (nothing: every check passed)."""

    def no_secrets(name: str) -> NoReturn:
        raise LookupError(f"the bench's channels name no credential, yet {name!r} was asked for")

    problems: list[str] = []
    receiver = Receiver()
    async with receiver.serving():
        config = bench_config(receiver.url, stations=args.tickets, per_site=STATIONS_PER_SITE, storm_burst=1000)
        assert config.paging is not None
        clock = BenchClock(T0)
        with fresh_database(server, folder, "paging") as sessions:
            write_s, opened = open_tickets(sessions, config, clock, args.tickets)
            planner = Planner(sessions=sessions, config=config)
            started = time.perf_counter()
            counts = planner.run(now=clock.now())
            plan_s = time.perf_counter() - started
            if opened != args.tickets or counts.pages != args.tickets or counts.messages != 2 * args.tickets:
                problems.append(f"{args.tickets} stations fired: {opened} tickets opened, {counts.pages} paged, "
                                f"{counts.messages} deliveries planned (expected 2 per ticket)")

            http = http_client()
            channels = build_channels(config.paging, secrets=no_secrets, http=http, clock=clock)
            sender = Sender(sessions=sessions, settings=config.paging, channels=channels, clock=clock)
            try:
                send_s, moved = await send_all(sender, sessions, clock)
                await sender.aclose()
                problems += check(sessions, receiver)
                sent = list(receiver.requests)
                receiver.forget()
                base_s, answered = await post_all(http, receiver.url, sent, IN_FLIGHT_PER_CHANNEL)
                if answered != len(sent) or sorted(receiver.keys.elements()) != sorted(r.key for r in sent):
                    problems.append(f"baseline: {answered} of {len(sent)} POSTs answered 2xx, "
                                    f"{sum(receiver.keys.values())} arrived")
            finally:
                for channel in channels.values():
                    await channel.aclose()
                await http.aclose()
        with fresh_database(server, folder, "storm") as sessions:
            storm_rows, storm_tickets, storm_s = storm(sessions, args.storm_stations)

    where = "SQLite" if server is None else f"PostgreSQL at {server}"
    n = len(sent)
    print(f"paging: {args.tickets:,} tickets at {-(-args.tickets // STATIONS_PER_SITE)} sites, 2 recipients each "
          f"(group webhook + on-call SMS at one local receiver), {where}")
    print(f"write:    {opened:,} tickets opened through TicketWriter.apply in {write_s:.2f} s "
          f"({opened / write_s:,.0f} tickets/s)")
    print(f"plan:     {counts.events:,} outbox entries -> {counts.pages:,} pages, {counts.messages:,} deliveries in "
          f"{plan_s:.2f} s: {counts.events / plan_s:,.0f} outbox entries/s, {counts.messages / plan_s:,.0f} "
          f"deliveries planned/s")
    print(f"send:     {sender.delivered:,} messages claimed, POSTed and recorded in {send_s:.2f} s: "
          f"{sender.delivered / send_s:,.0f} messages/s ({IN_FLIGHT_PER_CHANNEL} in flight per channel, "
          f"{len(channels)} channels; failed attempts {sender.failed_attempts}, dead {sender.dead}, "
          f"clock moved on {moved} times)")
    print(f"baseline: the same {n:,} POSTs straight through the shared httpx client, {IN_FLIGHT_PER_CHANNEL} at a "
          f"time per channel, no database: {base_s:.2f} s, {n / base_s:,.0f} messages/s")
    print(f"sender / baseline: {(sender.delivered / send_s) / (n / base_s):.2f}x the throughput")
    stormed = [f"{recipient} {sum(n for (r, s), n in storm_rows.items() if r == recipient and s == 'pending')} "
               f"messages ({storm_rows[(recipient, 'folded')]} folded into summaries)"
               for recipient in sorted({r for r, _ in storm_rows})]
    print(f"storm:    {args.storm_stations} stations of one site dark within a minute (default storm settings: "
          f"per_site_burst 1, window 60 s) -> {storm_tickets} tickets, planned in {storm_s:.2f} s; per recipient: "
          + "; ".join(stormed))
    if not problems:
        print(f"check:    all {n:,} deliveries delivered; the receiver got each key exactly once")
    return problems


@contextlib.contextmanager
def quiet(logger: str) -> Iterator[None]:
    """The writer logs a warning per ticket opened: hundreds of lines amid the figures."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--database", default="sqlite",
                        help="sqlite (a temporary file), postgresql (a fresh database at "
                             f"{POSTGRES_SERVER}) or a PostgreSQL server URL")
    parser.add_argument("--storm-stations", type=int, default=200)
    args = parser.parse_args(argv)
    if args.database == "sqlite":
        server = None
    elif args.database == "postgresql":
        server = POSTGRES_SERVER
    elif args.database.startswith("postgresql://"):
        server = args.database.rstrip("/")
    else:
        parser.error(f"--database: sqlite, postgresql or postgresql://..., not {args.database!r}")

    with tempfile.TemporaryDirectory(prefix="bench_paging_") as folder, quiet("sitewatch.tickets.writer"):
        problems = asyncio.run(run(args, server, Path(folder)))
    for problem in problems:
        print(f"FAILED: {problem}")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
