"""Paging's JSON API over a real socket, on SQLite and PostgreSQL: what was sent about a
ticket (its messages and the summaries that carried them, addresses masked), acknowledging
a ticket, and the admins' dead letters and retry — each by the roles that may, refused to
the others, and 404 for another customer's ticket or message.

The messages are rows written as the planner and sender leave them (storage/paging.py);
what the planner decides is tested in tests/paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from sitewatch.api.app import create_app
from sitewatch.api.routes.paging import mask
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.tickets import TicketState
from sitewatch.domain.time import UTC
from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.tables import AlertRow, AuditRow, TicketRow
from sitewatch.tickets.writer import TicketWriter
from tests.serving import FixedClock, bearer, served, token_entry

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai
ADMIN, CITY_ADMIN, DISPATCHER, TECHNICIAN, VIEWER = "admin-t", "city-admin-t", "desk-t", "tech-t", "viewer-t"
PHONE, EMAIL = "13800000001", "liu@example.com"


def paging_section() -> dict:
    """Two people (SMS, e-mail), a group webhook, the operations desk with a weekly rota."""
    return {
        "base_url": "https://sitewatch.example",
        "people": {
            "zhang": {"name": "张伟", "phone": PHONE, "channels": ["sms"]},
            "liu": {"name": "刘洋", "email": EMAIL, "channels": ["mail"]},
        },
        "channels": {
            "mail": {"kind": "email", "host": "127.0.0.1", "port": 2525, "security": "none",
                     "sender": "sitewatch@example.com"},
            "sms": {"kind": "sms", "request": {"url": "http://127.0.0.1:9/sms",
                                               "form": {"to": "{phone}", "text": "{text}"}}},
            "ops-hook": {"kind": "webhook", "url": "http://127.0.0.1:9/ops"},
        },
        "desks": {"operations": {"rota": {"weekly": ["zhang", "liu"], "weekly_from": "2026-11-30"},
                                 "lead": "liu", "manager": "liu", "groups": ["ops-hook"]}},
    }


def firing(asset: str, rule: str, channel: str, at: datetime) -> AlertTransition:
    return AlertTransition(f"{asset}/{rule}/{channel}", asset, rule, channel, AlertState.FIRING, at, Severity.MAJOR,
                           1.0, "", f"{asset}: {rule}")


def delivery(key: str, **fields) -> DeliveryRow:
    """A message as the planner writes it (then moved on by the sender, as ``fields`` say)."""
    defaults = {"site_id": "north", "kind": "opened", "level": 1, "channel": "ops-hook", "recipient": "group:ops-hook",
                "person": None, "address": None, "locale": "zh_CN", "state": "delivered",
                "created_at": NOW - timedelta(minutes=9), "next_attempt_at": NOW - timedelta(minutes=9),
                "attempts": 1, "last_error": "", "mentions": [],
                "content": {"subject": f"subject of {key}", "text": "", "markdown": "", "short": "", "data": {}}}
    return DeliveryRow(key=key, **(defaults | fields))


@dataclass
class World:
    parts: Components
    tickets: dict[str, int]  # north (City Gas), harbour, closed (City Gas)
    deliveries: dict[str, int]

    def get(self, model, ident):
        with self.parts.sessions() as session:
            return session.get(model, ident)


def build_world(tmp_path, database_url: str, tokens: list[dict] | None = None, *,
                paging: bool = True) -> World:
    """City Gas (site north) and Harbour Gas (site harbour), a ticket each and a closed one,
    and the messages paging sent about them (``paging``: with the [paging] section)."""
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url}
    raw["customers"].append({"id": "harbour", "name": "Harbour Gas"})
    raw["sites"].append({"id": "harbour", "customer": "harbour", "name": "Harbour depot", "sla_zone": "ring1",
                         "time_zone": "Asia/Shanghai"})
    raw["assets"].append({"id": "ah-harbour-01", "site": "harbour", "kind": "alarm_host", "name": "Harbour alarm host",
                          "alarm_host": {"host_id": "ah-harbour-01", "zones": 8}})
    raw["api"] = {"tokens": tokens or []}
    if paging:
        raw["paging"] = paging_section()
    parts = build_components(config_from_dict(raw), clock=FixedClock(NOW))
    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    TicketWriter(sessions=parts.sessions, config=parts.config).apply([
        firing("ah-north-01", "mains-loss", "mains_ok", NOW - timedelta(minutes=10)),
        firing("ah-harbour-01", "tamper", "tamper", NOW - timedelta(minutes=10)),
        firing("rs-north-01", "outlet-high", "outlet_kpa", NOW - timedelta(minutes=10)),
    ])
    with parts.sessions() as session:
        by_asset = {t.asset_id: t for t in session.scalars(select(TicketRow))}
        north, harbour, closed = by_asset["ah-north-01"], by_asset["ah-harbour-01"], by_asset["rs-north-01"]
        closed.state, closed.closed_at = TicketState.CLOSED.value, NOW - timedelta(minutes=1)
        rows = {
            "sms": delivery("sms", ticket_id=north.id, channel="sms", recipient="person:zhang/sms", person="zhang",
                            address=PHONE, delivered_at=NOW - timedelta(minutes=9)),
            "hook": delivery("hook", ticket_id=north.id, state="dead", attempts=7, last_error="HTTP 500: hook down",
                             dead_at=NOW - timedelta(minutes=2)),
            "mail": delivery("mail", ticket_id=north.id, kind="escalation", level=2, channel="mail",
                             recipient="person:liu/mail", person="liu", address=EMAIL, state="dead", attempts=3,
                             last_error=f"550 <{EMAIL}> mailbox unavailable", dead_at=NOW - timedelta(minutes=1),
                             created_at=NOW - timedelta(minutes=5)),
            "harbour": delivery("harbour", ticket_id=harbour.id, site_id="harbour", state="dead", attempts=2,
                                last_error="HTTP 502", dead_at=NOW - timedelta(minutes=3)),
        }
        session.add_all(rows.values())
        session.flush()
        # A storm: the repeat to zhang waited and went out folded into a summary of the site.
        summary = delivery("summary", ticket_id=None, kind="summary", channel="sms", recipient="person:zhang/sms",
                           person="zhang", address=PHONE, created_at=NOW - timedelta(minutes=3),
                           delivered_at=NOW - timedelta(minutes=3))
        session.add(summary)
        session.flush()
        rows["summary"] = summary
        rows["folded"] = delivery("folded", ticket_id=north.id, kind="repeat", channel="sms",
                                  recipient="person:zhang/sms", person="zhang", address=PHONE, state="folded",
                                  summary_id=summary.id, attempts=0, created_at=NOW - timedelta(minutes=4))
        session.add(rows["folded"])
        session.commit()
        return World(parts, {"north": north.id, "harbour": harbour.id, "closed": closed.id},
                     {name: row.id for name, row in rows.items()})


TOKENS = [token_entry(ADMIN, name="admin"), token_entry(CITY_ADMIN, name="city-admin", customers=["citygas"]),
          token_entry(DISPATCHER, name="desk", role="dispatcher"),
          token_entry(TECHNICIAN, name="tech", role="technician"), token_entry(VIEWER, name="wall", role="viewer")]


@pytest.fixture
async def api(tmp_path, database_url) -> AsyncIterator[tuple[World, httpx.AsyncClient]]:
    world = build_world(tmp_path, database_url, TOKENS)
    try:
        async with served(create_app(world.parts), token=VIEWER) as client:
            yield world, client
    finally:
        world.parts.close()


def test_an_address_is_masked_to_its_first_and_last_characters():
    assert mask("13800000001") == "138****0001"
    assert mask("zhang@example.com") == "z***@example.com"
    assert mask(None) is None


async def test_a_tickets_notifications_say_what_went_to_whom_and_whether_it_arrived(api):
    world, client = api
    answer = await client.get(f"/api/tickets/{world.tickets['north']}/notifications")
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    ids = world.deliveries
    assert [d["id"] for d in listed] == [ids["sms"], ids["hook"], ids["mail"], ids["folded"], ids["summary"]], \
        "every message of the ticket and the summary that carried one, oldest first"
    by_id = {d["id"]: d for d in listed}
    sms = by_id[ids["sms"]]
    assert (sms["kind"], sms["channel"], sms["channel_kind"], sms["person"], sms["person_name"]) == (
        "opened", "sms", "sms", "zhang", "张伟")
    assert sms["address"] == "138****0001" and sms["state"] == "delivered" and sms["subject"] == "subject of sms"
    assert datetime.fromisoformat(sms["delivered_at"]) == NOW - timedelta(minutes=9), "aware UTC in ISO form"
    assert datetime.fromisoformat(sms["created_at"]).utcoffset() == timedelta(0)
    assert by_id[ids["folded"]]["summary_id"] == ids["summary"] and by_id[ids["folded"]]["state"] == "folded"
    assert by_id[ids["summary"]]["ticket_id"] is None and by_id[ids["summary"]]["kind"] == "summary"
    mail = by_id[ids["mail"]]
    assert (mail["level"], mail["channel_kind"], mail["address"], mail["attempts"]) == (2, "email", "l***@example.com", 3)
    assert mail["last_error"] == "550 <l***@example.com> mailbox unavailable", "the receiver's answer quoted it"
    hook = by_id[ids["hook"]]
    assert hook["recipient"] == "group:ops-hook" and hook["person"] is None and hook["address"] is None
    assert hook["channel_kind"] == "webhook"
    assert PHONE not in answer.text and EMAIL not in answer.text, "a full address was shown"


async def test_notifications_of_an_unknown_or_another_customers_ticket_are_not_found(api):
    world, client = api
    assert (await client.get("/api/tickets/999999/notifications")).status_code == 404
    city = {"headers": bearer(CITY_ADMIN)}
    assert (await client.get(f"/api/tickets/{world.tickets['harbour']}/notifications", **city)).status_code == 404
    assert (await client.get(f"/api/tickets/{world.tickets['north']}/notifications", **city)).status_code == 200


async def test_the_desk_acknowledges_a_ticket_and_a_viewer_may_not(api):
    world, client = api
    ticket = world.tickets["north"]
    url = f"/api/tickets/{ticket}/acknowledge"
    refused = await client.post(url, json={"comment": "mine"})
    assert refused.status_code == 403, f"a viewer acknowledged: {refused.status_code} {refused.text}"
    answer = await client.post(url, json={"comment": "on my way"}, headers=bearer(DISPATCHER))
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == ticket
    with world.parts.sessions() as session:
        alert = session.scalars(select(AlertRow).where(AlertRow.ticket_id == ticket)).one()
        assert (alert.acknowledged_by, alert.acknowledged_at, alert.ack_comment) == ("desk", NOW, "on my way")
        entry = session.scalars(select(AuditRow).where(AuditRow.entity == "ticket", AuditRow.entity_id == str(ticket),
                                                       AuditRow.action == "acknowledged")).one()
        assert entry.actor == "desk" and entry.detail["comment"] == "on my way"
    technician = await client.post(f"/api/tickets/{ticket}/acknowledge", json={}, headers=bearer(TECHNICIAN))
    assert technician.status_code == 200, "technicians acknowledge too (alerts.acknowledge)"


async def test_acknowledging_an_unknown_closed_or_another_customers_ticket_is_refused(api):
    world, client = api
    desk = {"headers": bearer(DISPATCHER)}
    assert (await client.post("/api/tickets/999999/acknowledge", json={}, **desk)).status_code == 404
    closed = await client.post(f"/api/tickets/{world.tickets['closed']}/acknowledge", json={}, **desk)
    assert closed.status_code == 409 and "closed" in closed.json()["detail"], closed.text
    other = await client.post(f"/api/tickets/{world.tickets['harbour']}/acknowledge", json={},
                              headers=bearer(CITY_ADMIN))
    assert other.status_code == 404, other.text


async def test_admins_list_dead_letters_in_their_scope_and_nobody_else_does(api):
    world, client = api
    ids = world.deliveries
    for token in (VIEWER, DISPATCHER, TECHNICIAN):
        answer = await client.get("/api/paging/deliveries", params={"state": "dead"}, headers=bearer(token))
        assert answer.status_code == 403, f"{token}: {answer.status_code}"
    dead = await client.get("/api/paging/deliveries", params={"state": "dead"}, headers=bearer(ADMIN))
    assert dead.status_code == 200, dead.text
    assert [d["id"] for d in dead.json()] == [ids["mail"], ids["harbour"], ids["hook"]], "newest first, dead only"
    city = await client.get("/api/paging/deliveries", params={"state": "dead"}, headers=bearer(CITY_ADMIN))
    assert [d["id"] for d in city.json()] == [ids["mail"], ids["hook"]], "Harbour's dead letter shown to City Gas"
    everything = await client.get("/api/paging/deliveries", headers=bearer(CITY_ADMIN))
    assert ids["summary"] in {d["id"] for d in everything.json()}, "a summary of a City Gas site is City Gas's"
    assert ids["harbour"] not in {d["id"] for d in everything.json()}
    assert (await client.get("/api/paging/deliveries", params={"state": "lost"},
                             headers=bearer(ADMIN))).status_code == 422
    assert PHONE not in everything.text and EMAIL not in everything.text


async def test_only_an_admin_retries_a_dead_letter_and_the_retry_is_audited(api):
    world, client = api
    hook = world.deliveries["hook"]
    url = f"/api/paging/deliveries/{hook}/retry"
    for token in (VIEWER, DISPATCHER, TECHNICIAN):
        assert (await client.post(url, headers=bearer(token))).status_code == 403, token
    assert world.get(DeliveryRow, hook).state == "dead", "a refused retry changed the message"
    world.parts.clock.now_value = NOW + timedelta(minutes=5)
    answer = await client.post(url, headers=bearer(ADMIN))
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "pending"
    row = world.get(DeliveryRow, hook)
    assert (row.state, row.next_attempt_at, row.dead_at) == ("pending", NOW + timedelta(minutes=5), None)
    assert row.attempts == 7, "the attempts made stay counted"
    with world.parts.sessions() as session:
        entry = session.scalars(select(AuditRow).where(AuditRow.entity == "delivery",
                                                       AuditRow.entity_id == str(hook))).one()
    assert (entry.action, entry.actor, entry.at) == ("retried", "admin", NOW + timedelta(minutes=5))
    assert entry.detail["previous_error"] == "HTTP 500: hook down" and entry.detail["attempts"] == 7
    again = await client.post(url, headers=bearer(ADMIN))
    assert again.status_code == 409, "a message on its way again is not dead any more"


async def test_retrying_a_message_that_is_not_dead_unknown_or_another_customers_is_refused(api):
    world, client = api
    ids = world.deliveries
    admin, city = bearer(ADMIN), bearer(CITY_ADMIN)
    delivered = await client.post(f"/api/paging/deliveries/{ids['sms']}/retry", headers=admin)
    assert delivered.status_code == 409 and world.get(DeliveryRow, ids["sms"]).state == "delivered"
    assert (await client.post("/api/paging/deliveries/999999/retry", headers=admin)).status_code == 404
    other = await client.post(f"/api/paging/deliveries/{ids['harbour']}/retry", headers=city)
    assert other.status_code == 404, "City Gas's admin retried Harbour's message"
    assert world.get(DeliveryRow, ids["harbour"]).state == "dead"
    own = await client.post(f"/api/paging/deliveries/{ids['mail']}/retry", headers=city)
    assert own.status_code == 200, own.text
