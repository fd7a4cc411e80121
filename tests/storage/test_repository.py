"""Repository and schema behaviour, on SQLite and PostgreSQL alike (see database_url)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.load import load_config
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.tickets import TicketState
from sitewatch.domain.time import UTC
from sitewatch.storage import repository
from sitewatch.storage.tables import AlertRow, AssetRow, AuditRow, TicketRow

EXAMPLE_CONFIG = Path(__file__).parents[2] / "config" / "sitewatch.example.toml"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
Factory = sessionmaker[Session]


def _ticket(fingerprint: str, *, state: TicketState = TicketState.REGISTERED, asset_id: str = "rs-1", opened_at: datetime = T0) -> TicketRow:
    return TicketRow(
        fingerprint=fingerprint,
        asset_id=asset_id,
        site_id="north",
        title="outlet pressure high",
        severity="critical",
        priority=1,
        state=state.value,
        opened_at=opened_at,
        arrive_by=opened_at + timedelta(hours=3),
        updated_at=opened_at,
    )


def _alert(fingerprint: str, *, state: AlertState = AlertState.FIRING, started_at: datetime = T0) -> AlertRow:
    return AlertRow(
        fingerprint=fingerprint,
        asset_id="rs-1",
        rule_id="outlet-high",
        channel="outlet_kpa",
        severity="critical",
        state=state.value,
        started_at=started_at,
    )


def test_utc_datetime_round_trips_aware_utc(db_session_factory: Factory) -> None:
    beijing = datetime(2026, 3, 1, 16, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=8)))
    with db_session_factory.begin() as session:
        repository.audit(session, at=beijing, actor="test", entity="ticket", entity_id="1", action="created", detail={})

    with db_session_factory() as session:
        (at,) = session.scalars(select(AuditRow.at)).all()
    assert at == beijing, "the instant must survive the round trip"
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0), f"expected aware UTC, got {at!r}"


def test_utc_datetime_refuses_naive(db_session_factory: Factory) -> None:
    with db_session_factory() as session:
        session.add(_ticket("rs-1/outlet-high/outlet_kpa", opened_at=datetime(2026, 3, 1, 8, 0)))
        with pytest.raises(StatementError, match="naive"):
            session.flush()


def test_one_open_ticket_per_fingerprint(db_session_factory: Factory) -> None:
    fp = "rs-1/outlet-high/outlet_kpa"
    with db_session_factory.begin() as session:
        session.add(_ticket(fp))

    with pytest.raises(IntegrityError):
        with db_session_factory.begin() as session:
            session.add(_ticket(fp, state=TicketState.DISPATCHED))

    with db_session_factory.begin() as session:
        (first,) = session.scalars(select(TicketRow)).all()
        first.state = TicketState.CLOSED.value
    with db_session_factory.begin() as session:
        session.add(_ticket(fp))  # allowed: the first one is closed
        session.add(_ticket("rs-2/outlet-high/outlet_kpa"))  # another fault is independent

    with db_session_factory() as session:
        states = sorted(t.state for t in session.scalars(select(TicketRow).where(TicketRow.fingerprint == fp)))
    assert states == ["closed", "registered"]


def test_one_firing_alert_per_fingerprint(db_session_factory: Factory) -> None:
    fp = "rs-1/outlet-high/outlet_kpa"
    with db_session_factory.begin() as session:
        session.add(_alert(fp))

    with pytest.raises(IntegrityError):
        with db_session_factory.begin() as session:
            session.add(_alert(fp))

    with db_session_factory.begin() as session:
        (first,) = session.scalars(select(AlertRow)).all()
        first.state = AlertState.RESOLVED.value
        first.resolved_at = T0 + timedelta(minutes=1)
    with db_session_factory.begin() as session:
        session.add(_alert(fp, started_at=T0 + timedelta(minutes=5)))

    with db_session_factory() as session:
        assert [a.state for a in repository.list_alerts(session)] == ["firing", "resolved"], "newest first"
        assert len(repository.list_alerts(session, state=AlertState.FIRING)) == 1
        assert len(repository.list_alerts(session, state="resolved", asset_id="rs-1")) == 1
        assert repository.list_alerts(session, asset_id="rs-9") == []
        with pytest.raises(ValueError):
            repository.list_alerts(session, state="burning")


def _audit_rows(factory: Factory) -> list[AuditRow]:
    with factory() as session:
        return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))


def test_sync_inventory_creates_audits_and_is_idempotent(db_session_factory: Factory) -> None:
    config = load_config(EXAMPLE_CONFIG)

    with db_session_factory.begin() as session:
        created = repository.sync_inventory(session, config, actor="config", now=T0)
    assert created == 4, "one customer, one site, two assets in the example"
    audit = _audit_rows(db_session_factory)
    assert [(a.entity, a.entity_id, a.action) for a in audit] == [
        ("customer", "citygas", "created"),
        ("site", "north", "created"),
        ("asset", "rs-north-01", "created"),
        ("asset", "ah-north-01", "created"),
    ]
    assert audit[0].actor == "config" and audit[0].at == T0

    with db_session_factory() as session:
        asset = repository.get_asset(session, "rs-north-01")
        assert asset is not None
        assert asset.details == {
            "host": "127.0.0.1",
            "port": 15020,
            "device_id": 1,
            "profile": "regulator-v1",
            "poll_interval_s": 5.0,
        }
        assert [s.id for s in repository.list_sites(session)] == ["north"]
        assert [a.id for a in repository.list_assets(session, site_id="north")] == ["ah-north-01", "rs-north-01"]
        host = repository.get_asset(session, "ah-north-01")
        assert host is not None and host.details == {"host_id": "ah-north-01", "zones": 8, "poll_interval_s": 5.0}
        assert repository.list_assets(session, site_id="south") == []

    with db_session_factory.begin() as session:
        again = repository.sync_inventory(session, config, actor="config", now=T0 + timedelta(hours=1))
    assert again == 0, "an unchanged re-sync changes nothing"
    assert len(_audit_rows(db_session_factory)) == 4, "an unchanged re-sync writes no audit rows"


def test_sync_inventory_audits_changed_fields_and_removals(db_session_factory: Factory) -> None:
    config = load_config(EXAMPLE_CONFIG)
    with db_session_factory.begin() as session:
        repository.sync_inventory(session, config, actor="config", now=T0)
    asset = config.assets[0]
    moved = asset.model_copy(update={"name": "North 01 (rebuilt)", "poll_interval_s": 2.0})
    changed: Config = config.model_copy(update={"assets": (moved, *config.assets[1:])})

    with db_session_factory.begin() as session:
        assert repository.sync_inventory(session, changed, actor="ops", now=T0 + timedelta(days=1)) == 1

    last = _audit_rows(db_session_factory)[-1]
    assert (last.entity, last.entity_id, last.action, last.actor) == ("asset", "rs-north-01", "updated", "ops")
    assert set(last.detail) == {"name", "details"}, f"only changed fields belong in the detail: {last.detail}"
    assert last.detail["name"] == {"old": "North 01 regulator station", "new": "North 01 (rebuilt)"}
    assert last.detail["details"]["new"]["poll_interval_s"] == 2.0

    with db_session_factory.begin() as session:
        assert repository.sync_inventory(session, changed.model_copy(update={"assets": config.assets[1:]}),
                                         actor="ops", now=T0) == 1
    last = _audit_rows(db_session_factory)[-1]
    assert (last.entity, last.entity_id, last.action) == ("asset", "rs-north-01", "deleted")
    assert last.detail["name"] == "North 01 (rebuilt)"
    with db_session_factory() as session:
        assert [a.id for a in session.scalars(select(AssetRow))] == ["ah-north-01"]


def test_ticket_queries_and_history(db_session_factory: Factory) -> None:
    with db_session_factory.begin() as session:
        old = _ticket("a", state=TicketState.CLOSED, opened_at=T0)
        new = _ticket("b", asset_id="rs-2", opened_at=T0 + timedelta(hours=1))
        session.add_all([old, new])
        session.flush()
        for action, minutes in (("created", 0), ("dispatched", 5)):
            repository.audit(
                session,
                at=T0 + timedelta(minutes=minutes),
                actor="desk",
                entity="ticket",
                entity_id=str(new.id),
                action=action,
                detail={},
            )
        new_id = new.id

    with db_session_factory() as session:
        assert [t.fingerprint for t in repository.list_tickets(session)] == ["b", "a"], "newest first"
        assert [t.fingerprint for t in repository.list_tickets(session, open_only=True)] == ["b"]
        assert [t.fingerprint for t in repository.list_tickets(session, asset_id="rs-1")] == ["a"]
        assert len(repository.list_tickets(session, site_id="north", limit=1)) == 1
        ticket = repository.get_ticket(session, new_id)
        assert ticket is not None and ticket.fingerprint == "b"
        assert repository.get_ticket(session, 10_000) is None
        assert [a.action for a in repository.ticket_history(session, new_id)] == ["created", "dispatched"]


def test_rules_state_save_and_load(db_session_factory: Factory) -> None:
    with db_session_factory() as session:
        assert repository.load_rules_state(session, "engine") is None

    with db_session_factory.begin() as session:
        repository.save_rules_state(session, "engine", b"\x00first\xff", T0)
    with db_session_factory.begin() as session:
        repository.save_rules_state(session, "engine", b"\x00second\xff", T0 + timedelta(seconds=1))

    with db_session_factory() as session:
        assert repository.load_rules_state(session, "engine") == b"\x00second\xff"
        assert repository.load_rules_state(session, "other") is None
