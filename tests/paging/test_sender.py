"""The sender against a real HTTP receiver (group webhooks and the SMS gateway on one port),
with the planner and ticket writer as the service runs them and the clock injected.

The receiver is down for 60 s in the middle of a fault: every message is delivered once
when it is back, none lost, none twice, in order per ticket and recipient."""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

from sitewatch.config.load import config_from_dict
from sitewatch.domain.alerts import Severity
from sitewatch.paging.channels.build import build_channels, http_client
from sitewatch.paging.dead_letters import retry
from sitewatch.paging.planner import Planner
from sitewatch.paging.sender import Sender
from sitewatch.storage.paging import DeliveryRow
from sitewatch.tickets.writer import TicketWriter
from tests.paging.channels.receivers import HttpReceiver, serving
from tests.paging.world import EXAMPLE, NIGHT, StepClock, deliveries, firing, paging_raw
from tests.servers import free_port


def sender_config(port: int, **options):
    """Everything goes to the one receiver: group webhooks at /ops and /dispatch, and every
    person by SMS through the gateway at /sms (the message key in the form, as ``id``)."""
    raw = tomllib.loads(EXAMPLE.read_text())
    paging = paging_raw(f"http://127.0.0.1:{port}", **options)
    paging["channels"]["sms"]["request"] = {"url": f"http://127.0.0.1:{port}/sms",
                                            "form": {"to": "{phone}", "text": "{text}", "id": "{id}"}}
    for person in paging["people"].values():
        person["channels"] = ["sms"]
        person.setdefault("phone", "13900000000")
    paging["channels"]["sms"]["timeout_s"] = 2
    raw["paging"] = paging
    return config_from_dict(raw)


def key_of(request) -> str:
    return request.headers.get("x-sitewatch-delivery") or request.form()["id"]


async def settle(planner: Planner, sender: Sender, clock: StepClock) -> None:
    """One round as the service's loops do it: plan, send, wait for the answers."""
    planner.run(now=clock.now())
    await sender.round()
    await sender.drain()


@pytest.fixture
async def receiver():
    port = free_port()
    async with serving(HttpReceiver(), port=port) as running:
        yield running


async def test_a_receiver_down_for_a_minute_loses_nothing_and_duplicates_nothing(db_session_factory):
    port = free_port()
    config = sender_config(port, storm_burst=10)
    clock = StepClock(NIGHT)
    writer = TicketWriter(sessions=db_session_factory, config=config)
    planner = Planner(sessions=db_session_factory, config=config)
    http = http_client()
    channels = build_channels(config.paging, secrets=lambda name: None, http=http, clock=clock)
    sender = Sender(sessions=db_session_factory, settings=config.paging, channels=channels, clock=clock)
    got = HttpReceiver()
    try:
        async with serving(got, port=port):
            writer.apply([firing("rs-north-01", clock.now(), severity=Severity.MAJOR)])
            await settle(planner, sender, clock)
            assert len(got.requests) == 2, "the first fault reaches the on-call person and the group at once"
        # The receiver is down: the fault gets worse, a second fault opens, time passes.
        failures_before = sender.failed_attempts
        writer.apply([firing("rs-north-01", clock.advance(seconds=5), severity=Severity.CRITICAL)])  # raised
        writer.apply([firing("rs-north-01", clock.advance(seconds=5), rule="gas", channel="gas_lel_pct")])  # 2nd ticket
        for _ in range(12):
            clock.advance(seconds=5)
            await settle(planner, sender, clock)
        assert sender.failed_attempts > failures_before, "sends were tried (and refused) while it was down"
        with db_session_factory() as session:
            waiting = session.scalars(select(DeliveryRow).where(DeliveryRow.state == "pending")).all()
            assert waiting and all(d.last_error for d in waiting if d.attempts), "kept, with the reason"
        async with serving(got, port=port):
            for _ in range(20):
                clock.advance(seconds=10)
                await settle(planner, sender, clock)
                if all(d.state == "delivered" for d in deliveries(db_session_factory)):
                    break
        await sender.aclose()
    finally:
        for channel in channels.values():
            await channel.aclose()
        await http.aclose()

    planned = deliveries(db_session_factory)
    assert all(d.state == "delivered" for d in planned), [(d.kind, d.recipient, d.state) for d in planned]
    keys = [key_of(r) for r in got.requests]
    assert Counter(keys).most_common(1)[0][1] == 1, "no message arrived twice"
    assert sorted(keys) == sorted(d.key for d in planned), "every planned message arrived, none lost"
    arrival = {key: i for i, key in enumerate(keys)}
    per_thread = defaultdict(list)
    for d in planned:
        per_thread[(d.ticket_id, d.recipient)].append(d)
    for (ticket, recipient), rows in per_thread.items():
        order = [arrival[d.key] for d in rows]
        assert order == sorted(order), f"ticket {ticket} to {recipient}: arrived out of order {[d.kind for d in rows]}"
    assert any(len(rows) > 1 for rows in per_thread.values()), "the test has a ticket with several messages"


async def test_a_refused_message_is_a_dead_letter_at_once_and_a_slow_one_after_the_give_up_time(
        db_session_factory, receiver):
    config = sender_config(int(receiver.url.rsplit(":", 1)[1]))
    clock = StepClock(NIGHT)
    http = http_client()
    channels = build_channels(config.paging, secrets=lambda name: None, http=http, clock=clock)
    sender = Sender(sessions=db_session_factory, settings=config.paging, channels=channels, clock=clock)
    planner = Planner(sessions=db_session_factory, config=config)
    try:
        receiver.answer = lambda request: (400, {"error": "no such number"}) if request.path == "/sms" else (503, {})
        TicketWriter(sessions=db_session_factory, config=config).apply([firing("rs-north-01", clock.now())])
        await settle(planner, sender, clock)
        sms = deliveries(db_session_factory, channel="sms")[0]
        assert sms.state == "dead" and "400" in sms.last_error, "a 400 will not get better: dead letter at once"
        hook = deliveries(db_session_factory, channel="dispatch-hook")[0]
        assert hook.state == "pending" and hook.attempts == 1 and "503" in hook.last_error
        next_try = hook.next_attempt_at - clock.now()
        assert timedelta(seconds=5) <= next_try <= timedelta(seconds=5.5), f"first back-off is retry_first_s: {next_try}"
        clock.advance(minutes=31)  # give_up_after_min = 30
        await settle(planner, sender, clock)
        hook = deliveries(db_session_factory, channel="dispatch-hook")[0]
        assert hook.state == "dead" and hook.attempts == 2
        with db_session_factory.begin() as session:  # an admin sends it again (/admin/paging)
            retry(session, hook.id, actor="admin", at=clock.now())
        await settle(planner, sender, clock)
        hook = deliveries(db_session_factory, channel="dispatch-hook")[0]
        assert hook.state == "pending" and hook.attempts == 3, "a retried dead letter gets the full time again"
    finally:
        for channel in channels.values():
            await channel.aclose()
        await http.aclose()
