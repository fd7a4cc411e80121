"""What other processes commit, heard at once on PostgreSQL: LISTEN sitewatch_changes.

Migration 0003's triggers notify that channel, naming the table, after every insert into
the audit log (each change to an alert or a ticket writes one in its transaction) and after
a device_health write that changes a device's state. Any number of API processes listen on
the same database, so a change made through one, or by a worker, reaches the control rooms
of all of them without waiting for their next poll (hub.py).

One connection of its own per listening hub (psycopg 3, async, autocommit: a notification
is delivered between transactions only). A lost connection is opened again after a back-off
that doubles up to MAX_BACKOFF_S; meanwhile the hub's poll carries on as the fallback, and
whoever listens is told when the connection is back (what was committed meanwhile was not
heard). TCP keepalives find a server that went silent without closing the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

log = logging.getLogger(__name__)

CHANNEL = "sitewatch_changes"  # storage/migrations/versions/0003_device_health.py
APPLICATION = "sitewatch-control-room"  # pg_stat_activity's application_name: which connections are ours
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 30.0
CONNECT = {"autocommit": True, "application_name": APPLICATION, "connect_timeout": 5,
           # A silent server is found dead after ~10 + 3 x 5 s without an answer.
           "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}

Heard = Callable[[str | None], None]  # a table's name; None: (re)connected, anything may have been missed


def conninfo(engine: Engine) -> str | None:
    """libpq's connection string for ``engine``'s database; None if it is not PostgreSQL."""
    url = engine.url
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    def __init__(self, conninfo: str, *, first_backoff_s: float = FIRST_BACKOFF_S,
                 max_backoff_s: float = MAX_BACKOFF_S) -> None:
        self._conninfo = conninfo
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self.listening = False  # LISTEN is in place now
        self.reconnects = 0  # connections opened again after one was lost or could not be opened

    async def run(self, heard: Heard) -> None:
        """Calls ``heard`` per notification until cancelled; never raises otherwise."""
        backoff_s = self._first_backoff_s
        failed = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, **CONNECT) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    if failed:
                        self.reconnects += 1
                        log.warning("control room: listening to the database's changes again")
                    failed, backoff_s = False, self._first_backoff_s
                    heard(None)
                    async for notify in conn.notifies():
                        heard(notify.payload)
                    raise psycopg.OperationalError("the server ended the notifications")
            except (psycopg.Error, OSError) as exc:
                if not failed:
                    log.warning("control room: not listening to the database's changes (polling meanwhile); "
                                "trying again: %s", exc)
                failed = True
            except Exception:  # the listener's one guard: it must not end the hub's producer with it
                log.exception("control room: listening to the database's changes failed; trying again")
                failed = True
            finally:
                self.listening = False
            await asyncio.sleep(backoff_s)  # the back-off, not a synchronisation
            backoff_s = min(backoff_s * 2, self._max_backoff_s)
