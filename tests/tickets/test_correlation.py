"""One ticket per fault: alerts of one asset in one fault group ([correlation.faults]) are
symptoms on one ticket; independent faults stay apart; the window ends a fault.

Runs on SQLite and on the machine's PostgreSQL (the ``database_url`` fixture), with the
example configuration's groups."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.writer import TicketWriter
from tests.tickets.forms import close_ticket

T0 = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)  # 03:00 in Shanghai: the dispatch centre's watch
WINDOW_S = 600.0
STATION = "rs-north-01"


@pytest.fixture(scope="module")
def config():
    raw = example_config()
    raw["correlation"]["window_s"] = WINDOW_S
    return config_from_dict(raw)


@pytest.fixture
def writer(db_session_factory, config) -> TicketWriter:
    with db_session_factory() as session:  # the assets' rows: the writer locks them per fault
        sync_inventory(session, config, actor="config", now=T0)
        session.commit()
    return TicketWriter(sessions=db_session_factory, config=config)


def alert(rule_id: str, channel: str, at: datetime, severity: Severity, state=AlertState.FIRING,
          asset_id: str = STATION) -> AlertTransition:
    return AlertTransition(
        fingerprint=f"{asset_id}/{rule_id}/{channel}", asset_id=asset_id, rule_id=rule_id, channel=channel,
        state=state, at=at, severity=severity, value=None, unit="", summary=f"{asset_id}: {rule_id} {state.value}",
        began_at=at,
    )


OUTLET_HIGH = ("outlet-high", "outlet_kpa", Severity.CRITICAL)
RELIEF = ("relief-venting", "relief_open", Severity.MAJOR)
LOCK_UP = ("over-lock-up-at-low-flow", "outlet_kpa", Severity.MAJOR)
SLAM_SHUT = ("slam-shut-tripped", "slam_shut_closed", Severity.CRITICAL)
GAS = ("gas", "gas_lel_pct", Severity.WARNING)


def fire(what: tuple[str, str, Severity], at: datetime) -> AlertTransition:
    return alert(*what[:2], at, what[2])


def resolve(what: tuple[str, str, Severity], at: datetime) -> AlertTransition:
    return alert(*what[:2], at, what[2], state=AlertState.RESOLVED)


def tickets(factory) -> list[TicketRow]:
    with factory() as session:
        return list(session.scalars(select(TicketRow).order_by(TicketRow.id)))


def alerts(factory) -> dict[str, int | None]:
    """fingerprint -> the ticket it paged on"""
    with factory() as session:
        return {a.fingerprint: a.ticket_id for a in session.scalars(select(AlertRow).order_by(AlertRow.id))}


def test_a_regulator_failure_is_one_ticket_with_every_symptom_on_it(writer, db_session_factory):
    s = [writer.apply([fire(OUTLET_HIGH, T0)]),
         writer.apply([fire(RELIEF, T0 + timedelta(seconds=40)), fire(LOCK_UP, T0 + timedelta(seconds=60))]),
         # the climb reaches the slam-shut setting: downstream loss follows pressure control
         writer.apply([fire(SLAM_SHUT, T0 + timedelta(seconds=90))])]
    assert sum(x.tickets_opened for x in s) == 1 and sum(x.symptoms_added for x in s) == 3
    [ticket] = tickets(db_session_factory)
    assert ticket.fault == "pressure-control" and ticket.fingerprint == f"{STATION}/outlet-high/outlet_kpa"
    assert ticket.priority == 1 and ticket.desk == "dispatch-centre"
    assert set(alerts(db_session_factory).values()) == {ticket.id}, "every symptom is on the fault's ticket"
    with db_session_factory() as session:
        audit = session.scalars(select(AuditRow).where(AuditRow.entity == "ticket", AuditRow.entity_id == str(ticket.id))
                                .order_by(AuditRow.id)).all()
    assert [a.action for a in audit] == ["opened", "symptom", "symptom", "symptom"]
    assert [a.detail["fingerprint"] for a in audit[1:]] == [
        f"{STATION}/relief-venting/relief_open", f"{STATION}/over-lock-up-at-low-flow/outlet_kpa",
        f"{STATION}/slam-shut-tripped/slam_shut_closed"]


def test_a_more_severe_symptom_raises_and_names_the_ticket(writer, db_session_factory):
    writer.apply([fire(RELIEF, T0)])
    [ticket] = tickets(db_session_factory)
    assert (ticket.priority, ticket.severity) == (2, "major")
    writer.apply([fire(OUTLET_HIGH, T0 + timedelta(seconds=20))])
    [ticket] = tickets(db_session_factory)
    assert (ticket.priority, ticket.severity) == (1, "critical")
    assert ticket.title == f"{STATION}: outlet-high firing", "the most severe symptom names it"
    assert ticket.fingerprint == f"{STATION}/relief-venting/relief_open", "its identity stays the first alert's"


def test_a_gas_leak_during_a_regulator_failure_is_a_ticket_of_its_own(writer, db_session_factory):
    writer.apply([fire(OUTLET_HIGH, T0), fire(GAS, T0 + timedelta(seconds=5)), fire(RELIEF, T0 + timedelta(seconds=9))])
    by_fault = {t.fault: t for t in tickets(db_session_factory)}
    assert set(by_fault) == {"pressure-control", "gas"}
    linked = alerts(db_session_factory)
    assert linked[f"{STATION}/gas/gas_lel_pct"] == by_fault["gas"].id
    assert linked[f"{STATION}/relief-venting/relief_open"] == by_fault["pressure-control"].id


def test_a_symptom_firing_again_is_an_occurrence_on_the_same_ticket(writer, db_session_factory):
    writer.apply([fire(OUTLET_HIGH, T0), fire(RELIEF, T0 + timedelta(seconds=30))])
    writer.apply([resolve(RELIEF, T0 + timedelta(seconds=50))])
    again = writer.apply([fire(RELIEF, T0 + timedelta(seconds=70))])
    assert (again.occurrences_added, again.tickets_opened, again.symptoms_added) == (1, 0, 0)
    [ticket] = tickets(db_session_factory)
    assert ticket.occurrences == 2


def test_after_the_window_a_new_alert_of_the_group_opens_its_own_ticket(writer, db_session_factory):
    writer.apply([fire(OUTLET_HIGH, T0)])
    writer.apply([resolve(OUTLET_HIGH, T0 + timedelta(seconds=60))])
    # nothing of the fault fires any more, but its newest alert began within the window
    inside = writer.apply([fire(RELIEF, T0 + timedelta(seconds=WINDOW_S - 1))])
    assert inside.symptoms_added == 1
    writer.apply([resolve(RELIEF, T0 + timedelta(seconds=WINDOW_S + 30))])
    later = T0 + timedelta(seconds=2 * WINDOW_S + 10)  # the window after the relief alert began
    after = writer.apply([fire(LOCK_UP, later)])
    assert (after.tickets_opened, after.symptoms_added) == (1, 0)
    first, second = tickets(db_session_factory)
    assert (first.fault, second.fault) == ("pressure-control", "pressure-control")
    assert second.repeat_of is None, "the first ticket is still open: not a repeat"


def test_while_a_symptom_still_fires_the_fault_stays_active_past_the_window(writer, db_session_factory):
    writer.apply([fire(OUTLET_HIGH, T0)])
    joined = writer.apply([fire(LOCK_UP, T0 + timedelta(seconds=5 * WINDOW_S))])
    assert joined.symptoms_added == 1 and len(tickets(db_session_factory)) == 1


def test_the_same_fault_back_after_its_ticket_closed_is_a_repeat_whichever_symptom_comes_first(
        writer, db_session_factory):
    writer.apply([fire(OUTLET_HIGH, T0), fire(RELIEF, T0 + timedelta(seconds=20))])
    writer.apply([resolve(OUTLET_HIGH, T0 + timedelta(minutes=5)), resolve(RELIEF, T0 + timedelta(minutes=5))])
    [first] = tickets(db_session_factory)
    with db_session_factory() as session:
        close_ticket(session, first.id, at=T0 + timedelta(hours=2))
        session.commit()
    writer.apply([fire(RELIEF, T0 + timedelta(days=3))])
    second = tickets(db_session_factory)[1]
    assert second.repeat_of == first.id and second.priority == 1, "major raised one step: a repeat is a finding"


def test_a_rule_without_a_fault_group_keeps_a_ticket_per_alert(db_session_factory, config):
    raw = example_config()
    for rule in raw["rules"]:
        rule.pop("fault", None)
    ungrouped = config_from_dict(raw)
    writer = TicketWriter(sessions=db_session_factory, config=ungrouped)
    summary = writer.apply([fire(OUTLET_HIGH, T0), fire(RELIEF, T0 + timedelta(seconds=5))])
    assert (summary.tickets_opened, summary.symptoms_added) == (2, 0)


def test_two_writers_judging_two_symptoms_of_one_fault_open_one_ticket(writer, db_session_factory, config):
    """Two processes on one database see the same regulator failure; each may apply a
    different symptom first. The asset's row lock makes them agree on one ticket."""
    barrier = threading.Barrier(4)
    order = [[fire(OUTLET_HIGH, T0), fire(RELIEF, T0)], [fire(RELIEF, T0), fire(OUTLET_HIGH, T0)]] * 2
    errors: list[BaseException] = []

    def run(batch: list[AlertTransition]) -> None:
        try:
            mine = TicketWriter(sessions=db_session_factory, config=config)
            barrier.wait(timeout=10)
            mine.apply(batch)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    [ticket] = tickets(db_session_factory)
    assert set(alerts(db_session_factory).values()) == {ticket.id}


def test_the_ticket_detail_and_its_alerts_list_every_symptom(writer, db_session_factory):
    from sitewatch.storage.repository import alerts_of_ticket, symptoms_of

    writer.apply([fire(OUTLET_HIGH, T0), fire(RELIEF, T0 + timedelta(seconds=30)), fire(GAS, T0 + timedelta(seconds=40))])
    with db_session_factory() as session:
        ticket = session.scalars(select(TicketRow).where(TicketRow.fault == "pressure-control")).one()
        assert [a.rule_id for a in alerts_of_ticket(session, ticket)] == ["outlet-high", "relief-venting"]
        assert [a.rule_id for a in symptoms_of(session, [ticket])[ticket.id]] == ["relief-venting"]
