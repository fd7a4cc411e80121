"""The ticket forms: what each step needs, what it records, and what it refuses."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sitewatch.config.load import load_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.tickets import ServiceType, TicketState
from sitewatch.domain.time import UTC
from sitewatch.storage.tables import AuditRow, TicketRow
from sitewatch.tickets.workflow import InvalidTransition, MissingDetails, Rating, Report, transition_ticket
from sitewatch.tickets.writer import TicketWriter
from tests.tickets.forms import FORMS

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def ticket_id(db_session_factory):
    config = load_config("config/sitewatch.example.toml")
    TicketWriter(sessions=db_session_factory, config=config).apply([AlertTransition(
        fingerprint="rs-north-01/outlet-low/outlet_kpa", asset_id="rs-north-01", rule_id="outlet-low",
        channel="outlet_kpa", state=AlertState.FIRING, at=T0, severity=Severity.CRITICAL, value=1.5, unit="kPa",
        summary="rs-north-01: outlet_kpa 1.500 kPa below 1.8 kPa for 10 s",
    )])
    with db_session_factory() as session:
        return session.scalars(select(TicketRow.id)).one()


def step(session, ticket_id, state, at=T0, **form):
    return transition_ticket(session, ticket_id, to=state, actor="li.wei", at=at, **form)


def test_each_step_asks_for_its_part_of_the_form_and_records_it(db_session_factory, ticket_id):
    with db_session_factory() as session:
        step(session, ticket_id, TicketState.DISPATCHED, assignee="Li Wei", service_type=ServiceType.C_WARRANTY)
        step(session, ticket_id, TicketState.ARRIVED, at=T0 + timedelta(hours=1))
        with pytest.raises(MissingDetails, match="cause and the work done"):
            step(session, ticket_id, TicketState.RESOLVED, report=Report(cause="", work_done="cleaned"))
        step(session, ticket_id, TicketState.RESOLVED, **FORMS[TicketState.RESOLVED])
        with pytest.raises(InvalidTransition, match="service type is fixed"):
            step(session, ticket_id, TicketState.SIGNED_OFF, service_type=ServiceType.A_PAID,
                 **FORMS[TicketState.SIGNED_OFF])
        with pytest.raises(MissingDetails, match="four-axis rating"):
            step(session, ticket_id, TicketState.SIGNED_OFF, customer_name="Wang Fang")
        with pytest.raises(MissingDetails, match="rating skill must be 1..4"):
            Rating(attitude=4, skill=5, arrival_time=3, follow_through=4)
        step(session, ticket_id, TicketState.SIGNED_OFF, **FORMS[TicketState.SIGNED_OFF])
        with pytest.raises(MissingDetails, match="follow-up needs a note"):
            step(session, ticket_id, TicketState.FOLLOWED_UP)
        step(session, ticket_id, TicketState.FOLLOWED_UP, **FORMS[TicketState.FOLLOWED_UP])
        ticket = step(session, ticket_id, TicketState.CLOSED)
        session.commit()
        assert (ticket.service_type, ticket.cause, ticket.work_hours, ticket.customer_name) == (
            "C", "diaphragm worn", 1.5, "Wang Fang")
        assert (ticket.rating_attitude, ticket.rating_skill, ticket.rating_arrival_time,
                ticket.rating_follow_through) == (4, 4, 3, 4)
        audit = session.scalars(select(AuditRow).where(AuditRow.entity == "ticket").order_by(AuditRow.id)).all()
        assert [a.action for a in audit] == ["opened", "to_dispatched", "to_arrived", "to_resolved", "to_signed_off",
                                             "to_followed_up", "to_closed"], "refused moves leave no trace"
        signed = audit[4].detail
        assert signed["rating"] == {"attitude": 4, "skill": 4, "arrival_time": 3, "follow_through": 4}
        assert audit[1].detail["service_type"] == {"old": "B", "new": "C"}
        with pytest.raises(InvalidTransition, match="it can go to: nothing"):
            step(session, ticket_id, TicketState.DISPATCHED, assignee="Li Wei")
