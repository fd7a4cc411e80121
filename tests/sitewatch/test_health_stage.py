"""The health stage (sitewatch/stages/health.py) on SQLite and PostgreSQL: a worker's state
changes reach the database every round, counters only every refresh, an outage skips rounds
without ending the loop, shutdown saves the rest; and an API process that polls nothing
(sitewatch.serve.api_context) shows what a worker saved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sitewatch.api.app import create_app
from sitewatch.collector.errors import DeviceUnreachable
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.domain.health import DeviceHealth, HealthState
from sitewatch.serve import api_context
from sitewatch.stages.health import HEALTH, HealthStage
from sitewatch.storage.device_health import DatabaseHealth, load
from sitewatch.supervise import Supervisor
from tests.api.control_room_world import NOW, logged_in, world, world_config
from tests.serving import FixedClock

DEADLINE_S = 5.0
FAST_S = 0.02  # the stage's round in these tests (2 s in production)


@pytest.fixture
def worker(tmp_path: Path, database_url: str) -> Iterator[Components]:
    parts = build_components(config_from_dict(world_config(tmp_path / "worker", database_url)), clock=FixedClock(NOW))
    yield parts
    parts.close()


def unreachable(device_id: str) -> DeviceUnreachable:
    return DeviceUnreachable(device_id=device_id, message="no route to host")


def take_offline(parts: Components, device_id: str) -> None:
    parts.health.register(device_id)
    for _ in range(parts.config.collector.offline_after_failures):
        parts.health.record_failure(device_id, at=parts.clock.now(), error=unreachable(device_id))


def saved(parts: Components) -> dict[str, DeviceHealth]:
    with parts.sessions() as session:
        return {record.device_id: record for record in load(session)}


async def until(condition: Callable[[], bool], what: str) -> None:
    """Polls ``condition`` (a database read) until it holds, failing after DEADLINE_S."""
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while not await asyncio.to_thread(condition):
        assert asyncio.get_running_loop().time() < deadline, f"not within {DEADLINE_S} s: {what}"
        await asyncio.sleep(FAST_S)


@asynccontextmanager
async def running(loops: list[tuple[str, Coroutine[Any, Any, None]]]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(loop, name=name) for name, loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_state_changes_are_saved_every_round_and_the_rest_every_refresh(worker):
    parts, clock = worker, worker.clock
    stage = HealthStage(parts, every_s=FAST_S, refresh_s=30)
    for device in ("rs-north-01", "rs-north-02"):
        parts.health.register(device)
    async with running(stage.loops(Supervisor(parts.service, clock=clock))):
        await until(lambda: set(saved(parts)) == {"rs-north-01", "rs-north-02"}, "new devices saved")
        parts.health.record_success("rs-north-01", at=NOW)
        await until(lambda: saved(parts)["rs-north-01"].state is HealthState.ONLINE, "a state change saved")
        written = stage.rows_written

        parts.health.record_success("rs-north-01", at=NOW + timedelta(seconds=10))  # counters only
        parts.health.record_failure("rs-north-02", at=NOW, error=unreachable("rs-north-02"))
        await until(lambda: saved(parts)["rs-north-02"].state is HealthState.DEGRADED, "the next state change")
        # The rounds that saved rs-north-02 left rs-north-01's new counters for the refresh.
        assert saved(parts)["rs-north-01"].polls_ok == 1 and stage.rows_written == written + 1

        clock.now_value = NOW + timedelta(seconds=31)
        await until(lambda: saved(parts)["rs-north-01"].polls_ok == 2, "the refresh")
        assert saved(parts)["rs-north-01"] == parts.health.get("rs-north-01")
        assert saved(parts)["rs-north-02"] == parts.health.get("rs-north-02")


async def test_a_database_outage_skips_rounds_with_one_line_each_and_never_ends_the_loop(worker, caplog):
    parts = worker
    stage = HealthStage(parts, every_s=FAST_S)
    with parts.sessions() as session:
        session.execute(text("ALTER TABLE device_health RENAME TO device_health_away"))
        session.commit()
    take_offline(parts, "ah-north-01")
    async with running(stage.loops(Supervisor(parts.service, clock=parts.clock))):
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while stage.rounds_skipped < 3:
            assert asyncio.get_running_loop().time() < deadline, "the rounds did not go on"
            await asyncio.sleep(FAST_S)
        with parts.sessions() as session:
            session.execute(text("ALTER TABLE device_health_away RENAME TO device_health"))
            session.commit()
        await until(lambda: saved(parts).get("ah-north-01") == parts.health.get("ah-north-01"), "saved after")
    lines = [r for r in caplog.records if r.name == "sitewatch.stages.health"]
    assert len(lines) == stage.rounds_skipped and all("will retry" in r.getMessage() for r in lines)
    assert parts.service.loops()[HEALTH].errors == 0, "an outage is expected, not a loop's error"


def test_shutdown_saves_whatever_changed_since_the_last_round(worker):
    parts = worker
    take_offline(parts, "ah-north-01")
    parts.health.register("rs-north-01")
    HealthStage(parts).shutdown()
    assert saved(parts) == {h.device_id: h for h in parts.health.all()}


async def test_an_api_process_that_polls_nothing_shows_what_a_worker_saved(tmp_path, database_url, worker):
    async with world(tmp_path / "api", database_url) as api:
        # The world's process also polls (its registry has ah-north-01 offline); a process
        # with the api role alone reads the database instead, where nothing is saved yet.
        assert api_context(api.parts) is api.parts
        context = api_context(api.parts, roles={"api"})
        assert isinstance(context.health, DatabaseHealth)
        api_only = create_app(context)
        async with logged_in(api_only, "dispatcher") as client:
            before = (await client.get("/api/dashboard")).json()
            assert chip(before, "ah-north-01")["status"] != "offline"
            assert (await client.get("/healthz")).json()["devices"]["offline"] == 0

            take_offline(worker, "ah-north-01")
            await asyncio.to_thread(HealthStage(worker).shutdown)
            deadline = asyncio.get_running_loop().time() + DEADLINE_S  # its reader keeps a read for 1 s
            while chip((await client.get("/api/dashboard")).json(), "ah-north-01")["status"] != "offline":
                assert asyncio.get_running_loop().time() < deadline, "the API never showed the device offline"
                await asyncio.sleep(0.1)
            assert (await client.get("/healthz")).json()["devices"]["offline"] == 1
            asset = (await client.get("/api/assets/ah-north-01")).json()
            assert asset["health"]["state"] == "offline"
            assert asset["health"]["consecutive_failures"] == worker.config.collector.offline_after_failures


def chip(state: dict, asset_id: str) -> dict:
    return next(a for a in state["assets"] if a["id"] == asset_id)
