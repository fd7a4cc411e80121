"""The control room fanned out across API processes on PostgreSQL (api/dashboard/listen.py):
two apps with contexts of their own on one database; what is committed through one, or by a
worker, reaches a subscriber of the other's hub at once — its poll is set to 30 s, so only
LISTEN/NOTIFY can bring it within the deadline — and after the LISTEN connection is cut."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.api.dashboard.hub import LiveHub
from sitewatch.api.dashboard.listen import APPLICATION
from sitewatch.api.dashboard.state import Filters, View
from sitewatch.collector.errors import DeviceUnreachable
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.serve import api_context
from sitewatch.stages.health import HealthStage
from tests.api.control_room_world import NOW, logged_in, world, world_config
from tests.serving import FixedClock

DEADLINE_S = 3.0  # well under the hubs' 30 s poll: only a notification gets there in time
SLOW_POLL_S = 30.0


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[str, str], Components]]:
    """Makes another process's parts on the same database: its own engine, store and registry."""
    made: list[Components] = []

    def make(database_url: str, name: str) -> Components:
        config = config_from_dict(world_config(tmp_path / name, database_url))
        made.append(build_components(config, clock=FixedClock(NOW)))
        return made[-1]

    yield make
    for parts in made:
        parts.close()


@asynccontextmanager
async def subscribed(hub: LiveHub) -> AsyncIterator[tuple[AsyncIterator[View | None], dict]]:
    """A subscriber of ``hub`` with everyone's view, once the hub listens; and its first view."""
    stream = hub.updates(None, Filters(), "en", since=None)
    try:
        first = json.loads((await asyncio.wait_for(anext(stream), DEADLINE_S)).json())
        await until(lambda: hub.listener is not None and hub.listener.listening, "the hub listens")
        yield stream, first
    finally:
        await stream.aclose()


async def next_view(stream: AsyncIterator[View | None], wanted: Callable[[dict], bool]) -> dict:
    """The first view that shows what is ``wanted``, within DEADLINE_S."""
    async def find() -> dict:
        async for view in stream:
            if view is not None and wanted(state := json.loads(view.json())):
                return state
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(find(), DEADLINE_S)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"not within {DEADLINE_S} s: {what}"
        await asyncio.sleep(0.02)


def sounding(state: dict) -> set[int]:
    return set(state["sounding"])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_acknowledgement_through_one_api_process_reaches_the_others_stream_at_once(
        tmp_path, database_url, processes):
    async with world(tmp_path / "a", database_url) as a:
        b = api_context(processes(database_url, "b"), roles={"api"})
        hub_b = LiveHub(b, poll_s=SLOW_POLL_S)
        async with subscribed(hub_b) as (stream, first), logged_in(a.app, "dispatcher") as client_a:
            alert = next(iter(sounding(first)))
            assert (await client_a.post(f"/api/alerts/{alert}/acknowledge", json={})).status_code == 200
            await next_view(stream, lambda state: alert not in sounding(state))
        hub_b.close()
        await asyncio.wait_for(hub_b.idle.wait(), DEADLINE_S)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_device_a_worker_marks_offline_reaches_an_api_process_that_polls_nothing(
        tmp_path, database_url, processes):
    async with world(tmp_path / "a", database_url):  # the inventory and the story
        worker, api = processes(database_url, "worker"), api_context(processes(database_url, "api"), roles={"api"})
        hub = LiveHub(api, poll_s=SLOW_POLL_S)
        async with subscribed(hub) as (stream, first):
            assert chip(first, "rs-north-07")["status"] == "ok"
            worker.health.register("rs-north-07")
            for _ in range(worker.config.collector.offline_after_failures):
                worker.health.record_failure("rs-north-07", at=NOW, error=DeviceUnreachable(
                    device_id="rs-north-07", message="no route to host"))
            await asyncio.to_thread(HealthStage(worker).shutdown)
            await next_view(stream, lambda state: chip(state, "rs-north-07")["status"] == "offline")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_lost_listen_connection_is_opened_again_and_counted(tmp_path, database_url, processes):
    async with world(tmp_path / "a", database_url) as a:
        b = api_context(processes(database_url, "b"), roles={"api"})
        hub_b = LiveHub(b, poll_s=SLOW_POLL_S)
        async with subscribed(hub_b) as (stream, first), logged_in(a.app, "dispatcher") as client_a:
            assert hub_b.listener.reconnects == 0
            assert await asyncio.to_thread(cut_listeners, a.parts.sessions) == 1
            await until(lambda: hub_b.listener.reconnects == 1 and hub_b.listener.listening, "listening again")
            alert = next(iter(sounding(first)))
            assert (await client_a.post(f"/api/alerts/{alert}/mute",
                                        json={"minutes": 15, "reason": "crew on site"})).status_code == 200
            await next_view(stream, lambda state: alert not in sounding(state))
    assert hub_b.listener is not None and not hub_b.listener.listening, "the listener ended with the last subscriber"


def cut_listeners(sessions: sessionmaker[Session]) -> int:
    """Ends the control rooms' LISTEN connections to this database, as a server restart would."""
    url = sessions.kw["bind"].url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        return len(admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE application_name = %s AND datname = current_database()",
                                 (APPLICATION,)).fetchall())


def test_without_postgresql_the_hub_only_polls(db_session_factory, database_url):
    class Context:  # only what the hub reads when it is made
        sessions = db_session_factory

    hub = LiveHub(Context())  # type: ignore[arg-type]
    assert (hub.listener is None) == database_url.startswith("sqlite")


def chip(state: dict, asset_id: str) -> dict:
    return next(a for a in state["assets"] if a["id"] == asset_id)

