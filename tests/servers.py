"""Real time-series servers for tests: Debian's ``victoria-metrics`` and ``influxd`` (1.6.7),
each on a free loopback port with its own data folder.

A server object can be stopped (SIGTERM, or killed) and started again on the same port and
data folder, for outage tests::

    vm = VictoriaMetrics(tmp_path / "vm")
    vm.start()
    ...
    vm.stop()          # the store is unreachable now
    vm.start()         # same URL, same data

The session fixtures ``victoria_metrics`` and ``influxdb`` (loaded for the whole suite by
tests/conftest.py) share one instance each; a test that stops its server must start its own.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import httpx
import pytest

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server(ABC):
    """One server process; ``command()`` and ``ready()`` per kind."""

    name = "server"

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir / f"{self.name}.log"

    @abstractmethod
    def command(self) -> list[str]:
        """The server's command line."""

    @abstractmethod
    def ready(self) -> bool:
        """True once it answers requests."""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():  # no event to await: the port opens when it is ready
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} not ready after {START_TIMEOUT_S} s: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: the server flushes what it holds and exits."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self._process = None

    def kill(self) -> None:
        """SIGKILL: what the server had not flushed is lost (VictoriaMetrics: up to ~1 s)."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:]) if self._log.exists() else ""

    def _answers(self) -> bool:
        try:
            return self.ready()
        except httpx.HTTPError:
            return False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class VictoriaMetrics(Server):
    name = "victoria-metrics"

    # What the store needs of the server (storage/influx/README.md): fresh points searchable
    # after 1 s not 30, a re-sent sample stored once, and data from any date kept (contract
    # data is in March 2026).
    FLAGS = ("-search.latencyOffset=1s", "-dedup.minScrapeInterval=1ms", "-retentionPeriod=100y",
             "-loggerLevel=WARN")

    def __init__(self, data_dir: Path, *, port: int | None = None, extra_flags: tuple[str, ...] = (),
                 basic_auth: tuple[str, str] | None = None) -> None:
        """``basic_auth``: (username, password) every request but /health must carry."""
        super().__init__(data_dir, port=port)
        self.extra_flags = extra_flags
        self.basic_auth = basic_auth

    def command(self) -> list[str]:
        auth = [f"-httpAuth.username={self.basic_auth[0]}", f"-httpAuth.password={self.basic_auth[1]}"] \
            if self.basic_auth else []
        return ["victoria-metrics", f"-storageDataPath={self.data_dir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}", *self.FLAGS, *auth, *self.extra_flags]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/health", timeout=1).status_code == 200

    def force_flush(self) -> None:
        """Make everything received searchable now (tests only: in production readers see
        points ~1-2 s after they were written, when the in-memory buffer is flushed)."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10, auth=self.basic_auth).raise_for_status()


class InfluxDB(Server):
    """InfluxDB 1.6.7 (Debian's influxd): the v1 HTTP API (/write, /query), no auth."""

    name = "influxd"

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        super().__init__(data_dir, port=port)
        self.rpc_port = free_port()  # backup/restore RPC; it would default to 8088 on every address

    def command(self) -> list[str]:
        config = self.data_dir / "influxdb.conf"
        config.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.data_dir / 'meta'}"
  logging-enabled = false
[data]
  dir = "{self.data_dir / 'data'}"
  wal-dir = "{self.data_dir / 'wal'}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
""")
        return ["influxd", "run", "-config", str(config)]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/ping", timeout=1).status_code == 204

    def query(self, statement: str) -> dict:
        """One InfluxQL statement (CREATE DATABASE ...), raising on an error."""
        response = httpx.post(f"{self.url}/query", data={"q": statement}, timeout=10)
        response.raise_for_status()
        body = response.json()
        errors = [r["error"] for r in body.get("results", []) if "error" in r]
        assert not errors, f"{statement}: {errors}"
        return body


@contextmanager
def stub_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A bare HTTP server on a free loopback port, serving from a thread: for answers no real
    server gives on demand (a 503, then a 204), or to see what a client sent."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """One VictoriaMetrics for the session; tests keep apart by measurement name. Never stop it."""
    with VictoriaMetrics(tmp_path_factory.mktemp("victoria-metrics")) as server:
        yield server


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    """One InfluxDB 1.6.7 for the session, with the database ``sitewatch`` made; tests keep
    apart by measurement name. Never stop it."""
    with InfluxDB(tmp_path_factory.mktemp("influxd")) as server:
        server.query('CREATE DATABASE "sitewatch"')
        yield server
