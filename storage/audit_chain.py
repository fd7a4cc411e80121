"""The audit log as a hash chain: a row edited, deleted, inserted or moved behind the
product's back shows, even where the database's own refusals (revision 0004's triggers,
the PostgreSQL role in deploy/) were bypassed by someone with more rights than the service.

Each row carries ``seq`` (its place: 1, 2, 3 … in id order), ``prev_hash`` (the row before
it's ``row_hash``; GENESIS for the first) and ``row_hash``: SHA-256 over the canonical
encoding of its fields and ``prev_hash``. The one-row table ``audit_chain_head`` holds the
last ``seq`` and ``row_hash``, so rows cut off the end show too.

A transaction's audit rows are written when it commits, all at once, after its other changes
are flushed, with one ``UPDATE … RETURNING`` on the head row: PostgreSQL locks that row until
the commit, so writers in several processes chain one after the other, and a rolled-back
writer leaves no gap (it never took places); SQLite has one writer at a time anyway. The
head is the last lock a transaction takes, held only for its commit: two writers never each
hold what the other waits for.

The encoding is frozen (``VERSION`` is part of it); revision 0004 carries a copy of it to
chain the rows written before it. Changing it means a new version and a new migration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from sitewatch.domain.time import UTC
from sitewatch.storage.tables import AuditChainHeadRow, AuditRow

VERSION = 1
GENESIS = "0" * 64  # the prev_hash of the first row
CHAIN = "audit_log"  # the head row's key

_HEAD = AuditChainHeadRow.__table__
_LOG = AuditRow.__table__
_PENDING = "audit_chain.pending"  # session.info: the audit rows waiting for the commit


def row_hash(*, seq: int, at: datetime, actor: str, entity: str, entity_id: str, action: str,
             detail: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of the row's canonical encoding: a JSON array, sorted keys, no spaces,
    ASCII; the time as UTC with microseconds (what both databases keep)."""
    when = (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = [VERSION, seq, when, actor, entity, entity_id, action, detail, prev_hash]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")).hexdigest()


def normalised(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail as the JSON column gives it back (tuples as lists, keys as text): what is
    hashed is what a reader will see."""
    return json.loads(json.dumps(dict(detail)))


def chain(session: Session, row: AuditRow, *with_it: object) -> None:
    """Write ``row`` (not yet added to ``session``) and ``with_it`` (rows that refer to it) when
    the session's transaction commits, with its place in the chain. Taking the head at the
    first flush of an audit row (as this did) made a deadlock: the ticket writer held the head
    and waited for an alert that a dispatcher's acknowledgement held while it waited for the
    head; PostgreSQL killed one of the two and its change was lost. One round trip on the head
    per transaction, not two per row (an inventory sync of 16,161 assets took 95 s with two)."""
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        if not event.contains(session, "before_commit", _link_pending):
            event.listen(session, "before_commit", _link_pending)
            event.listen(session, "after_transaction_end", _forget_pending)
    pending.append((row, with_it))


def _link_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's commit: the rows wait for the transaction's
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # the transaction's other changes first, so the head is its last lock
    advance = (update(_HEAD).where(_HEAD.c.chain == CHAIN).values(seq=_HEAD.c.seq + len(pending))
               .returning(_HEAD.c.seq, _HEAD.c.last_hash))
    taken = session.execute(advance).one_or_none()
    if taken is None:
        # The first audit rows ever: the head is made at place 0. Of first writers racing,
        # one makes it; the others wait for its commit, make nothing and take the next places.
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(_HEAD).values(chain=CHAIN, seq=0, last_hash=GENESIS).on_conflict_do_nothing())
        taken = session.execute(advance).one()
    seq, prev = taken.seq - len(pending), taken.last_hash
    for row, with_it in pending:  # in the order they were written: the order they are inserted, ids rising
        seq += 1
        row.seq, row.prev_hash = seq, prev
        row.row_hash = prev = row_hash(seq=seq, at=row.at, actor=row.actor, entity=row.entity,
                                       entity_id=row.entity_id, action=row.action, detail=row.detail,
                                       prev_hash=prev)
        session.add(row)
        session.add_all(with_it)
    session.execute(update(_HEAD).where(_HEAD.c.chain == CHAIN).values(last_hash=prev))


def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction ended without its commit: its rows go with it
        session.info.pop(_PENDING, None)


@dataclass(frozen=True, slots=True)
class Broken:
    id: int | None  # the audit row where the chain breaks; None: the head disagrees with the end
    seq: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    rows: int  # rows walked
    broken: Broken | None  # the first break, None when the chain is whole


def verify(conn: Connection, *, batch: int = 5000) -> Verdict:
    """Walk the audit log in id order: places 1, 2, 3 … with no gap, each row's prev_hash the
    row before it's row_hash, each row_hash what its fields give, up to the place the head
    names, whose hash must be the head's. Stops at the first break. The head is read first:
    rows committed while the walk runs lie past it and wait for the next verify."""
    head = _head(conn)
    expected, prev, rows, past = 1, GENESIS, 0, None
    result = conn.execute(select(_LOG).order_by(_LOG.c.id).execution_options(yield_per=batch))
    try:
        for row in result:
            if head is not None and expected > head.seq:
                past = row
                break
            rows += 1
            if (broken := _check(row, expected, prev)) is not None:
                return Verdict(rows, broken)
            expected, prev = expected + 1, row.row_hash
    finally:
        result.close()
    last = expected - 1
    if head is None:
        if rows:
            return Verdict(rows, Broken(None, None, f"the log holds {rows} row(s) and the chain has no head: "
                                                    "it was deleted"))
    elif (head.seq, head.last_hash) != (last, prev):
        return Verdict(rows, Broken(None, head.seq, (
            f"the chain's head names seq {head.seq} (hash {head.last_hash}) but the log ends at seq {last} "
            f"(hash {prev}): rows at its end were deleted, or the head was changed")))
    elif past is not None and (past.seq is None or (now := _head(conn)) is None or past.seq > now.seq):
        # A writer commits its rows and the head together: a row the head has never reached
        # was not written by one.
        return Verdict(rows + 1, Broken(past.id, past.seq, f"it lies past the chain's head (seq {last}): "
                                                           "added behind the product's back"))
    return Verdict(rows, None)


def _head(conn: Connection) -> Any:
    return conn.execute(select(_HEAD.c.seq, _HEAD.c.last_hash).where(_HEAD.c.chain == CHAIN)).one_or_none()


def _check(row: Any, expected: int, prev: str) -> Broken | None:
    if row.seq is None or row.row_hash is None:
        return Broken(row.id, row.seq, "the row is not chained (written around sitewatch.storage.repository.audit)")
    if row.seq > expected:
        missing = str(expected) if row.seq == expected + 1 else f"{expected} to {row.seq - 1}"
        return Broken(row.id, row.seq, f"seq {row.seq} where {expected} was due: seq {missing} missing "
                                       "before it (deleted), or rows were moved")
    if row.seq < expected:
        return Broken(row.id, row.seq, f"seq {row.seq} where {expected} was due: the row was moved or copied "
                                       "(rows out of order)")
    if row.prev_hash != prev:
        return Broken(row.id, row.seq, f"prev_hash {row.prev_hash} is not the previous row's hash {prev}")
    again = row_hash(seq=row.seq, at=row.at, actor=row.actor, entity=row.entity, entity_id=row.entity_id,
                     action=row.action, detail=row.detail, prev_hash=row.prev_hash)
    if again != row.row_hash:
        return Broken(row.id, row.seq, f"its fields (at, actor, entity, entity_id, action, detail) hash to {again}, "
                                       f"not its row_hash {row.row_hash}: it was edited after it was written")
    return None


def describe(verdict: Verdict) -> str:
    """One line for `sitewatch audit verify`."""
    if verdict.broken is None:
        return f"OK: {verdict.rows} audit row(s), the hash chain is whole"
    broken = verdict.broken
    where = "the chain's head" if broken.id is None else f"audit row id {broken.id} (seq {broken.seq})"
    return f"BROKEN at {where}, row {verdict.rows} walked: {broken.reason}"
