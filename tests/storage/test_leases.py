"""Leases (storage/leases.py) on SQLite and PostgreSQL: of racing claimers exactly one wins,
renewing keeps a lease, an expired one goes to another holder with a higher generation
and its old holder's renewal fails, release frees it, nobody renews another's lease."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from sitewatch.domain.time import UTC
from sitewatch.storage.leases import Lease, claim, holders, release, renew

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
TTL_S = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_claimed_lease_is_kept_by_renewing_and_refused_to_others(db_session_factory):
    a = claim(db_session_factory, "shard-3", "worker-a", TTL_S, at(0))
    assert a is not None and (a.generation, a.expires_at) == (1, at(TTL_S))
    assert claim(db_session_factory, "shard-3", "worker-b", TTL_S, at(10)) is None, "a held lease was taken"
    assert claim(db_session_factory, "shard-3", "worker-a", TTL_S, at(10)) is None, "its own holder claimed it twice"
    assert renew(a, at(20)) and a.expires_at == at(20 + TTL_S)
    # Past the first expiry, but renewed: still a's.
    assert claim(db_session_factory, "shard-3", "worker-b", TTL_S, at(TTL_S + 5)) is None
    assert renew(a, at(TTL_S + 10))
    with db_session_factory() as session:
        held = holders(session, at(TTL_S + 10))
    assert [(h.name, h.holder, h.generation, h.expires_at) for h in held] == \
        [("shard-3", "worker-a", 1, at(2 * TTL_S + 10))]


def test_an_expired_lease_goes_to_another_holder_and_the_old_one_has_lost_it(db_session_factory):
    a = claim(db_session_factory, "shard-0", "worker-a", TTL_S, at(0))
    assert a is not None
    b = claim(db_session_factory, "shard-0", "worker-b", TTL_S, at(TTL_S))  # expired exactly now
    assert b is not None, "an expired lease could not be claimed"
    assert b.generation > a.generation, f"the new holder's fencing token {b.generation} is not above {a.generation}"
    assert not renew(a, at(TTL_S + 1)), "the former holder renewed a lease that is now another's"
    assert not renew(a, at(TTL_S - 1)), "a renewal with an earlier clock took the lease back"
    assert renew(b, at(TTL_S + 1))
    assert not release(a), "the former holder released another's lease"
    with db_session_factory() as session:
        assert [h.holder for h in holders(session, at(TTL_S + 2))] == ["worker-b"]


def test_a_lease_not_renewed_in_time_is_lost_even_if_nobody_took_it(db_session_factory):
    a = claim(db_session_factory, "chores", "worker-a", TTL_S, at(0))
    assert a is not None
    assert not renew(a, at(TTL_S)), "a lapsed lease was renewed: its holder may have stopped meanwhile"
    again = claim(db_session_factory, "chores", "worker-a", TTL_S, at(TTL_S))
    assert again is not None and again.generation == 2


def test_release_frees_the_lease_at_once(db_session_factory):
    a = claim(db_session_factory, "shard-1", "worker-a", TTL_S, at(0))
    assert a is not None and release(a)
    with db_session_factory() as session:
        assert holders(session, at(1)) == []
    assert not renew(a, at(1)), "a released lease was renewed"
    b = claim(db_session_factory, "shard-1", "worker-b", TTL_S, at(1))  # long before a's expiry
    assert b is not None and b.generation == 2


def test_a_holder_cannot_renew_or_release_someone_elses_lease(db_session_factory):
    b = claim(db_session_factory, "shard-2", "worker-b", TTL_S, at(0))
    assert b is not None
    forged = Lease(name="shard-2", holder="worker-a", generation=b.generation, ttl_s=TTL_S, renewed_at=at(0),
                   expires_at=at(TTL_S), sessions=db_session_factory)
    assert not renew(forged, at(5)) and not release(forged)
    stale = Lease(name="shard-2", holder="worker-b", generation=b.generation - 1, ttl_s=TTL_S,
                  renewed_at=at(0), expires_at=at(TTL_S), sessions=db_session_factory)
    assert not renew(stale, at(5)), "an older generation of the same holder renewed the lease"
    with db_session_factory() as session:
        assert [(h.holder, h.expires_at) for h in holders(session, at(5))] == [("worker-b", at(TTL_S))]


def test_naive_times_are_refused(db_session_factory):
    with pytest.raises(ValueError, match="naive"):
        claim(db_session_factory, "shard-0", "worker-a", TTL_S, datetime(2026, 12, 7, 8, 0))


CLAIMERS = 4
ROUNDS = 40


def test_of_claimers_racing_in_threads_exactly_one_wins_each_round(db_session_factory):
    """Real concurrency: each thread has its own session and connection, and they start the
    claim together. Even rounds race for a lease never claimed (the INSERT), odd rounds for
    one that has just expired (the UPDATE ... WHERE)."""
    start = threading.Barrier(CLAIMERS)
    won: dict[int, list[Lease]] = {r: [] for r in range(ROUNDS)}
    failures: list[BaseException] = []
    for r in range(1, ROUNDS, 2):
        assert claim(db_session_factory, f"race-{r}", "old-holder", TTL_S, at(0)) is not None

    def claimer(i: int) -> None:
        try:
            for r in range(ROUNDS):
                start.wait()  # no timeout: a timed wait never returns under faketime
                lease = claim(db_session_factory, f"race-{r}", f"worker-{i}", TTL_S, at(TTL_S + r))
                if lease is not None:
                    won[r].append(lease)
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread, which fails with it)
            failures.append(exc)
            start.abort()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, f"a claimer failed: {failures[0]!r}"
    wrong = {r: [w.holder for w in winners] for r, winners in won.items() if len(winners) != 1}
    assert not wrong, f"rounds without exactly one winner: {wrong}"
    assert [won[r][0].generation for r in range(ROUNDS)] == [1 if r % 2 == 0 else 2 for r in range(ROUNDS)]
    with db_session_factory() as session:
        held = {h.name: h.holder for h in holders(session, at(TTL_S))}
    assert held == {f"race-{r}": won[r][0].holder for r in range(ROUNDS)}, "the database disagrees with the winners"

