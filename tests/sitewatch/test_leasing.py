"""One lease, two processes' keepers on one database (SQLite and PostgreSQL): one holds it,
the other takes over only once it has run out or was released."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.domain.time import UTC, SystemClock
from sitewatch.leasing import LeaseKeeper, dead_here, exclusively, holder_id, node_name
from tests.serving import FixedClock

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _keepers(sessions: sessionmaker[Session], clock: FixedClock) -> tuple[LeaseKeeper, LeaseKeeper]:
    return (LeaseKeeper(sessions, "chores", holder="a", ttl_s=30, clock=clock),
            LeaseKeeper(sessions, "chores", holder="b", ttl_s=30, clock=clock))


def test_one_holds_and_keeps_it_while_renewing(db_session_factory: sessionmaker[Session]) -> None:
    clock = FixedClock(T0)
    a, b = _keepers(db_session_factory, clock)
    a.tick()
    b.tick()
    assert (a.holding(), b.holding()) == (True, False)
    for _ in range(10):  # an hour-long run in steps of a third of the lease
        clock.now_value += timedelta(seconds=a.every_s)
        a.tick()
        b.tick()
        assert (a.holding(), b.holding()) == (True, False)


def test_a_holder_that_stops_renewing_is_replaced_once_the_lease_runs_out(
    db_session_factory: sessionmaker[Session],
) -> None:
    clock = FixedClock(T0)
    a, b = _keepers(db_session_factory, clock)
    a.tick()
    clock.now_value = T0 + timedelta(seconds=29)
    b.tick()
    assert (a.holding(), b.holding()) == (True, False), "not before the lease runs out"
    clock.now_value = T0 + timedelta(seconds=30)
    assert not a.holding(), "a holder that could not renew stops at its lease's end"
    b.tick()
    assert b.holding()
    a.tick()  # back (the database was unreachable, say): its renewal fails, the lease is b's
    assert (a.holding(), b.holding()) == (False, True)


def test_release_hands_over_at_once(db_session_factory: sessionmaker[Session]) -> None:
    clock = FixedClock(T0)
    a, b = _keepers(db_session_factory, clock)
    a.tick()
    a.release()
    assert not a.holding()
    b.tick()
    assert b.holding()


def test_holder_ids_differ_between_processes_and_restarts() -> None:
    assert holder_id() != holder_id()


async def test_two_chores_stages_on_one_database_do_each_chore_once(tmp_path) -> None:
    """Two processes running the chores on one database (two Components here): the one
    without the lease skips its rounds."""
    from sitewatch.components import build_components
    from sitewatch.config.load import config_from_dict
    from sitewatch.demo import example_config
    from sitewatch.stages.chores import ChoresStage

    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": f"sqlite:///{tmp_path}/shared.db"}
    done: list[str] = []
    stages = []
    for name in ("first", "second"):
        raw["storage"]["timeseries_path"] = f"{name}.duckdb"
        parts = build_components(config_from_dict(raw))
        parts.clock = FixedClock(T0)
        stage = ChoresStage(parts)
        stages.append((name, stage, parts))
    try:
        for name, stage, _ in stages:
            await stage._chore("count", lambda now, name=name: done.append(name))
        assert done == ["first"], "the second process must leave the chore to the lease's holder"
    finally:
        for _, _, parts in stages:
            parts.close()


def _dead_pid() -> int:
    """A pid no process has: a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_process_of_this_node_is_replaced_at_once(db_session_factory: sessionmaker[Session]) -> None:
    """systemd restarting a killed worker: the lease still runs, but its holder is gone."""
    clock = FixedClock(T0)
    dead = LeaseKeeper(db_session_factory, "chores", holder=f"{node_name()}:{_dead_pid()}:abcdef", ttl_s=30,
                       clock=clock)
    dead.tick()
    alive = LeaseKeeper(db_session_factory, "chores", holder=f"{node_name()}:{os.getpid()}:123456", ttl_s=30,
                        clock=clock)
    alive.tick()
    assert alive.holding(), "the lease of a process that no longer exists was waited out"
    assert not renew_ok(dead), "the dead holder's lease was not taken from it"


def test_a_holder_elsewhere_or_alive_is_waited_out(db_session_factory: sessionmaker[Session],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FixedClock(T0)
    pid = _dead_pid()
    for holder in (f"other-node:{pid}:abcdef", f"{node_name()}:{os.getpid()}:abcdef"):
        LeaseKeeper(db_session_factory, f"lease-{holder}", holder=holder, ttl_s=30, clock=clock).tick()
        taker = LeaseKeeper(db_session_factory, f"lease-{holder}", holder="taker", ttl_s=30, clock=clock)
        taker.tick()
        assert not taker.holding(), f"{holder}'s lease was taken before it ran out"
    monkeypatch.setenv("SITEWATCH_NODE", "node-a")
    assert holder_id().startswith("node-a:") and dead_here(f"node-a:{pid}:abcdef")
    assert not dead_here(f"{socket.gethostname()}:{pid}:abcdef"), "SITEWATCH_NODE names the node, not the host"


def renew_ok(keeper: LeaseKeeper) -> bool:
    keeper.tick()
    return keeper.holding()


def test_work_under_a_lease_takes_turns(db_session_factory: sessionmaker[Session]) -> None:
    """Processes starting at once sync the inventory one after another, never together."""
    inside, overlaps, done = [0], [], []

    def work(name: str) -> str:
        inside[0] += 1
        overlaps.append(inside[0])
        time.sleep(0.1)  # long enough for the others to try, and wait
        inside[0] -= 1
        done.append(name)
        return name

    clock = SystemClock()
    threads = [threading.Thread(target=exclusively, args=(db_session_factory, "inventory-sync",
                                                          functools.partial(work, str(n))),
                                kwargs={"clock": clock, "wait_s": 0.02}) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # untimed: faketime-proof
    assert sorted(done) == ["0", "1", "2", "3"], "a process never got its turn"
    assert max(overlaps) == 1, "two ran the work at the same time"


def test_work_longer_than_the_lease_keeps_the_others_out(db_session_factory: sessionmaker[Session]) -> None:
    # An inventory sync of 16,000 assets once took 95 s against a 60 s lease: the second
    # worker got in half-way and both inserted the same rows.
    clock = SystemClock()
    other = LeaseKeeper(db_session_factory, "inventory-sync", holder="other", ttl_s=3, clock=clock)
    looks: list[bool] = []

    def work() -> None:
        started = time.monotonic()
        while time.monotonic() - started < 5:  # well past the 3 s lease
            other.tick()
            looks.append(other.holding())
            time.sleep(0.25)

    exclusively(db_session_factory, "inventory-sync", work, clock=clock, ttl_s=3, wait_s=0.05)
    assert looks and not any(looks), "another took the lease while the work ran"
    other.tick()
    assert other.holding(), "released when the work ended"
