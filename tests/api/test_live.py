"""The control room's live stream over a real socket: a change written by anyone (another
process's writer, a person's acknowledgement) reaches every open stream within 2 s; one
producer serves them all and stops with the last; heartbeats; the streams end when the
server stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest

from sitewatch.api.dashboard.hub import end_streams, hub_of
from sitewatch.domain.alerts import Severity
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.tickets.writer import TicketWriter
from tests.api.control_room_world import NOW, fired, logged_in, world

DEADLINE_S = 2.0  # the issue: on the open dashboard within 2 s of the change
# A stream's first state is its opening, not a change: this only stops a hung test (on a
# loaded CI machine the first state of a fresh world took over 2 s).
OPENING_S = 15.0


@pytest.fixture
async def fleet(tmp_path, database_url):
    async with world(tmp_path, database_url) as w:
        yield w


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) of a text/event-stream; comment lines as ("comment", text)."""
    name, data = None, []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").lstrip())
        elif line == "" and data:
            yield name or "message", "\n".join(data)
            name, data = None, []


async def next_state(stream: AsyncIterator[tuple[str, str]]) -> dict:
    async for name, data in stream:
        if name == "state":
            return json.loads(data)
    raise AssertionError("the stream ended")


async def state_where(stream: AsyncIterator[tuple[str, str]], wanted: Callable[[dict], bool]) -> dict:
    while not wanted(state := await next_state(stream)):
        pass
    return state


async def open_streams(stack: AsyncExitStack, client: httpx.AsyncClient, n: int, **params: str) -> list:
    out = []
    for _ in range(n):
        response = await stack.enter_async_context(client.stream("GET", "/live/control-room", params=params))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        out.append(reader(stack, response))
    return out


def reader(stack: AsyncExitStack, response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """The stream's events, closed with ``stack`` (before the response: left to the garbage
    collector, an unfinished generator is closed by a task of its own)."""
    stream = events(response)
    stack.push_async_callback(stream.aclose)
    return stream


def producers() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "control-room-producer" and not t.done()]


async def test_a_new_alert_from_another_process_reaches_every_open_stream_within_2_s(fleet, database_url):
    # A writer with an engine of its own: what the API notices is in the database, not in
    # this process (the rules may run in another one).
    other = make_engine(database_url)
    try:
        writer = TicketWriter(sessions=session_factory(other), config=fleet.parts.config)
        async with logged_in(fleet.app, "dispatcher") as client, AsyncExitStack() as stack:
            shown = (await client.get("/api/dashboard")).json()
            streams = await open_streams(stack, client, 3, since=shown["version"])
            # Each stream already shows this version: the first event is the change.
            await asyncio.to_thread(writer.apply, [fired("rs-north-07", "outlet-high", "outlet_kpa",
                                                         Severity.CRITICAL, 3.3, "kPa", at=NOW)])
            started = asyncio.get_running_loop().time()
            states = await asyncio.wait_for(asyncio.gather(*(next_state(s) for s in streams)), DEADLINE_S)
            assert asyncio.get_running_loop().time() - started < DEADLINE_S
            assert len(producers()) == 1, "one producer for every stream"
            for state in states:
                assert state["version"] != shown["version"]
                chip = next(a for a in state["assets"] if a["id"] == "rs-north-07")
                assert chip["status"] == "critical"
                new = next(g for g in state["alert_groups"] if g["asset_id"] == "rs-north-07")
                assert new["alerts"][0]["id"] in state["sounding"]
    finally:
        other.dispose()


async def test_an_acknowledgement_and_a_mute_silence_the_alert_on_open_streams(fleet):
    async with logged_in(fleet.app, "dispatcher") as client, AsyncExitStack() as stack:
        [stream] = await open_streams(stack, client, 1, since="")
        first = await asyncio.wait_for(next_state(stream), OPENING_S)  # no version shown yet: sent at once
        gas = next(a["id"] for g in first["alert_groups"] for a in g["alerts"] if a["rule_id"] == "gas")
        door = next(a["id"] for g in first["alert_groups"] for a in g["alerts"] if a["asset_id"] == "rs-north-02")
        assert {gas, door} <= set(first["sounding"])

        assert (await client.post(f"/api/alerts/{gas}/acknowledge", json={})).status_code == 200
        acknowledged = await asyncio.wait_for(next_state(stream), DEADLINE_S)
        assert gas not in acknowledged["sounding"] and door in acknowledged["sounding"]

        muted = await client.post(f"/api/alerts/{door}/mute", json={"minutes": 15, "reason": "known, crew on site"})
        assert muted.status_code == 200
        after = await asyncio.wait_for(next_state(stream), DEADLINE_S)
        assert door not in after["sounding"]

        fleet.clock.now_value = NOW + timedelta(minutes=16)  # the mute runs out with no write at all
        again = await asyncio.wait_for(next_state(stream), DEADLINE_S)
        assert door in again["sounding"]


async def test_each_stream_gets_its_own_scope_and_filters(fleet):
    async with AsyncExitStack() as stack:
        south = await stack.enter_async_context(logged_in(fleet.app, "south-viewer"))
        everyone = await stack.enter_async_context(logged_in(fleet.app, "viewer"))
        [scoped] = await open_streams(stack, south, 1, since="")
        [critical] = await open_streams(stack, everyone, 1, since="", severity="critical")
        for stream in (scoped, critical):
            await asyncio.wait_for(next_state(stream), OPENING_S)
        await asyncio.to_thread(fleet.writer.apply, [
            fired("rs-south-01", "door-open", "door_open", Severity.WARNING, 1, "state", at=NOW),
            fired("rs-north-07", "outlet-low", "outlet_kpa", Severity.CRITICAL, 1.2, "kPa", at=NOW)])
        # The writer commits each transition on its own, and a listening hub may show the
        # first before the second: the state both reached, within the deadline.
        seen_south = await asyncio.wait_for(state_where(scoped, lambda state: any(
            a["rule_id"] == "door-open" for g in state["alert_groups"] for a in g["alerts"])), DEADLINE_S)
        seen_critical = await asyncio.wait_for(state_where(critical, lambda state: any(
            g["asset_id"] == "rs-north-07" for g in state["alert_groups"])), DEADLINE_S)
    assert {a["id"] for a in seen_south["assets"]} == {"rs-south-01"}
    assert {g["site_id"] for g in seen_south["alert_groups"]} == {"south"}
    assert {a["rule_id"] for g in seen_south["alert_groups"] for a in g["alerts"]} == {"gas", "door-open"}
    assert {g["severity"] for g in seen_critical["alert_groups"]} == {"critical"}
    assert any(g["asset_id"] == "rs-north-07" for g in seen_critical["alert_groups"])


async def test_the_producer_runs_while_someone_listens_and_stops_with_the_last(fleet):
    hub = hub_of(fleet.app)
    assert hub.idle.is_set() and not producers(), "nobody listens: no work"
    async with logged_in(fleet.app, "viewer") as client:
        async with AsyncExitStack() as first:
            [a] = await open_streams(first, client, 1, since="")
            async with AsyncExitStack() as second:
                [b] = await open_streams(second, client, 1, since="")
                await asyncio.wait_for(asyncio.gather(next_state(a), next_state(b)), OPENING_S)
                assert not hub.idle.is_set() and len(producers()) == 1
            # One stream left: it still gets changes, so the producer still runs.
            await asyncio.to_thread(fleet.writer.apply, [
                fired("rs-north-07", "door-open", "door_open", Severity.WARNING, 1, "state", at=NOW)])
            await asyncio.wait_for(next_state(a), DEADLINE_S)
        await asyncio.wait_for(hub.idle.wait(), 5)
        assert not producers() and hub.subscribers == 0
        # And it starts again for the next one.
        async with AsyncExitStack() as again:
            [c] = await open_streams(again, client, 1, since="")
            await asyncio.wait_for(next_state(c), OPENING_S)
        await asyncio.wait_for(hub.idle.wait(), 5)


async def test_an_idle_stream_gets_heartbeats_and_nothing_is_resent_to_a_reconnecting_page(fleet):
    hub = hub_of(fleet.app)
    hub.heartbeat_s = 0.2
    async with logged_in(fleet.app, "viewer") as client, AsyncExitStack() as stack:
        version = (await client.get("/api/dashboard")).json()["version"]
        response = await stack.enter_async_context(
            client.stream("GET", "/live/control-room", headers={"Last-Event-ID": version}))
        stream = reader(stack, response)
        name, text = await asyncio.wait_for(anext(stream), DEADLINE_S)
        assert (name, text) == ("comment", "keep-alive"), "the version it shows is current: only a heartbeat"


async def test_stopping_the_server_ends_the_streams(fleet):
    async with logged_in(fleet.app, "viewer") as client, AsyncExitStack() as stack:
        [stream] = await open_streams(stack, client, 1, since="")
        await asyncio.wait_for(next_state(stream), OPENING_S)
        end_streams(fleet.app)
        rest = await asyncio.wait_for(_drain(stream), DEADLINE_S)
        assert [name for name, _ in rest if name == "state"] == []
    await asyncio.wait_for(hub_of(fleet.app).idle.wait(), 5)


async def _drain(stream: AsyncIterator[tuple[str, str]]) -> list[tuple[str, str]]:
    return [item async for item in stream]


async def test_the_stream_needs_a_login_and_respects_the_scope(fleet):
    async with logged_in(fleet.app, "south-viewer") as client:
        assert (await client.get("/live/control-room", params={"site": "north"})).status_code == 404
        client.headers.pop("Cookie")
        assert (await client.get("/live/control-room")).status_code == 401


async def test_a_stream_whose_session_ends_is_told_to_log_in_and_closed(fleet, monkeypatch):
    from sitewatch.api.pages import live

    monkeypatch.setattr(live, "RECHECK_S", 0.0)
    hub_of(fleet.app).heartbeat_s = 0.2
    async with logged_in(fleet.app, "viewer") as client, AsyncExitStack() as stack:
        [stream] = await open_streams(stack, client, 1, since="")
        await asyncio.wait_for(next_state(stream), OPENING_S)
        assert (await client.post("/logout", follow_redirects=False)).status_code == 303
        rest = await asyncio.wait_for(_drain(stream), DEADLINE_S)
        assert [name for name, _ in rest if name != "comment"] == ["logout"], rest
    await asyncio.wait_for(hub_of(fleet.app).idle.wait(), 5)
