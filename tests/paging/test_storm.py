"""A site going dark: 200 stations silent in the same minute is three messages per
recipient — the first station's fault, the site's own ticket (the example config's
site-down rule), one summary of the rest — not 200; nothing is dropped."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sitewatch.paging.planner import Planner
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets.writer import TicketWriter
from tests.paging.world import NIGHT, StepClock, deliveries, firing, paging_config

STATIONS = 200
RECIPIENTS = ("person:wang/sms", "group:dispatch-hook")


@pytest.fixture(scope="module")
def config():
    return paging_config(stations=STATIONS)


def test_two_hundred_stations_going_dark_are_the_first_fault_the_site_and_one_summary(db_session_factory, config):
    clock = StepClock(NIGHT)
    writer = TicketWriter(sessions=db_session_factory, config=config)
    planner = Planner(sessions=db_session_factory, config=config)
    stations = [f"rs-north-x{i:03d}" for i in range(STATIONS)]
    for i in range(0, STATIONS, 50):  # the rules' batches over the minute the site goes dark
        at = clock.advance(seconds=10)
        writer.apply([firing(s, at, rule="no-data", channel="outlet_kpa") for s in stations[i:i + 50]])
        planner.run(now=clock.now())
    with db_session_factory() as session:
        alerts = session.scalars(select(AlertRow)).all()
        tickets = session.scalars(select(TicketRow)).all()
    assert len(alerts) == STATIONS, "every station's alert is recorded"
    site_tickets = [t.id for t in tickets if t.asset_id == "site:north"]
    assert len(site_tickets) == 1, "the example config's site-down rule opened the site's ticket on the way"
    station_tickets = len(tickets) - 1

    clock.advance(seconds=61)  # the storm window of the first waiting message ends
    counts = planner.run(now=clock.now())
    assert counts.summaries == len(RECIPIENTS)
    for recipient in RECIPIENTS:
        rows = deliveries(db_session_factory, recipient=recipient)
        sendable = [d for d in rows if d.state == "pending"]
        assert [(d.kind, d.ticket_id in site_tickets) for d in sendable] == [
            ("opened", False), ("opened", True), ("summary", False)], \
            f"{recipient}: the first fault, the site's ticket, one summary; got {[d.kind for d in sendable]}"
        summary = sendable[-1]
        folded = [d for d in rows if d.state == "folded"]
        assert len(folded) == station_tickets - 1 and {d.summary_id for d in folded} == {summary.id}, \
            "every other station's message is kept, marked as carried by the summary"
        assert len(summary.content["data"]["items"]) == station_tickets - 1
        assert str(station_tickets - 1 - 10) in summary.content["text"], "lists 10 and says how many more"

def test_a_window_with_one_waiting_message_sends_it_as_itself(db_session_factory, config):
    clock = StepClock(NIGHT)
    writer = TicketWriter(sessions=db_session_factory, config=config)
    planner = Planner(sessions=db_session_factory, config=config)
    writer.apply([firing("rs-north-x000", clock.now(), rule="no-data")])
    writer.apply([firing("rs-north-x001", clock.advance(seconds=5), rule="no-data")])
    planner.run(now=clock.now())
    clock.advance(seconds=61)
    assert planner.run(now=clock.now()).summaries == 0
    for recipient in RECIPIENTS:
        rows = deliveries(db_session_factory, recipient=recipient)
        assert [(d.kind, d.state) for d in rows] == [("opened", "pending"), ("opened", "pending")]
