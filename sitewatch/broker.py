"""The demo's MQTT broker: a private Mosquitto when installed, else an embedded amqtt.

``async with demo_broker() as (host, port): ...`` — always on 127.0.0.1, an ephemeral port,
anonymous access (demo only), stopped on exit. ``MosquittoBroker`` is also what the tests
restart mid-stream: same port and persistence folder, so persistent sessions survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto",)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# Mosquitto drops root privileges to this user; its persistence folder must be theirs.
MOSQUITTO_USER = "mosquitto"


class BrokerStartFailed(Exception):
    """The broker process exited, or did not say it was running, within START_TIMEOUT_S."""


def find_mosquitto() -> str | None:
    for path in MOSQUITTO_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("mosquitto")


def free_port(host: str = LOOPBACK) -> int:
    """An ephemeral port that was free a moment ago: Mosquitto cannot report a port-0 bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class MosquittoBroker:
    """A private Mosquitto on 127.0.0.1 with persistence in a folder of its own."""

    def __init__(self, *, executable: str, port: int = 0) -> None:
        self._executable = executable
        self.host = LOOPBACK
        self.port = port or free_port()
        # Under /tmp, not a private temp path: after dropping privileges Mosquitto must still
        # be able to reach the folder (pytest's tmp_path parents are root-only).
        self.directory = Path(tempfile.mkdtemp(prefix="sitewatch-mosquitto-"))
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._write_config()

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {LOOPBACK}",
            "allow_anonymous true",  # demo and tests only: every client is ours, on loopback
            "persistence true",
            f"persistence_location {self.directory}/",
            # Not a file: that needs a folder the dropped-privilege user owns. Not stdout either:
            # piped, it is block-buffered, and the "running" line would come at exit.
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            # Started as root, Mosquitto switches to this user before opening the persistence file.
            user = pwd.getpwnam(MOSQUITTO_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            lines.append(f"user {MOSQUITTO_USER}")
        (self.directory / "mosquitto.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(self.directory / "mosquitto.conf", 0o644)

    async def start(self) -> None:
        """Start and wait for Mosquitto's own "running" line; the listener is open by then."""
        if self._process is not None:
            raise RuntimeError("broker already running")
        process = await asyncio.create_subprocess_exec(
            self._executable,
            "-c",
            str(self.directory / "mosquitto.conf"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._process = process
        assert process.stderr is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    line = (await process.stderr.readline()).decode(errors="replace")
                    if not line:
                        raise BrokerStartFailed(f"mosquitto exited at start: {''.join(seen)}")
                    seen.append(line)
                    if " running" in line:
                        break
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, TimeoutError):
                raise BrokerStartFailed(f"mosquitto not running after {START_TIMEOUT_S} s: {''.join(seen)}") from None
            raise
        # Keep reading: a full pipe would block Mosquitto's logging, and with it the broker.
        self._drain = asyncio.create_task(self._log_output(process.stderr), name=f"mosquitto:{self.port}")

    async def stop(self) -> None:
        """SIGTERM: Mosquitto saves its persistence file on the way out."""
        process, self._process = self._process, None
        drain, self._drain = self._drain, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            drain.cancel()
            await asyncio.wait((drain,))

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def remove_files(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    @staticmethod
    async def _log_output(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            log.debug("mosquitto: %s", line.decode(errors="replace").rstrip())


@contextlib.asynccontextmanager
async def mosquitto_broker(*, executable: str) -> AsyncIterator[MosquittoBroker]:
    broker = MosquittoBroker(executable=executable)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.stop()
        broker.remove_files()


@contextlib.asynccontextmanager
async def amqtt_broker() -> AsyncIterator[tuple[str, int]]:
    """amqtt in this event loop. Demo only: amqtt 0.12.1 sends retained messages to clients
    that never subscribed to them and delivers them twice to QoS 1 subscribers."""
    from amqtt.broker import Broker  # imported here: only the fallback path needs amqtt

    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
    )
    await broker.start()
    try:
        yield LOOPBACK, port
    finally:
        await broker.shutdown()


@contextlib.asynccontextmanager
async def demo_broker(*, prefer: Literal["auto", "mosquitto", "amqtt"] = "auto") -> AsyncIterator[tuple[str, int]]:
    """``(host, port)`` of a broker for the demo: Mosquitto if installed, else amqtt."""
    executable = find_mosquitto() if prefer != "amqtt" else None
    if prefer == "mosquitto" and executable is None:
        raise BrokerStartFailed("mosquitto is not installed")
    if executable is not None:
        async with mosquitto_broker(executable=executable) as broker:
            yield broker.host, broker.port
        return
    log.warning("using the embedded amqtt broker (demo only: known retained-message bugs)")
    async with amqtt_broker() as address:
        yield address
