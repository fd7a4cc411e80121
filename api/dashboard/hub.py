"""One producer per process for every open control room.

The producer reads the change signature (signature.py) about once a second; when it moves,
the state is read once (read.read_snapshot) under a new version and every subscriber is
woken. Each subscriber then takes its own view (its customers, its filters) of that one
snapshot; views are kept per version, so fifty dashboards with the same scope and filters
cost one join of JSON pieces between them.

On PostgreSQL the producer also listens to the database's change notifications (listen.py):
a change committed by any process — another API process, a worker — is read at once rather
than at the next poll, so any number of API processes show it together. The poll stays as
the fallback: SQLite, a lost LISTEN connection, and what changes with time alone.

The producer runs only while someone listens: started by the first subscriber, cancelled
and awaited (with its listener) when the last one leaves, so an idle API does no work,
holds no LISTEN connection and leaves no task. The page and /api/dashboard want a fresh
signature (a request right after an acknowledgement must see it): one read at a time,
shared by the requests that arrive meanwhile, and taken as fresh for REUSE_S while nothing
was committed in this process (or heard of from another); they go through the same
versions, and a change they find wakes the subscribers at once.

:meth:`LiveHub.close` ends every stream: the server does not stop while a response is
still being sent, and an event stream never finishes by itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta

import anyio
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session

from sitewatch.api.context import ApiContext, ExpiringHealthReader
from sitewatch.api.dashboard.listen import ChangeListener, conninfo
from sitewatch.api.dashboard.read import Pieces, read_snapshot
from sitewatch.api.dashboard.signature import Signature, signature, unreachable_devices
from sitewatch.api.dashboard.state import Filters, Snapshot, View

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the producer looks for a change: updates land within ~1 s (at once when listening)
# The shortest time between two of the producer's reads: a storm of notifications (every
# ticket and alert change of the fleet) costs at most 1 / NOTIFIED_GAP_S reads a second.
NOTIFIED_GAP_S = 0.1
AUDIT = "audit_log"  # a notification from it: tickets and alerts changed, device health did not
REUSE_S = 0.25  # how long a request may take the last signature read as fresh (see LiveHub)
REUSE, ZERO = timedelta(seconds=REUSE_S), timedelta(0)
HEARTBEAT_S = 15.0  # a comment on an idle stream: proxies drop connections silent for 30-60 s
ViewKey = tuple[frozenset[str] | None, Filters, str]
Read = tuple[Signature, tuple[float, datetime]]  # a signature, and (monotonic, clock) when its read began


class LiveHub:
    def __init__(self, parts: ApiContext, *, poll_s: float = POLL_S, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._parts = parts
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self._boot = secrets.token_hex(3)  # versions of another process (or run) never look equal
        self._count = 0
        self._signature: Signature | None = None
        self._snapshot: asyncio.Future[Snapshot] | None = None  # of the newest version, maybe still being read
        self._latest: Snapshot | None = None  # the newest one read
        # One signature read at a time: requests arriving meanwhile share the next one (which
        # starts after they came, so it sees what they wrote), and answers never step back.
        self._reading: asyncio.Future[Read] | None = None
        self._queued: asyncio.Future[Read] | None = None
        # A request may take the last read as fresh for REUSE_S if nothing was committed in
        # this process since it began: its own writes are seen at once, another process's
        # within REUSE_S (they land asynchronously anyway); most requests at 50 clients then
        # cost no database round trip.
        self._as_of: tuple[float, datetime] | None = None  # (monotonic, clock) when that read began
        self._last_commit = 0.0
        event.listen(parts.sessions, "after_commit", self._committed)
        self._views: dict[ViewKey, View] = {}
        self._pieces = Pieces()  # what the last build made: a change rebuilds only what it touched
        self._changed = asyncio.Event()
        self._nudged = asyncio.Event()  # another process committed something (listen.py)
        bind = parts.sessions.kw.get("bind")
        database = conninfo(bind) if bind is not None else None
        self.listener = ChangeListener(database) if database is not None else None
        self._subscribers = 0
        self._producer: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()  # set while no producer runs (tests await it)
        self.idle.set()
        self._closed = False
        self._failing = False

    # --- the current state ------------------------------------------------------------

    async def view(self, customers: frozenset[str] | None, filters: Filters, locale: str, *,
                   fresh: bool = True) -> View:
        """What ``customers`` see under ``filters``, in ``locale``, now. ``fresh``: read the
        signature first (a request); otherwise the latest state the producer built (a stream)."""
        snapshot = await self._refresh() if fresh or self._latest is None else self._latest
        key = (customers, filters, locale)
        found = self._views.get(key)
        if found is None or found.version != snapshot.version:
            found = snapshot.view(customers, filters, locale)
            if snapshot is self._latest:
                self._views[key] = found
        return found

    async def _refresh(self) -> Snapshot:
        if not self._still_fresh():
            loop = asyncio.get_running_loop()
            if self._reading is None:
                reading = self._read(loop)
            else:
                if self._queued is None:
                    self._queued = loop.create_future()
                reading = self._queued
            found, self._as_of = await asyncio.shield(reading)
            if found != self._signature or self._snapshot is None:
                self._new_version(found, loop)
        assert self._snapshot is not None
        return await asyncio.shield(self._snapshot)

    def _still_fresh(self) -> bool:
        if self._snapshot is None or self._as_of is None:
            return False
        began, seen = self._as_of
        moved = self._parts.clock.now() - seen  # a test's clock may jump: then read again
        return time.monotonic() - began < REUSE_S and self._last_commit < began and ZERO <= moved < REUSE

    def _committed(self, _session: Session | None) -> None:
        self._last_commit = time.monotonic()  # any thread; a float assignment is atomic

    def _read(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Read]:
        self._reading = loop.run_in_executor(None, self._read_signature)
        self._reading.add_done_callback(self._read_done)
        return self._reading

    def _read_done(self, done: asyncio.Future[Read]) -> None:
        self._reading = None
        queued, self._queued = self._queued, None
        if queued is None:
            return

        def settle(read: asyncio.Future[Read]) -> None:
            if read.cancelled():
                queued.cancel()
            elif read.exception() is not None:
                queued.set_exception(read.exception())
            else:
                queued.set_result(read.result())

        self._read(done.get_loop()).add_done_callback(settle)

    def _new_version(self, found: Signature, loop: asyncio.AbstractEventLoop) -> None:
        self._signature = found
        self._count += 1
        version = f"{self._boot}-{self._count}"
        unreachable = found[-1]
        self._snapshot = loop.run_in_executor(None, self._read_snapshot, version, unreachable)
        self._snapshot.add_done_callback(self._built)

    def _built(self, future: asyncio.Future[Snapshot]) -> None:
        if future.cancelled() or future.exception() is not None:
            if future is self._snapshot:
                self._signature = self._as_of = None  # read again next time
            return
        if future is self._snapshot:
            self._latest, self._views = future.result(), {}
            self._wake()

    def _read_signature(self) -> Read:
        parts = self._parts
        began, now = time.monotonic(), parts.clock.now()
        with parts.sessions() as session:
            found = signature(session, parts.config, now=now, unreachable=unreachable_devices(parts.health))
        return found, (began, now)

    def _read_snapshot(self, version: str, unreachable: frozenset[str]) -> Snapshot:
        parts = self._parts
        with parts.sessions() as session:
            return read_snapshot(session, parts.config, version=version, now=parts.clock.now(),
                                 unreachable=unreachable, pieces=self._pieces)

    def _wake(self) -> None:
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    # --- subscribers and the producer -----------------------------------------------------

    @property
    def subscribers(self) -> int:
        return self._subscribers

    async def updates(self, customers: frozenset[str] | None, filters: Filters, locale: str, *,
                      since: str | None) -> AsyncIterator[View | None]:
        """Each new view for a subscriber, and None when a heartbeat is due; ends when the
        hub closes. ``since``: the version the subscriber already shows."""
        async with self._subscribed():
            shown = since
            while not self._closed:
                changed = self._changed  # before reading: a change meanwhile sets it
                view = await self.view(customers, filters, locale, fresh=False)
                if view.version != shown:
                    shown = view.version
                    yield view
                    continue
                try:
                    async with asyncio.timeout(self.heartbeat_s):
                        await changed.wait()
                except TimeoutError:
                    yield None

    @asynccontextmanager
    async def _subscribed(self) -> AsyncIterator[None]:
        self._subscribers += 1
        if self._producer is None:
            self.idle.clear()
            self._producer = asyncio.create_task(self._produce(), name="control-room-producer")
        try:
            yield
        finally:
            self._subscribers -= 1
            if self._subscribers == 0 and self._producer is not None:
                producer, self._producer = self._producer, None
                producer.cancel()
                # Shielded: the stream leaving is itself being cancelled (its client went away).
                with anyio.CancelScope(shield=True), suppress(asyncio.CancelledError):
                    await producer
                if self._producer is None:  # nobody came back while it stopped
                    self.idle.set()

    async def _produce(self) -> None:
        # The listener lives inside the producer: cancelling one awaits both.
        async with asyncio.TaskGroup() as group:
            if self.listener is not None:
                group.create_task(self.listener.run(self._heard), name="control-room-listener")
            await self._poll()

    def _heard(self, table: str | None) -> None:
        """Another process committed a change to ``table`` (None: anything, while not listening)."""
        health = self._parts.health
        if table != AUDIT and isinstance(health, ExpiringHealthReader):
            health.expire()
        self._committed(None)  # no signature read before now is fresh any more
        self._nudged.set()

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._nudged.clear()  # before reading: a notification during the read means read again
            began = loop.time()
            try:
                await self._refresh()
                if self._failing:
                    log.warning("control room: the database answers again")
                self._failing = False
            except Exception:  # the producer's one guard: dashboards must not go stale for good
                if not self._failing:
                    log.exception("control room: reading the state failed; retrying every %.0f s", self.poll_s)
                self._failing = True
            with suppress(TimeoutError):  # the polling cadence, cut short by a notification
                async with asyncio.timeout(self.poll_s):
                    await self._nudged.wait()
            await asyncio.sleep(max(0.0, began + NOTIFIED_GAP_S - loop.time()))

    def close(self) -> None:
        """End every stream (the server is stopping); later subscribers end at once."""
        self._closed = True
        self._wake()


def hub_of(app: FastAPI) -> LiveHub:
    """The app's hub, made on first use (the app is built without a lifespan)."""
    hub = getattr(app.state, "control_room_hub", None)
    if hub is None:
        hub = app.state.control_room_hub = LiveHub(app.state.components)
    return hub


def end_streams(app: FastAPI) -> None:
    """For whoever stops the server: close the control rooms' event streams first."""
    hub = getattr(app.state, "control_room_hub", None)
    if hub is not None:
        hub.close()
