"""A started service: its API over HTTPS with the configured certificate (a client trusting the
test CA gets answers; plain HTTP and a client trusting another CA get none), and the files it
made, or found from an earlier version, closed to other users."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.serve import serve
from tests.tls_files import Pki

START_TIMEOUT_S = 20.0


def service_config(data_dir: Path, **api: str) -> dict:
    """The example deployment without its alarm host (no broker needed), on a free port."""
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"host": "127.0.0.1", "port": 0, **api}
    raw["assets"] = [a for a in raw["assets"] if a["kind"] != "alarm_host"]
    raw.pop("mqtt")
    return raw


@contextlib.asynccontextmanager
async def started(raw: dict) -> AsyncIterator[int]:
    """The port of a process serving ``raw`` (pipeline and API), until the block ends."""
    parts = build_components(config_from_dict(raw))
    stop = asyncio.Event()
    port: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def ready(bound: int | None) -> None:
        port.set_result(bound)

    task = asyncio.create_task(serve(parts, host="127.0.0.1", port=0, stop=stop, on_ready=ready))
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            await asyncio.wait((port, task), return_when=asyncio.FIRST_COMPLETED)
        assert port.done(), f"the service did not start: {task}"
        bound = port.result()
        assert bound is not None
        yield bound
    finally:
        stop.set()
        await asyncio.wait((task,))
        parts.close()
    task.result()


async def test_the_api_serves_https_with_the_configured_certificate(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    api = pki.issue("api", "127.0.0.1")
    raw = service_config(tmp_path / "var", tls_cert_file=str(api.cert), tls_key_file=str(api.key))
    async with started(raw) as port:
        async with httpx.AsyncClient(verify=pki.client_context(), timeout=10) as client:
            reply = await client.get(f"https://127.0.0.1:{port}/healthz")
            assert reply.status_code == 200 and reply.json()["status"] in {"ok", "degraded"}
            with pytest.raises(httpx.HTTPError):  # plain HTTP to a TLS port: no answer
                await client.get(f"http://127.0.0.1:{port}/healthz")
        stranger = Pki(tmp_path / "other", name="other-ca")
        async with httpx.AsyncClient(verify=stranger.client_context(), timeout=10) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://127.0.0.1:{port}/healthz")


async def test_the_files_of_a_started_service_are_closed_to_other_users(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o755)
    earlier = data_dir / "from-an-earlier-version.pdf"  # made world-readable before this version
    earlier.write_bytes(b"%PDF")
    earlier.chmod(0o666)
    login_umask = os.umask(0o022)  # as a service started from a login shell would have it
    try:
        # Two services in one process (as in tests), the first to start ending first.
        async with contextlib.AsyncExitStack() as second:
            async with started(service_config(data_dir)):
                during = current_umask()
                await second.enter_async_context(started(service_config(tmp_path / "second")))
            after_the_first = current_umask()
    finally:
        after = os.umask(login_umask)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in (data_dir, *data_dir.rglob("*"))}
    assert {"var/samples.duckdb", "var/sitewatch.db", "var/buffer.sqlite3"} <= set(modes), modes
    assert {path: oct(mode) for path, mode in modes.items() if mode & 0o027} == {}
    assert modes["var"] == 0o750 and modes["var/from-an-earlier-version.pdf"] == 0o640
    assert (during, after_the_first, after) == (0o027, 0o027, 0o022), "027 while any serves, 022 again after"


def current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask
