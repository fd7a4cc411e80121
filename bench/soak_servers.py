"""The soak's own PostgreSQL cluster and Mosquitto broker (bench/soak.py): each a process of
its own on a free loopback port, in a folder of this run, so that stopping and starting them
touches nothing of the machine's (PostgreSQL 5432 and Mosquitto 1883 serve other people's
tests). Both are restarted mid-run on the same port and data, as an operator would.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from sitewatch.broker import find_mosquitto

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POSTGRES_USER = "postgres"  # initdb and the server refuse to run as root: the cluster is this user's
MOSQUITTO_USER = "mosquitto"  # Mosquitto started as root drops to this user (FIELD-NOTES: persistence)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _owned_by(path: Path, user: str) -> None:
    """Make ``path`` (a folder of this run) the server user's when we are root."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                os.chown(name, entry.pw_uid, entry.pw_gid)


def _as_user(user: str, argv: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if os.geteuid() == 0 else argv


def _wait_port(port: int, *, alive: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what} exited while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)  # no event to wait for: the port opens when the server is ready
    raise RuntimeError(f"{what} not listening on {port} after {READY_TIMEOUT_S:.0f} s")


class PrivatePostgres:
    """``initdb`` in ``folder``, then ``pg_ctl start|stop`` on a free port (trust auth, loopback only)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.log = folder / "postgres.log"
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not found:
            raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/soak"

    def create(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _owned_by(self.folder, POSTGRES_USER)
        subprocess.run(_as_user(POSTGRES_USER, [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                                "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.folder}'\nfsync = on\nmax_connections = 100\n")
        self.start()
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as con:
            con.execute("CREATE DATABASE soak")

    def start(self) -> None:
        subprocess.run(_as_user(POSTGRES_USER, [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                                                "-w", "-t", str(int(READY_TIMEOUT_S)), "start"]),
                       check=True, capture_output=True)

    def stop(self, *, mode: str = "fast") -> None:
        """``fast``: open sessions are ended at once (what a restart by an operator does)."""
        subprocess.run(_as_user(POSTGRES_USER, [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                                "-w", "-t", str(int(STOP_TIMEOUT_S)), "stop"]),
                       check=False, capture_output=True)

    def remove(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateMosquitto:
    """Mosquitto with persistence in ``folder`` (sessions and queued QoS 1 messages survive a
    restart), anonymous on a free loopback port; its log goes to a file we opened."""

    def __init__(self, folder: Path) -> None:
        executable = find_mosquitto()
        if executable is None:
            raise RuntimeError("mosquitto is not installed")
        self.executable = executable
        self.folder = folder
        self.port = free_port()
        self.log = folder / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {folder}/", "log_dest stderr", "log_type error", "log_type warning",
                 "log_type notice", "log_type information"]
        if os.geteuid() == 0:
            lines.append(f"user {MOSQUITTO_USER}")
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        _owned_by(folder, MOSQUITTO_USER)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        with self.log.open("ab") as log:  # opened before the broker drops its privileges
            self._process = subprocess.Popen([self.executable, "-c", str(self.folder / "mosquitto.conf")],
                                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        process = self._process
        _wait_port(self.port, alive=lambda: process.poll() is None, what="mosquitto")

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file on the way out."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
