"""Keeping one lease (storage/leases.py) for as long as this process may do its work: the
fleet-wide chores today, a shard of assets later.

``tick`` (run every ``ttl_s / 3`` by a supervised loop) claims the lease when nobody holds
it and renews it while this process does; ``holding`` says whether the work may go on now.
A renewal that fails, or a database that cannot be reached until the lease's last known
expiry, ends the holding: two processes never both believe they hold it, as long as their
clocks agree to well under a lease period.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.domain.time import Clock
from sitewatch.storage.leases import Lease, claim, holders, release, renew, seize

log = logging.getLogger(__name__)
T = TypeVar("T")


def node_name() -> str:
    """This machine's name in lease holders: SITEWATCH_NODE if set (containers get random
    host names; two workers on one host may be told apart as if on two), else the host name."""
    return os.environ.get("SITEWATCH_NODE") or socket.gethostname()


def holder_id() -> str:
    """Who holds a lease, as operators read it: node, process and a random part (a restarted
    process with a reused pid is not its predecessor)."""
    return f"{node_name()}:{os.getpid()}:{secrets.token_hex(3)}"


def dead_here(holder: str) -> bool:
    """Whether ``holder`` was a process of this node that no longer runs (killed, crashed): its
    leases may be seized at once instead of waited out. A reused pid reads as alive: the
    lease is then waited out, the safe way to be wrong."""
    node, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if node != node_name() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def exclusively(sessions: sessionmaker[Session], name: str, work: Callable[[], T], *, clock: Clock,
                ttl_s: float = 60.0, wait_s: float = 0.2) -> T:
    """Runs ``work`` (blocking) while holding the lease ``name``, waiting while another process
    holds it: e.g. several processes starting at once bring the inventory in line with the
    configuration one after another, not in racing transactions. ``ttl_s`` bounds how long a
    killed holder can make the others wait."""
    keeper = LeaseKeeper(sessions, name, holder=holder_id(), ttl_s=ttl_s, clock=clock)
    keeper.tick()
    while not keeper.holding():
        time.sleep(wait_s)  # the holder releases in a transaction of its own: nothing to await
        keeper.tick()
    # Renewed while the work runs: work longer than the lease (an inventory of 16,000 assets
    # once took 95 s against a 60 s lease) must not let the next process in half-way.
    done = threading.Event()
    renewer = threading.Thread(target=_keep_renewed, args=(keeper, done, wait_s), name=f"lease:{name}", daemon=True)
    renewer.start()
    try:
        return work()
    finally:
        done.set()
        renewer.join()
        keeper.release()


def _keep_renewed(keeper: LeaseKeeper, done: threading.Event, wait_s: float) -> None:
    # Short sleeps, not done.wait(timeout): under faketime a timed wait never returns (FIELD-NOTES).
    due = time.monotonic() + keeper.every_s
    while not done.is_set():
        time.sleep(min(wait_s, keeper.every_s))
        if time.monotonic() >= due and not done.is_set():
            due = time.monotonic() + keeper.every_s
            try:
                keeper.tick()
            except SQLAlchemyError as exc:  # held until its last known expiry; the next tick tries again
                log.error("lease %s: not renewed, will retry: %s", keeper.name, exc)


class LeaseKeeper:
    def __init__(self, sessions: sessionmaker[Session], name: str, *, holder: str, ttl_s: float,
                 clock: Clock) -> None:
        self.name = name
        self.holder = holder
        self.ttl_s = ttl_s
        self._sessions = sessions
        self._clock = clock
        self._lease: Lease | None = None
        self._ticking = threading.Lock()  # the renewing loop and a chore's first look may meet

    @property
    def every_s(self) -> float:
        """How often ``tick`` must run: three tries before the lease would run out."""
        return self.ttl_s / 3

    def holding(self) -> bool:
        lease = self._lease
        return lease is not None and self._clock.now() < lease.expires_at

    def tick(self) -> None:
        """Claim or renew (blocking: run it in a thread). A database error propagates: the
        lease is then held only until its last known expiry (``holding`` sees to that)."""
        with self._ticking:
            now = self._clock.now()
            if self._lease is not None:
                if renew(self._lease, now):
                    return
                log.warning("lease %s lost (generation %d): stopping its work", self.name, self._lease.generation)
                self._lease = None
            self._lease = claim(self._sessions, self.name, self.holder, self.ttl_s, now)
            if self._lease is None:  # held: by a killed process of this host (restarted by systemd)?
                with self._sessions() as session:
                    seen = next((lease for lease in holders(session, now) if lease.name == self.name), None)
                if seen is not None and dead_here(seen.holder):
                    self._lease = seize(self._sessions, seen, self.holder, self.ttl_s, now)
            if self._lease is not None:
                log.info("lease %s taken by %s (generation %d)", self.name, self.holder, self._lease.generation)

    def release(self) -> None:
        """At a clean shutdown: another process need not wait out the lease."""
        if self._lease is not None:
            release(self._lease)
            self._lease = None
