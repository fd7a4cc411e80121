"""The control room at fleet scale: 10,000 assets, 1,000 firing alerts.

    python -m bench.bench_control_room [--assets 10000] [--requests 5000] [--clients 50]
        [--fanout-s 60] [--baseline-s 20] [--change-every-s 3] [--no-browser]

Setup (this process): 10 customers x 10 sites x 100 regulator stations in a SQLite
database (inventory synced as `sitewatch run` does, with its audit rows), and 1,000 firing
alerts written by the ticket writer: 400 outlet-high (critical, a ticket each), 200 relief
venting joining those tickets as symptoms, 200 open doors, 100 silent stations (no data)
and 100 gas warnings; plus an inspection in progress and a maintenance window on one site
each. The DuckDB store exists (empty): the control room does not read samples.

The API runs in a child process of its own (``--serve``: the app alone, no collector, GC
tuned as `sitewatch run` does), so its CPU time (/proc/<pid>/stat) is its own. Measured,
each against a baseline taken in the same run:

(a) first paint of the control room: the server's time to the last byte of the HTML (the
    first request after a change, and warm), against the login page; Chromium
    (/usr/bin/chromium) time to first contentful paint and to the load event, against the
    login page in the same browser;
(b) /api/dashboard with 50 concurrent clients by ApacheBench (`ab`, Debian package
    apache2-utils), p50 / p99, asking for gzip as browsers do (three rounds, the median
    one reported) and once without, against /healthz under the same load beside each round;
(c) the live fan-out: server CPU / wall time while 50 control rooms hold the event stream
    open and another process changes the state every few seconds (an alert fires, another
    is acknowledged, ...), against the same changes with one stream and with none.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import hashlib
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bench.bench_collector import Simulator
from sitewatch.auth.users import add_user
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC

CUSTOMERS, SITES_PER_CUSTOMER = 10, 10
TOKEN = "bench-control-room-token"
USER, PASSWORD = "bench-admin", "Bench-Admin-Secret-1"
START_TIMEOUT_S = 120.0
TARGET_PAINT_S, TARGET_P99_MS, TARGET_CPU_PCT = 2.0, 100.0, 10.0
AB_ROUNDS = 3


def bench_config(assets: int, data_dir: Path) -> dict:
    raw = example_config()
    sites = CUSTOMERS * SITES_PER_CUSTOMER
    per_site = max(1, assets // sites)
    station = raw["assets"][0]
    raw.pop("mqtt")
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"tokens": [{"name": "bench", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}],
                  "secure_cookies": False}
    raw["customers"] = [{"id": f"gas-{c}", "name": f"Gas company {c}"} for c in range(CUSTOMERS)]
    raw["sites"] = [{"id": f"site-{s:03d}", "customer": f"gas-{s // SITES_PER_CUSTOMER}", "name": f"District {s:03d}",
                     "sla_zone": "ring2", "time_zone": "Asia/Shanghai"} for s in range(sites)]
    raw["assets"] = [station | {"id": station_id(i), "site": f"site-{i // per_site:03d}", "name": f"Station {i:05d}",
                                "modbus": station["modbus"] | {"port": 20000 + i % 40000}}
                     for i in range(sites * per_site)]
    raw["maintenance_windows"] = [{"id": "bench-window", "sites": ["site-001"], "every": "day",
                                   "at": datetime(2026, 1, 1).time(), "duration_min": 24 * 60 - 1}]
    return raw


def station_id(i: int) -> str:
    return f"rs-{i:05d}"


def story(assets: int, at: datetime) -> list[AlertTransition]:
    """1,000 firing alerts (at 10,000 assets): see the module's docstring."""
    def fire(i: int, rule: str, channel: str, severity: Severity, value: float | None, unit: str) -> AlertTransition:
        asset = station_id(i % assets)
        return AlertTransition(f"{asset}/{rule}/{channel}", asset, rule, channel, AlertState.FIRING, at, severity,
                               value, unit, f"{asset}: {channel} {value} {unit}")

    step = max(1, assets // 1000)
    out = [fire(k * step, "outlet-high", "outlet_kpa", Severity.CRITICAL, 3.2, "kPa") for k in range(400)]
    out += [fire(k * step, "relief-venting", "relief_open", Severity.MAJOR, 1, "state") for k in range(200)]
    out += [fire(k * step, "door-open", "door_open", Severity.WARNING, 1, "state") for k in range(400, 600)]
    out += [fire(k * step, "no-data", "outlet_kpa", Severity.MAJOR, None, "kPa") for k in range(600, 700)]
    out += [fire(k * step, "gas", "gas_lel_pct", Severity.WARNING, 25.0, "%LEL") for k in range(700, 800)]
    return out


def set_up(data_dir: Path, assets: int) -> tuple[int, float]:
    """The database the server reads; returns (firing alerts, seconds)."""
    from sitewatch.components import build_components
    from sitewatch.inspections.visits import start_inspection
    from sitewatch.storage.repository import sync_inventory
    from sitewatch.tickets.writer import TicketWriter

    started = time.perf_counter()
    parts = build_components(config_from_dict(bench_config(assets, data_dir)))
    try:
        now = parts.clock.now()
        with parts.sessions() as session:
            sync_inventory(session, parts.config, actor="bench", now=now)
            start_inspection(session, parts.config, site_id="site-002", asset_id=None, kind="regulator_round",
                             in_charge="Li Wei", people=["Zhao Lei"], actor="bench", at=now)
            add_user(session, USER, PASSWORD, role="admin", at=now, actor="bench")
            session.commit()
        transitions = story(assets, now - timedelta(minutes=10))
        TicketWriter(sessions=parts.sessions, config=parts.config).apply(transitions)
    finally:
        parts.close()
    return len(transitions), time.perf_counter() - started


# --- the server process ----------------------------------------------------------------


def serve(data_dir: Path, assets: int) -> None:
    """The child: the API alone on a free loopback port, printed as "port N"; SIGTERM stops it."""
    import uvicorn

    from sitewatch.api.app import create_app
    from sitewatch.api.dashboard.hub import end_streams
    from sitewatch.components import build_components, tune_garbage_collector
    from sitewatch.serve import EmbeddedServer

    parts = build_components(config_from_dict(bench_config(assets, data_dir)))
    app = create_app(parts)
    tune_garbage_collector()

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                raise SystemExit("the API did not start")
            await asyncio.sleep(0.05)
        print(f"port {server.port}", flush=True)
        await stop.wait()
        server.should_exit = True
        end_streams(app)
        await task

    try:
        asyncio.run(main())
    finally:
        parts.close()


class Server:
    """The child process; always stopped by ``stop``."""

    def __init__(self, data_dir: Path, assets: int) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_control_room", "--serve", str(data_dir), "--assets", str(assets)],
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, start_new_session=True)
        watchdog = threading.Timer(START_TIMEOUT_S, self.process.kill)
        watchdog.start()
        try:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
        finally:
            watchdog.cancel()
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the server did not start:\n{self.stderr_tail()}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    # The child-process handling of bench_collector's simulator: CPU from /proc, stderr kept,
    # SIGTERM then a kill; they read only ``process`` and ``_stderr``.
    cpu_s = Simulator.cpu_s
    stderr_tail = Simulator.stderr_tail
    stop = Simulator.stop


# --- (a) first paint ---------------------------------------------------------------------


def html_times(url: str, path: str, n: int) -> tuple[float, float, int]:
    """(first, median of the rest) seconds to the last byte of ``path``, and its size."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept-Language": "zh-CN"}
    times, size = [], 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            response = client.get(path)
            response.raise_for_status()
            times.append(time.perf_counter() - started)
            size = len(response.content)
    return times[0], statistics.median(times[1:]), size


async def browser_paint(url: str, n: int) -> dict[str, tuple[float, float]]:
    """Median (first contentful paint, load event) in seconds: control room and login page."""
    from playwright.async_api import async_playwright

    timing = """() => { const nav = performance.getEntriesByType("navigation")[0];
        const fcp = performance.getEntriesByName("first-contentful-paint")[0];
        return [fcp ? fcp.startTime / 1000 : NaN, nav.loadEventEnd / 1000]; }"""
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = await (await browser.new_context(base_url=url, locale="zh-CN",
                                                    viewport={"width": 1600, "height": 1000})).new_page()
            out = {}
            for name, path in (("login page", "/login"), ("control room", "/")):
                samples = []
                for _ in range(n):
                    await page.goto(path, wait_until="load")
                    # A light page may be painted only after its load event.
                    await page.wait_for_function(
                        "() => performance.getEntriesByName('first-contentful-paint').length > 0")
                    samples.append(await page.evaluate(timing))
                out[name] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
                if name == "login page":
                    await page.fill("input[name=username]", USER)
                    await page.fill("input[name=password]", PASSWORD)
                    async with page.expect_navigation():
                        await page.click("button[type=submit]")
            return out
        finally:
            await browser.close()
    finally:
        await playwright.stop()


# --- (b) ab --------------------------------------------------------------------------------


def ab(url: str, path: str, requests: int, clients: int, *, gzip: bool) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests per second) from ApacheBench; ``gzip``: ask for it as a browser does."""
    headers = ["-H", f"Authorization: Bearer {TOKEN}"] + (["-H", "Accept-Encoding: gzip, deflate"] if gzip else [])
    out = subprocess.run(["ab", "-q", "-n", str(requests), "-c", str(clients), *headers, f"{url}{path}"],
                         capture_output=True, text=True, check=True).stdout
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if failed or non_2xx:
        raise SystemExit(f"ab {path}: {failed} failed, {non_2xx.group(1) if non_2xx else 0} non-2xx\n{out}")
    p50 = float(re.search(r"^\s+50%\s+(\d+)", out, re.M).group(1))
    p99 = float(re.search(r"^\s+99%\s+(\d+)", out, re.M).group(1))
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    return p50, p99, rate


# --- (c) the live fan-out ------------------------------------------------------------------


class Changes:
    """Another process's writes every ``every_s``: a station's outlet goes high, or the
    newest such alert is acknowledged, in turn (each moves the control room's state)."""

    def __init__(self, data_dir: Path, assets: int, every_s: float) -> None:
        from sitewatch.storage.database import make_engine, session_factory
        from sitewatch.tickets.writer import TicketWriter

        config = config_from_dict(bench_config(assets, data_dir))
        # The database only: the server holds the DuckDB file's lock.
        self.engine = make_engine(config.storage.database_url.format(data_dir=data_dir.as_posix()))
        self.sessions = session_factory(self.engine)
        self.writer = TicketWriter(sessions=self.sessions, config=config)
        self.every_s = every_s
        self.assets = assets
        self.made = 0
        self.times: list[float] = []  # when each change was committed (perf_counter)

    def change(self) -> None:
        from sqlalchemy import func, select

        from sitewatch.storage.tables import AlertRow
        from sitewatch.tickets.workflow import acknowledge_alert

        now = datetime.now(UTC)
        k = self.made // 2
        asset = station_id(self.assets - 1 - k % 1000)  # stations the story left alone
        if self.made % 2 == 0:
            self.writer.apply([AlertTransition(f"{asset}/outlet-low/outlet_kpa-{k}", asset, "outlet-low", "outlet_kpa",
                                               AlertState.FIRING, now, Severity.CRITICAL, 1.1, "kPa", "bench")])
        else:
            with self.sessions() as session:
                newest = session.scalar(select(func.max(AlertRow.id)))
                acknowledge_alert(session, newest, actor="bench", at=now)
                session.commit()
        self.made += 1
        self.times.append(time.perf_counter())

    async def run(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await asyncio.to_thread(self.change)
            await asyncio.sleep(self.every_s)

    def close(self) -> None:
        self.engine.dispose()


async def fan_out(server: Server, changes: Changes, streams: int, seconds: float) -> tuple[float, int, list[float]]:
    """Server CPU % of one core while ``streams`` event streams are open and the state
    changes; the events delivered; per change, seconds until the first stream had it."""
    pattern = b"\nevent: state\n"
    received = [0] * streams
    arrivals: list[float] = []  # the first stream's events (perf_counter)
    opened = asyncio.Event()

    async def listen(i: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/live/control-room", params={"since": "-"}) as response:
            tail = b""
            async for chunk in response.aiter_raw():
                data = tail + chunk
                n = data.count(pattern)
                if n:
                    received[i] += n
                    if i == 0:
                        arrivals.append(time.perf_counter())
                    if all(received):
                        opened.set()
                tail = data[-(len(pattern) - 1):]

    limits = httpx.Limits(max_connections=streams + 5)
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=None,
                                 limits=limits) as client:
        tasks = [asyncio.create_task(listen(i, client)) for i in range(streams)]
        try:
            if streams:
                await asyncio.wait_for(opened.wait(), 120)  # each stream has had its first (full) state
            base, first = sum(received), len(changes.times)
            cpu, wall = server.cpu_s(), time.perf_counter()
            await changes.run(seconds)
            cpu_pct = 100 * (server.cpu_s() - cpu) / (time.perf_counter() - wall)
            await asyncio.sleep(2)  # the last change's events
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    delays = []
    for at in changes.times[first:] if streams else []:
        i = bisect.bisect_right(arrivals, at)
        if i < len(arrivals):
            delays.append(arrivals[i] - at)
    return cpu_pct, sum(received) - base, delays


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=5000, help="ab requests per URL")
    parser.add_argument("--clients", type=int, default=50, help="ab concurrency and open event streams")
    parser.add_argument("--fanout-s", type=float, default=60.0)
    parser.add_argument("--baseline-s", type=float, default=20.0, help="length of each fan-out baseline")
    parser.add_argument("--change-every-s", type=float, default=3.0)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.assets)
        return
    if shutil.which("ab") is None:
        raise SystemExit("ab not found: install Debian's apache2-utils (apt-get install apache2-utils)")
    # The ticket writer logs every ticket it opens; a thousand of them would bury the figures.
    logging.getLogger("sitewatch.tickets.writer").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        firing, setup_s = set_up(data_dir, args.assets)
        print(f"setup: {args.assets:,} assets on {CUSTOMERS * SITES_PER_CUSTOMER} sites, {firing:,} firing alerts "
              f"(SQLite) in {setup_s:.1f} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        cold_s, changed_s = time_snapshot(data_dir, args.assets)
        print(f"the state (every asset's status, alerts by fault, tickets; both languages), once per change: "
              f"{changed_s * 1000:.0f} ms CPU after one change; from nothing {cold_s * 1000:.0f} ms "
              f"-> {changed_s / cold_s:.2f}x")
        server = Server(data_dir, args.assets)
        changes = Changes(data_dir, args.assets, args.change_every_s)
        try:
            cold, warm, size = html_times(server.url, "/", 21)
            _, login, _ = html_times(server.url, "/login", 21)
            print(f"(a) control room HTML ({size / 1e6:.1f} MB): {cold * 1000:.0f} ms the first time after a change, "
                  f"{warm * 1000:.0f} ms warm (median of 20); login page {login * 1000:.1f} ms "
                  f"-> {warm / login:.0f}x")
            if not args.no_browser:
                paint = asyncio.run(browser_paint(server.url, 5))
                (fcp, load), (base_fcp, base_load) = paint["control room"], paint["login page"]
                print(f"    Chromium: first contentful paint {fcp:.2f} s, load event {load:.2f} s (median of 5; "
                      f"target < {TARGET_PAINT_S:.0f} s: {'met' if load < TARGET_PAINT_S else 'MISSED'}); "
                      f"login page {base_fcp:.2f} s / {base_load:.2f} s -> {load / base_load:.1f}x")
            json_size = len(httpx.get(f"{server.url}/api/dashboard", headers={"Authorization": f"Bearer {TOKEN}"},
                                      timeout=30).content)
            zipped = int(httpx.get(f"{server.url}/api/dashboard", timeout=30, headers={
                "Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip"}).headers["content-length"])
            # Three rounds, each beside the baseline: on a shared machine a stall elsewhere lands
            # in one round's tail (the baseline's too), so the median round is the figure.
            rounds = [(ab(server.url, "/api/dashboard", args.requests, args.clients, gzip=True),
                       ab(server.url, "/healthz", args.requests, args.clients, gzip=True)) for _ in range(AB_ROUNDS)]
            (p50, p99, rate), (b50, b99, brate) = sorted(rounds, key=lambda r: r[0][1])[AB_ROUNDS // 2]
            tails = " / ".join(f"{d[1]:.0f}" for d, _ in rounds)
            base_tails = " / ".join(f"{b[1]:.0f}" for _, b in rounds)
            print(f"(b) /api/dashboard (gzip as browsers ask, {zipped / 1e6:.2f} MB) at {args.clients} clients (ab, "
                  f"{AB_ROUNDS} rounds of {args.requests} requests): p99 {tails} ms; median round p50 {p50:.0f} ms, "
                  f"p99 {p99:.0f} ms, {rate:,.0f} req/s (target p99 < {TARGET_P99_MS:.0f} ms: "
                  f"{'met' if p99 < TARGET_P99_MS else 'MISSED'}); /healthz beside it: p99 {base_tails} ms, that "
                  f"round p50 {b50:.0f} ms, p99 {b99:.0f} ms, {brate:,.0f} req/s -> p99 {p99 / max(b99, 1):.1f}x")
            p50, p99, rate = ab(server.url, "/api/dashboard", args.requests, args.clients, gzip=False)
            print(f"    not compressed ({json_size / 1e6:.1f} MB, a client that does not ask for gzip): p50 {p50:.0f} ms, "
                  f"p99 {p99:.0f} ms, {rate:,.0f} req/s")
            idle, _, _ = asyncio.run(fan_out(server, changes, 0, args.baseline_s))
            one, one_events, _ = asyncio.run(fan_out(server, changes, 1, args.baseline_s))
            many, events, delays = asyncio.run(fan_out(server, changes, args.clients, args.fanout_s))
            print(f"(c) live fan-out, a change every {args.change_every_s:g} s: {args.clients} streams for "
                  f"{args.fanout_s:.0f} s: server {many:.1f} % of a core ({events} events delivered; target < "
                  f"{TARGET_CPU_PCT:.0f} %: {'met' if many < TARGET_CPU_PCT else 'MISSED'}); first stream's event "
                  f"{max(delays, default=float('nan')):.2f} s after a change at worst; baselines over "
                  f"{args.baseline_s:.0f} s: no stream {idle:.1f} %, one stream {one:.1f} % ({one_events} events) "
                  f"-> {args.clients} streams cost {many / max(one, 0.1):.1f}x one")
        finally:
            changes.close()
            server.stop()


def time_snapshot(data_dir: Path, assets: int) -> tuple[float, float]:
    """CPU seconds to read and build the control room's state from nothing, and again after
    one change (an alert acknowledged) with the pieces of the first build at hand. Garbage
    collection held off while timed (the server tunes it; here a full pass over this
    process's heap would land in one build or the other)."""
    from sqlalchemy import func, select

    from sitewatch.api.dashboard.read import Pieces, read_snapshot
    from sitewatch.components import build_components
    from sitewatch.storage.tables import AlertRow
    from sitewatch.tickets.workflow import acknowledge_alert

    parts = build_components(config_from_dict(bench_config(assets, data_dir)))
    try:
        now = parts.clock.now()
        with parts.sessions() as session:
            read_snapshot(session, parts.config, version="warm-up", now=now, unreachable=frozenset())
            pieces = Pieces()
            gc.collect()
            gc.disable()
            started = time.process_time()
            read_snapshot(session, parts.config, version="cold", now=now, unreachable=frozenset(), pieces=pieces)
            cold_s = time.process_time() - started
            acknowledge_alert(session, session.scalar(select(func.min(AlertRow.id))), actor="bench", at=now)
            session.commit()
            started = time.process_time()
            read_snapshot(session, parts.config, version="changed", now=now, unreachable=frozenset(), pieces=pieces)
            changed_s = time.process_time() - started
    finally:
        gc.enable()
        parts.close()
    return cold_s, changed_s


if __name__ == "__main__":
    main()
