"""A whole Sitewatch process (pipeline + API) inside the test's event loop."""

from __future__ import annotations

import asyncio
import gc
import inspect
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from sitewatch.components import build_components, tune_garbage_collector
from sitewatch.config.load import config_from_dict
from sitewatch.demo import demo_raw_config
from sitewatch.domain.health import HealthState
from sitewatch.domain.time import Clock
from sitewatch.pipeline import Pipeline
from sitewatch.serve import serve
from sitewatch.simulators.regulator.fleet import RegulatorFleet, build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from tests.serving import READER, bearer, reader_entry


class Service:
    """One running Sitewatch process (pipeline + API) in this event loop."""

    def __init__(self, raw: dict, *, clock: Clock | None = None) -> None:
        api = raw.get("api", {})
        raw = raw | {"api": api | {"tokens": [*api.get("tokens", []), reader_entry()]}}  # for client()
        self.parts = build_components(config_from_dict(raw), clock=clock)
        self.stop = asyncio.Event()
        self._ready = asyncio.Event()
        self.url = ""

    async def __aenter__(self) -> "Service":
        async def ready(port: int) -> None:
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()

        # As `sitewatch run` does at start-up: what the process built so far is never garbage.
        # Without it a full collection over the whole test session's heap stalls the event
        # loop for up to a second (measured 0.7-1.3 s late in the suite), which the ground
        # truth's detection budgets rightly count as a late (or early) detection.
        self._gc_threshold = gc.get_threshold()
        tune_garbage_collector()
        self.pipeline = Pipeline(self.parts)
        self._task = asyncio.create_task(
            serve(self.parts, host="127.0.0.1", port=0, stop=self.stop, on_ready=ready, pipeline=self.pipeline)
        )
        ready_wait = asyncio.create_task(self._ready.wait())
        await asyncio.wait({ready_wait, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if not self._ready.is_set():
            ready_wait.cancel()
            self._task.cancel()
            await asyncio.gather(self._task, ready_wait, return_exceptions=True)
            self._restore_gc()
            raise AssertionError(f"the service did not start: {self._task}")
        for asset in self.parts.config.assets:
            if asset.alarm_host is not None:
                continue  # only polled devices (Modbus, ONVIF) have health records
            await self.parts.health.wait_for(asset.id, lambda h: h.state is HealthState.ONLINE, timeout_s=10)
        return self

    def client(self, *, timeout_s: float = 5) -> httpx.AsyncClient:
        """An HTTP client of the API that reads as a viewer (nothing is read anonymously)."""
        return httpx.AsyncClient(base_url=self.url, timeout=timeout_s, headers=bearer(READER))

    def parts_consumer(self):
        """The alarm-host consumer of the running pipeline."""
        return self.pipeline.alarm_hosts

    async def parts_ready_for_mqtt(self) -> None:
        """Wait until the consumer's subscriptions are in place, so no test event is missed."""
        # Built when the process has claimed its shard, just after start.
        consumer = await wait_until(lambda: self.pipeline.alarm_hosts, timeout_s=10, every_s=0.02)
        await asyncio.wait_for(consumer.wait_subscribed(), 10)

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        await self._task
        self.parts.close()
        self._restore_gc()

    def _restore_gc(self) -> None:
        gc.unfreeze()
        gc.set_threshold(*self._gc_threshold)


async def wait_until(predicate, *, timeout_s: float, every_s: float = 0.1, what: str = "condition"):
    """Poll an HTTP view, or state the process changes on its own schedule (``predicate`` may be
    plain or async), until it shows what we wait for: there is no event to await."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(every_s)


@asynccontextmanager
async def running_fleet(stations: int, *, seed: int) -> AsyncIterator[RegulatorFleet]:
    """A started fleet of simulated regulator stations, stopped on exit."""
    fleet = build(FleetConfig(stations=make_station_specs(stations, seed=seed)))
    await fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


def fleet_raw_config(fleet: RegulatorFleet, data_dir: Path, *, poll_interval_s: float) -> dict:
    """The demo configuration polling `fleet`, with fast rule ticks and storage flushes for tests."""
    ports = {s.station_id: fleet.port_of(s.station_id) for s in fleet.stations}
    raw = demo_raw_config(ports, data_dir=data_dir, host="127.0.0.1", port=0, poll_interval_s=poll_interval_s,
                          token_sha256="0" * 64)
    raw["rules_engine"] = {"tick_s": 0.2}
    raw["storage"]["flush_interval_s"] = 0.2
    return raw
