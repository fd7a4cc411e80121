"""A private Mosquitto with one TLS listener that asks every client for a certificate.

Its own process, port and folder; the machine's broker on 1883 is not touched. The folder is
under /tmp and the broker's own: started as root, Mosquitto drops to its user, who must still
read the certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from sitewatch.broker import LOOPBACK, MOSQUITTO_USER, find_mosquitto, free_port
from tests.tls_files import CertFiles, Pki

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 2.0


class TlsBroker:
    def __init__(self, pki: Pki, *, server_names: tuple[str, ...], password_file: Path | None) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="sitewatch-mosquitto-tls-"))
        server = pki.issue("broker", *server_names)
        self.files = CertFiles(self._copy(server.cert), self._copy(server.key))
        ca = self._copy(pki.ca_file)
        lines = [
            f"listener {self.port} {LOOPBACK}",
            f"cafile {ca}",
            f"certfile {self.files.cert}",
            f"keyfile {self.files.key}",
            "require_certificate true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self._copy(password_file)}"]
        else:
            lines.append("allow_anonymous true")
        if os.geteuid() == 0:
            lines.append(f"user {MOSQUITTO_USER}")
        (self.folder / "mosquitto.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            user = pwd.getpwnam(MOSQUITTO_USER)
            for path in (self.folder, *self.folder.rglob("*")):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.log: list[str] = []

    def _copy(self, source: Path) -> Path:
        return Path(shutil.copy(source, self.folder / source.name))

    async def start(self) -> None:
        executable = find_mosquitto()
        assert executable is not None, "mosquitto is not installed (apt-get install mosquitto)"
        process = await asyncio.create_subprocess_exec(
            executable, "-c", str(self.folder / "mosquitto.conf"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._process = process
        assert process.stderr is not None
        async with asyncio.timeout(START_TIMEOUT_S):
            while " running" not in (line := (await process.stderr.readline()).decode(errors="replace")):
                assert line, f"mosquitto exited at start: {''.join(self.log)}"
                self.log.append(line)
        self._drain = asyncio.create_task(self._keep_log(process.stderr))

    async def _keep_log(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.log.append(line.decode(errors="replace"))

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            # Mosquitto 2.0.11 ignored a SIGTERM sent right after its "running" line (seen when a
            # test failed at once: the broker lived on, the test hung). Nothing to save: kill.
            self._process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self._process.wait()
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._drain is not None:
            await asyncio.wait((self._drain,))
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def tls_broker(pki: Pki, *, server_names: tuple[str, ...] = (LOOPBACK,),
                     password_file: Path | None = None) -> AsyncIterator[TlsBroker]:
    broker = TlsBroker(pki, server_names=server_names, password_file=password_file)
    try:
        await broker.start()
        yield broker
    finally:
        await broker.stop()


async def tls_pub(broker: TlsBroker, pki: Pki, client: CertFiles, topic: str, payload: bytes) -> None:
    """Publish at QoS 1 with Mosquitto's own client, over TLS with ``client``'s certificate."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "--cafile", str(pki.ca_file),
        "--cert", str(client.cert), "--key", str(client.key), "-q", "1", "-t", topic, "-s",
        stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(payload), timeout=10)
    assert process.returncode == 0, f"mosquitto_pub over TLS failed: {stderr.decode()}"
