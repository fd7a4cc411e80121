"""`sitewatch run --roles`: real processes running only some stages on a prepared database.

The station's "simulator" is a listening socket nobody accepts on: the kernel completes every
connection attempt into its backlog, so accepting them afterwards counts the polls' connections
without a thread (faketime-proof). A process that polled would connect at once and again after
each timeout; the collector's own run on the same configuration shows the count does move.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from sitewatch.components import build_components
from sitewatch.config.load import load_config
from sitewatch.domain.samples import Sample
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.tables import DailyReviewRow
from tests.serving import READER, bearer
from tests.sitewatch.processes import Running, example_config, until
from tests.sitewatch.test_cli import SITEWATCH
from tests.sitewatch.test_two_processes import read_until, spawn

STATION = "rs-north-01"
POLL_S = 0.5  # a collector would connect within a second


class Listener:
    """A station port that answers nothing and counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self._accepted: list[socket.socket] = []

    def connections(self) -> int:
        """Connections made so far (the kernel's backlog, accepted now)."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return len(self._accepted)
            self._accepted.append(conn)

    def close(self) -> None:
        for conn in self._accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def station() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def prepare(tmp_path: Path, station_port: int, *, samples: list[Sample] = ()) -> Path:
    """The example deployment's configuration; its database with the inventory in it and its
    store with ``samples``, as a process with the collector would have left them."""
    path = tmp_path / "sitewatch.toml"
    path.write_text(example_config(data_dir=tmp_path / "var", client_id=f"sw-roles-{station_port}",
                                   prefix=f"sw-roles-{station_port}", flush_interval_s=0.2,
                                   station_port=station_port, poll_interval_s=POLL_S))
    config = load_config(path)
    parts = build_components(config)
    try:
        with parts.sessions() as session:
            sync_inventory(session, config, actor="config", now=datetime.now(UTC))
            session.commit()
        parts.store.write(samples)
    finally:
        parts.close()  # the embedded store takes one process at a time
    return path


def run_roles(path: Path, roles: str, log: Path) -> subprocess.Popen:
    return spawn([SITEWATCH, "run", "--config", str(path), "--roles", roles], log)


class Roles(Running):
    """A `sitewatch run --roles ...` process that serves the API."""

    def __init__(self, config: Path, log: Path, *, roles: str) -> None:
        self.proc = run_roles(config, roles, log)
        self.url = read_until(self.proc, log, r"Sitewatch is running: (http://127\.0\.0\.1:\d+)/").group(1)


def test_the_api_alone_serves_pages_on_the_database_and_polls_nothing(tmp_path, station):
    path = prepare(tmp_path, station.port)
    api = Roles(path, tmp_path / "api.log", roles="api")
    try:
        assert api.healthz()["status"] == "ok"
        assert api.healthz()["loops"] == {}, "an API-only process runs no pipeline loop"
        for page in ("/", "/tickets", f"/asset/{STATION}"):
            response = httpx.get(f"{api.url}{page}", headers=bearer(READER), timeout=10)
            assert response.status_code == 200, f"{page}: {response.status_code} {response.text[:300]}"
        assert "North 01 regulator station" in response.text, "the station's page does not name it"
        time.sleep(3 * POLL_S)  # what is measured is an absence: give a poller three intervals to show
        assert station.connections() == 0, "the API-only process connected to the station"
    finally:
        api.stop()
    assert api.proc.returncode == 0, (tmp_path / "api.log").read_text()

    # The same configuration with the collector does poll: the count above could have moved.
    worker = Roles(path, tmp_path / "worker.log", roles="collector,rules,api")
    try:
        until("the collector's connections", station.connections, lambda n: n > 0)
        assert worker.healthz()["loops"].keys() >= {"collector", "store-writer", "rules"}
    finally:
        worker.stop()


def test_the_chores_alone_write_a_due_0830_log_and_poll_nothing(tmp_path, station):
    now = datetime.now(UTC)
    # Two days and more of readings: the newest due log's 24 h window is covered at any hour.
    samples = [Sample(STATION, channel, now - timedelta(minutes=m), value, unit)
               for m in range(0, 54 * 60, 10)
               for channel, value, unit in (("outlet_kpa", 3.4, "kPa"), ("inlet_mpa", 0.4, "MPa"))]
    path = prepare(tmp_path, station.port, samples=samples)
    log = tmp_path / "chores.log"
    chores = run_roles(path, "chores", log)
    try:
        read_until(chores, log, r"Sitewatch is running \[roles: chores\], without the API")
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'sitewatch.db'}")
        sessions = session_factory(engine)

        def logs() -> list[tuple[str, str]]:
            with sessions() as session:
                return [(r.site_id, r.day) for r in session.scalars(select(DailyReviewRow))]

        try:
            made = until("the 08:30 log", logs, bool, timeout_s=30)
        finally:
            engine.dispose()
        assert [site for site, _ in made] == ["north"], f"one log, for the north site: {made}"
        assert station.connections() == 0, "the chores process connected to the station"
    finally:
        chores.terminate()
        chores.wait(timeout=30)
    assert chores.returncode == 0, log.read_text()
    assert "stopped" in log.read_text()


@pytest.mark.parametrize(("roles", "says"), [
    ("collector", "collector and rules go together in one process until samples travel over the broker"),
    ("rules,api", "collector and rules go together in one process until samples travel over the broker"),
    ("api,poller", "unknown role(s) 'poller'; the roles are collector, rules, chores, api"),
    (",", "no role given"),
])
def test_a_role_list_one_process_cannot_run_exits_2_saying_why(tmp_path, roles, says):
    done = subprocess.run([SITEWATCH, "run", "--config", str(tmp_path / "none.toml"), f"--roles={roles}"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr, done.stderr
