"""Leases in the relational database: which process holds a shard (or a fleet-wide chore)
and until when, so that at most one process works on it at a time.

A lease is held while ``now < expires_at``. Its holder renews it well before that; a
holder that stops renewing (killed, cut off from the database) loses it at ``expires_at``
and any process may then claim it. Every claim adds 1 to the row's ``generation``: a
holder's generation is a fencing token, so writes made under a lease can carry it and a
late write from a former holder can be refused.

Every answer comes from one statement the database runs atomically, on PostgreSQL and
SQLite alike: ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE expires_at <= now``
for a claim (PostgreSQL locks the conflicting row and evaluates the WHERE on its newest
version, so of two racing claimers exactly one gets a row back), and an ``UPDATE ...
WHERE holder AND generation AND expires_at > now`` for a renewal. Time is the caller's
``now`` (an injected clock), timezone-aware; the processes' clocks must agree to well
under a lease period (NTP), since each judges expiry by its own.

A database error is raised, not turned into False: a holder that cannot reach the
database does not know whether it still holds the lease, and must stop working on it by
``lease.expires_at`` (the last expiry it was told) at the latest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.domain.time import UTC
from sitewatch.storage.tables import LeaseRow

# What a released lease expires at: before any claimer's now, whatever its clock says.
RELEASED_AT = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Lease:
    """A lease as its holder last saw it. ``renew`` moves ``expires_at`` and ``renewed_at``
    on; ``name``, ``holder`` and ``generation`` never change (a new claim is a new Lease)."""

    name: str
    holder: str
    generation: int
    ttl_s: float
    renewed_at: datetime
    expires_at: datetime
    sessions: sessionmaker[Session] | None = field(default=None, repr=False, compare=False)


def claim(session_factory: sessionmaker[Session], name: str, holder: str, ttl_s: float,
          now: datetime) -> Lease | None:
    """Takes the lease if nobody holds it (never claimed, released, or expired at ``now``);
    None if someone does, ``holder`` included: a process claims again only after losing it."""
    _aware(now)
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    expires_at = now + timedelta(seconds=ttl_s)
    with session_factory() as session, session.begin():
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = insert(LeaseRow).values(name=name, holder=holder, expires_at=expires_at, renewed_at=now,
                                       generation=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[LeaseRow.name],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at,
                  "renewed_at": stmt.excluded.renewed_at, "generation": LeaseRow.generation + 1},
            where=LeaseRow.expires_at <= now,
        ).returning(LeaseRow.generation)
        generation = session.execute(stmt).scalar_one_or_none()
    if generation is None:
        return None
    return Lease(name=name, holder=holder, generation=generation, ttl_s=ttl_s, renewed_at=now,
                 expires_at=expires_at, sessions=session_factory)


def seize(session_factory: sessionmaker[Session], seen: Lease, holder: str, ttl_s: float,
          now: datetime) -> Lease | None:
    """Takes a lease still running from a holder known to be dead (a process of this host that
    no longer exists), without waiting for it to expire: only if it is still exactly ``seen``
    (same holder and generation), so of two seizers, or a seizer and a claimer, one wins."""
    _aware(now)
    expires_at = now + timedelta(seconds=ttl_s)
    with session_factory() as session, session.begin():
        generation = session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == seen.name, LeaseRow.holder == seen.holder, LeaseRow.generation == seen.generation)
            .values(holder=holder, expires_at=expires_at, renewed_at=now, generation=LeaseRow.generation + 1)
            .returning(LeaseRow.generation)
        ).scalar_one_or_none()
    if generation is None:
        return None
    return Lease(name=seen.name, holder=holder, generation=generation, ttl_s=ttl_s, renewed_at=now,
                 expires_at=expires_at, sessions=session_factory)


def renew(lease: Lease, now: datetime) -> bool:
    """Extends the lease to ``now + ttl_s`` if it is still ``lease``'s: same holder, same
    generation, not expired at ``now``. False: it is lost (expired, released, or claimed by
    another): the caller must stop working on it at once and may try ``claim`` again."""
    _aware(now)
    expires_at = now + timedelta(seconds=lease.ttl_s)
    with _sessions(lease)() as session, session.begin():
        renewed = session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == lease.name, LeaseRow.holder == lease.holder,
                   LeaseRow.generation == lease.generation, LeaseRow.expires_at > now)
            .values(expires_at=expires_at, renewed_at=now)
            .returning(LeaseRow.generation)
        ).scalar_one_or_none()
    if renewed is None:
        return False
    lease.renewed_at, lease.expires_at = now, expires_at
    return True


def release(lease: Lease) -> bool:
    """Gives the lease up, so another process need not wait for it to expire (a clean
    shutdown). False: it was not ``lease``'s any more, and nothing changed."""
    with _sessions(lease)() as session, session.begin():
        released = session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == lease.name, LeaseRow.holder == lease.holder,
                   LeaseRow.generation == lease.generation)
            .values(holder=None, expires_at=RELEASED_AT)
            .returning(LeaseRow.generation)
        ).scalar_one_or_none()
    return released is not None


def holders(session: Session, now: datetime) -> list[Lease]:
    """The leases held at ``now``, by name (for /metrics and the operators' view). ``now``
    is needed because an expired lease stays in its row until the next claim."""
    _aware(now)
    rows = session.scalars(
        select(LeaseRow).where(LeaseRow.holder.is_not(None), LeaseRow.expires_at > now).order_by(LeaseRow.name)
    ).all()
    return [Lease(name=r.name, holder=r.holder or "", generation=r.generation,
                  ttl_s=(r.expires_at - r.renewed_at).total_seconds(), renewed_at=r.renewed_at,
                  expires_at=r.expires_at)
            for r in rows]


def _sessions(lease: Lease) -> sessionmaker[Session]:
    if lease.sessions is None:
        raise ValueError(f"lease {lease.name!r} was read by holders(), not claimed: it cannot be renewed or released")
    return lease.sessions


def _aware(now: datetime) -> None:
    # A naive time compared with the stored UTC would be off by the host's zone offset.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r} refused: pass an aware time")
