"""Who is told what, and when: the planner on SQLite and PostgreSQL, the clock injected.

Tickets are made the way the service makes them (TicketWriter, sitewatch.tickets.workflow), so the
outbox entries are the ones real changes write."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from sitewatch.domain.alerts import AlertState, Severity
from sitewatch.domain.tickets import TicketState
from sitewatch.paging.planner import Planner
from sitewatch.storage.paging import OutboxRow, PageRow
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.deadlines import Deadlines
from sitewatch.tickets.workflow import acknowledge_alert, acknowledge_ticket, transition_ticket
from sitewatch.tickets.writer import TicketWriter
from tests.paging.world import (
    NIGHT,
    OFFICE,
    StepClock,
    deliveries,
    firing,
    paging_config,
    told,
)

WANG_SMS, LIU_MAIL, CHEN_MAIL = "person:wang/sms", "person:liu/mail", "person:chen/mail"
DISPATCH_GROUP, OPS_GROUP = "group:dispatch-hook", "group:ops-hook"


@pytest.fixture(scope="module")
def config():
    return paging_config()


@pytest.fixture
def world(db_session_factory, config):
    clock = StepClock(NIGHT)
    writer = TicketWriter(sessions=db_session_factory, config=config)
    planner = Planner(sessions=db_session_factory, config=config)
    return db_session_factory, clock, writer, planner


def plan(planner, clock):
    return planner.run(now=clock.now())


def ticket_id(sessions) -> int:
    with sessions() as session:
        return session.scalars(select(TicketRow.id)).one()


def test_a_night_fault_goes_to_the_dispatch_centre_and_escalates_until_acknowledged(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    assert told(sessions, "opened") == [WANG_SMS, DISPATCH_GROUP], "level 1: the dispatch centre's on-call and group"
    group = deliveries(sessions, recipient=DISPATCH_GROUP)[0]
    assert group.mentions == ["13800000003"], "the group message @s the person on call"
    assert group.locale == "en" and "[" in group.content["subject"], "the dispatch group reads English here"

    clock.advance(minutes=9, seconds=59)
    plan(planner, clock)
    assert told(sessions, "escalation") == [], "level 2 waits the route's 10 minutes"
    clock.advance(seconds=2)
    plan(planner, clock)
    assert told(sessions, "escalation") == [LIU_MAIL], "unacknowledged after 10 min: the duty lead"
    clock.advance(minutes=20)
    plan(planner, clock)
    assert told(sessions, "escalation") == [LIU_MAIL, CHEN_MAIL], "after 30 min: the manager"
    assert [d.level for d in deliveries(sessions, kind="escalation")] == [2, 3]
    plan(planner, clock)
    assert len(deliveries(sessions)) == 4, "planning again adds nothing"


def test_acknowledging_on_the_ticket_page_stops_the_escalation(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    clock.advance(minutes=11)
    plan(planner, clock)
    with sessions.begin() as session:
        acknowledge_ticket(session, ticket_id(sessions), actor="wang", at=clock.now())
    clock.advance(minutes=1)
    plan(planner, clock)
    clock.advance(hours=2)
    plan(planner, clock)
    assert told(sessions, "escalation") == [LIU_MAIL], "no manager: acknowledged before 30 min"
    assert told(sessions, "repeat") == [], "no repeats once acknowledged"
    with sessions() as session:
        page = session.scalars(select(PageRow)).one()
        assert (page.acknowledged_by, page.level) == ("wang", 2)


def test_acknowledging_the_alert_in_the_control_room_stops_it_too(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    with sessions.begin() as session:
        alert = session.scalars(select(AlertRow)).one()
        acknowledge_alert(session, alert.id, actor="wang", at=clock.now())
    clock.advance(hours=1)
    plan(planner, clock)
    assert told(sessions, "escalation") == [] and told(sessions, "repeat") == []


def test_an_office_hours_fault_goes_to_the_operations_desk(db_session_factory, config):
    clock = StepClock(OFFICE)
    TicketWriter(sessions=db_session_factory, config=config).apply([firing("rs-north-01", clock.now())])
    Planner(sessions=db_session_factory, config=config).run(now=clock.now())
    assert told(db_session_factory, "opened") == ["person:zhang/sms", OPS_GROUP], "zhang is on call this week"


def test_a_fault_that_comes_and_goes_sends_one_message(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    for _ in range(3):  # clear for a minute, back: shorter than the 5 min a "cleared" waits for
        writer.apply([firing("rs-north-01", clock.advance(minutes=1), state=AlertState.RESOLVED)])
        plan(planner, clock)
        writer.apply([firing("rs-north-01", clock.advance(minutes=1))])
        plan(planner, clock)
    assert [d.kind for d in deliveries(sessions)] == ["opened", "opened"], "occurrences only update the message"
    with sessions() as session:
        assert session.scalars(select(TicketRow.occurrences)).one() == 4


def test_an_unacknowledged_fault_is_repeated_with_what_happened_since(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    writer.apply([firing("rs-north-01", clock.advance(minutes=5), state=AlertState.RESOLVED)])
    writer.apply([firing("rs-north-01", clock.advance(minutes=1))])
    clock.advance(minutes=24)  # 30 min: level 3, the last; the repeat interval counts from here
    plan(planner, clock)
    assert told(sessions, "escalation") == [LIU_MAIL, CHEN_MAIL]
    clock.advance(minutes=29, seconds=59)
    plan(planner, clock)
    assert told(sessions, "repeat") == [], "30 min after the last message, not before"
    clock.advance(seconds=2)
    plan(planner, clock)
    assert told(sessions, "repeat") == [WANG_SMS, DISPATCH_GROUP, LIU_MAIL, CHEN_MAIL], "everyone told so far"
    repeat = deliveries(sessions, kind="repeat", recipient=DISPATCH_GROUP)[0]
    assert "2" in repeat.content["text"], "the repeat says how often it happened (2 occurrences)"


def test_cleared_tells_everyone_who_was_told_once_it_stays_clear_and_back_again_is_news(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    clock.advance(minutes=12)
    plan(planner, clock)
    writer.apply([firing("rs-north-01", clock.advance(minutes=1), state=AlertState.RESOLVED)])
    clock.advance(minutes=4, seconds=59)
    plan(planner, clock)
    assert told(sessions, "cleared") == [], "clear for less than clear_hold_min: not yet"
    clock.advance(seconds=2)
    plan(planner, clock)
    assert told(sessions, "cleared") == [WANG_SMS, DISPATCH_GROUP, LIU_MAIL], "everyone told so far"
    clock.advance(hours=2)
    plan(planner, clock)
    assert told(sessions, "repeat") == [] and told(sessions, "escalation") == [LIU_MAIL], "cleared: no more"
    writer.apply([firing("rs-north-01", clock.advance(minutes=1))])
    plan(planner, clock)
    assert told(sessions, "opened") == [WANG_SMS, DISPATCH_GROUP, WANG_SMS, DISPATCH_GROUP, LIU_MAIL], \
        "back after a 'cleared': everyone who was told hears it again"


def test_dispatch_tells_the_technician_and_stops_escalation(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    with sessions.begin() as session:
        transition_ticket(session, ticket_id(sessions), to=TicketState.DISPATCHED, actor="wang", at=clock.now(),
                          assignee="zhao")
    plan(planner, clock)
    assert told(sessions, "dispatched") == ["person:tech/sms"], "the assignee found by alias"
    clock.advance(hours=1)
    plan(planner, clock)
    assert told(sessions, "escalation") == []


def test_arrive_soon_reminds_the_technician_and_desk_and_a_breach_tells_the_manager(world, config):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])  # site north: ring2, 3 h to arrive
    with sessions.begin() as session:
        transition_ticket(session, ticket_id(sessions), to=TicketState.DISPATCHED, actor="wang", at=clock.now(),
                          assignee="赵师傅")
    plan(planner, clock)
    clock.advance(hours=2, minutes=29)
    plan(planner, clock)
    assert told(sessions, "arrive_soon") == [], "31 minutes before arrive-by is not yet"
    clock.advance(minutes=2)
    plan(planner, clock)
    plan(planner, clock)
    assert told(sessions, "arrive_soon") == ["person:tech/sms", WANG_SMS, DISPATCH_GROUP], "once, to both"
    clock.advance(minutes=30)
    Deadlines(sessions=sessions, config=config).check_arrivals(now=clock.now())
    plan(planner, clock)
    assert told(sessions, "breached") == [CHEN_MAIL], "the arrive-by passed: the manager"


def test_the_end_of_the_working_day_asks_to_resolve_or_commit_a_time(db_session_factory, config):
    clock = StepClock(OFFICE)  # Thursday 10:00 Shanghai; the office calendar ends at 17:30
    TicketWriter(sessions=db_session_factory, config=config).apply(
        [firing("rs-north-01", clock.now(), severity=Severity.WARNING)])
    planner = Planner(sessions=db_session_factory, config=config)
    planner.run(now=clock.now())
    assert deliveries(db_session_factory) == [], "a warning matches no route: nobody paged"
    clock.advance(hours=7, minutes=29)
    planner.run(now=clock.now())
    assert told(db_session_factory, "end_of_day") == []
    clock.advance(minutes=1)
    planner.run(now=clock.now())
    clock.advance(minutes=5)
    planner.run(now=clock.now())
    assert told(db_session_factory, "end_of_day") == ["person:zhang/sms", OPS_GROUP], "once, to the desk on call"


def test_a_change_rolled_back_leaves_no_outbox_entry(db_session_factory, config):
    with db_session_factory() as session:
        from sitewatch.storage.repository import audit

        audit(session, at=NIGHT, actor="t", entity="ticket", entity_id="1", action="opened", detail={})
        session.rollback()
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0
    with db_session_factory.begin() as session:
        audit(session, at=NIGHT, actor="t", entity="ticket", entity_id="1", action="opened", detail={})
    with db_session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 1, "committed with its change"


def test_two_planners_plan_each_change_once(db_session_factory, config):
    clock = StepClock(NIGHT)
    TicketWriter(sessions=db_session_factory, config=config).apply([firing("rs-north-01", clock.now())])
    first, second = (Planner(sessions=db_session_factory, config=config) for _ in range(2))
    first.run(now=clock.now())
    second.run(now=clock.now())
    clock.advance(minutes=11)
    second.run(now=clock.now())
    first.run(now=clock.now())
    assert told(db_session_factory, "opened") == [WANG_SMS, DISPATCH_GROUP]
    assert told(db_session_factory, "escalation") == [LIU_MAIL]


def test_processed_outbox_entries_are_dropped_after_a_day_and_their_audit_rows_kept(world):
    sessions, clock, writer, planner = world
    writer.apply([firing("rs-north-01", clock.now())])
    plan(planner, clock)
    with sessions() as session:
        entries = session.scalar(select(func.count()).select_from(OutboxRow))
        assert entries > 0
    clock.advance(hours=25)
    plan(planner, clock)
    with sessions() as session:
        from sitewatch.storage.tables import AuditRow

        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 0, "pruned a day after"
        assert session.scalar(select(func.count()).select_from(AuditRow)) >= entries, "the record itself stays"
