"""Run the pipeline and the API together in one event loop until asked to stop; or only the
stages a process's roles ask for (no API without the ``api`` role, no pipeline loop with it alone).

A process that does not run the collector has no device health of its own: its API reads what
the workers saved to the database (storage/device_health.py). One that does keeps reading its
own registry, the freshest there is.

Files the service makes are not other users': the process umask is 027 while it serves, and
what start-up made before (or an earlier version made world-readable) loses other users'
access when serving starts. The API serves HTTPS itself when ``[api]`` names a certificate
and key (else plain HTTP, for loopback or a reverse proxy: deploy/TLS.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.api.app import create_app
from sitewatch.api.context import ApiContext, DeviceHealthReader
from sitewatch.api.dashboard.hub import end_streams
from sitewatch.components import Components
from sitewatch.config.models import Config
from sitewatch.domain.time import Clock
from sitewatch.metrics import exposition
from sitewatch.pipeline import Pipeline
from sitewatch.stages.roles import ALL_ROLES, API, COLLECTOR, check_roles
from sitewatch.storage.device_health import DatabaseHealth
from sitewatch.storage.timeseries import TimeSeriesStore
from sitewatch.supervise import ServiceHealth

log = logging.getLogger(__name__)

# Databases, buffer, snapshots and backups hold the fleet's records and the vault's sealed
# credentials: the service's group may read them, other users nothing, and only we write.
PRIVATE_UMASK = 0o027


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process owns Ctrl-C and stops every part."""

    def capture_signals(self):  # uvicorn's signature
        return contextlib.nullcontext()

    @property
    def port(self) -> int:
        return self.servers[0].sockets[0].getsockname()[1]


async def serve(
    parts: Components,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[int | None], Awaitable[None]] | None = None,
    pipeline: Pipeline | None = None,
    roles: Iterable[str] = ALL_ROLES,
) -> Pipeline:
    """Returns when ``stop`` is set, after every task has finished cleanly. ``on_ready`` gets
    the API's port, or None when the roles leave the API out."""
    with _private_files(Path(parts.config.storage.data_dir)):
        return await _serve(parts, host=host, port=port, stop=stop, on_ready=on_ready, pipeline=pipeline, roles=roles)


# The umask is one per process: the first serve() sets it, the last one to end puts back the
# one from before (for what runs after: tests, the demo's own files).
_umask_before: list[int] = []  # while any serve() runs: the process's umask before the first


@contextlib.contextmanager
def _private_files(data_dir: Path) -> Iterator[None]:
    _umask_before.append(os.umask(PRIVATE_UMASK))
    try:
        restrict_file_modes(data_dir)
        yield
    finally:
        before = _umask_before.pop()
        if not _umask_before:
            os.umask(before)


def restrict_file_modes(data_dir: Path) -> None:
    """Make files created from now on private (``PRIVATE_UMASK``) and take the same access
    from those already in ``data_dir``."""
    os.umask(PRIVATE_UMASK)
    tightened = 0
    for path in (data_dir, *data_dir.rglob("*")) if data_dir.is_dir() else ():
        if path.is_symlink():  # chmod would follow it out of the folder
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & PRIVATE_UMASK:
            path.chmod(mode & ~PRIVATE_UMASK)
            tightened += 1
    if tightened:
        log.info("%s: took other users' access from %d file(s) and folder(s)", data_dir, tightened)


async def _serve(
    parts: Components,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[int | None], Awaitable[None]] | None,
    pipeline: Pipeline | None,
    roles: Iterable[str],
) -> Pipeline:
    roles = check_roles(roles)
    pipeline = pipeline or Pipeline(parts, roles=roles)
    if API not in roles:
        await _without_api(pipeline, stop, on_ready)
        return pipeline
    app = create_app(api_context(parts, roles))
    tls = parts.config.api
    server = EmbeddedServer(uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off",
        ssl_certfile=str(tls.tls_cert_file) if tls.tls_cert_file else None,
        ssl_keyfile=str(tls.tls_key_file) if tls.tls_key_file else None))
    async with asyncio.TaskGroup() as group:
        # With the API alone the pipeline has no loop: it returns at once, the API serves on.
        pipeline_task = group.create_task(pipeline.run(), name="pipeline")
        api_task = group.create_task(server.serve(), name="api")
        while not server.started:
            if api_task.done():  # e.g. the port is taken: uvicorn logs why and returns
                pipeline_task.cancel()
                raise SystemExit(f"the API could not start on {host}:{port}")
            await asyncio.sleep(0.05)
        if on_ready is not None:
            await on_ready(server.port)
        await stop.wait()
        log.info("stopping")
        server.should_exit = True
        end_streams(app)  # open control rooms: uvicorn waits for every response to finish
        pipeline_task.cancel()
    return pipeline


@dataclass(frozen=True)
class ApiParts:
    """The process's parts as the API reads them (api/context.py), with device health from
    elsewhere."""

    config: Config
    store: TimeSeriesStore
    sessions: sessionmaker[Session]
    health: DeviceHealthReader
    clock: Clock
    service: ServiceHealth
    metrics: Callable[[], bytes]


def api_context(parts: Components, roles: Iterable[str] = ALL_ROLES) -> ApiContext:
    """What the API of a process with ``roles`` reads: ``parts`` itself when the process polls
    the devices, else the same parts with the health the collectors saved to the database."""
    if COLLECTOR in check_roles(roles):
        return parts
    health = DatabaseHealth(parts.sessions, parts.clock)
    # Its /metrics counts the fleet's devices as the workers saved them, not its own (none).
    return ApiParts(config=parts.config, store=parts.store, sessions=parts.sessions, health=health, clock=parts.clock,
                    service=parts.service, metrics=exposition(parts.config, health=health, service=parts.service))


async def _without_api(pipeline: Pipeline, stop: asyncio.Event,
                       on_ready: Callable[[int | None], Awaitable[None]] | None) -> None:
    """The pipeline's stages until ``stop``; a pipeline that fails ends the process with its error."""
    async with asyncio.TaskGroup() as group:
        pipeline_task = group.create_task(pipeline.run(), name="pipeline")
        if on_ready is not None:
            await on_ready(None)
        stopped = group.create_task(stop.wait(), name="stop")
        await asyncio.wait((pipeline_task, stopped), return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping")
        pipeline_task.cancel()
        stopped.cancel()
