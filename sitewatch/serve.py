"""Run the pipeline and the API together in one event loop until asked to stop; or only the
stages a process's roles ask for (no API without the ``api`` role, no pipeline loop with it alone).

A process that does not run the collector has no device health of its own: its API reads what
the workers saved to the database (storage/device_health.py). One that does keeps reading its
own registry, the freshest there is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.context import ApiContext, DeviceHealthReader
from api.dashboard.hub import end_streams
from config.models import Config
from domain.time import Clock
from sitewatch.components import Components
from sitewatch.metrics import exposition
from sitewatch.pipeline import Pipeline
from sitewatch.stages.roles import ALL_ROLES, API, COLLECTOR, check_roles
from sitewatch.supervise import ServiceHealth
from storage.device_health import DatabaseHealth
from storage.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)


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
    roles = check_roles(roles)
    pipeline = pipeline or Pipeline(parts, roles=roles)
    if API not in roles:
        await _without_api(pipeline, stop, on_ready)
        return pipeline
    app = create_app(api_context(parts, roles))
    server = EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
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
