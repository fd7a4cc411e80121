"""The ticket pages over a real socket: the list with its filters and customer scope, and a
ticket taken through its life by the forms people post (CSRF, roles, refusals shown)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import unescape

import httpx
import pytest
from sqlalchemy import select

from sitewatch.api.app import create_app
from sitewatch.api.pages.ticket_views import TicketFilter, find_tickets
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Principal, Role
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.i18n.check import missing
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.tables import TicketRow
from sitewatch.tickets.deadlines import Deadlines
from sitewatch.tickets.writer import TicketWriter
from tests.browser.english import config_strings, people, untranslated
from tests.logins import add_role_users, log_in
from tests.serving import FixedClock, served

NOW = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # a Monday, 14:00 in Shanghai, 12:00 in Urumqi
ENGLISH = {"Accept-Language": "en"}


def firing(asset: str, rule: str, channel: str, severity: Severity, at: datetime, summary: str) -> AlertTransition:
    return AlertTransition(f"{asset}/{rule}/{channel}", asset, rule, channel, AlertState.FIRING, at, severity, 1.0,
                           "", summary)


@dataclass
class Served:
    parts: Components
    raw: dict  # the configuration as written
    base_url: str
    tickets: dict[str, int]  # rule → ticket id

    @asynccontextmanager
    async def user(self, username: str, *, csrf_header: bool = False,
                   headers: dict | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A browser logged in as ``username``, and its CSRF token. Like a browser posting a
        form, it sends the token only where a form carries it (unless ``csrf_header``)."""
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers or ENGLISH, timeout=10) as client:
            token = await log_in(client, username)
            if not csrf_header:
                del client.headers["X-CSRF-Token"]
            yield client, token

    def add_harbour_users(self) -> None:
        """One user per role scoped to the harbour customer (Argon2 hashing costs seconds:
        only the tests of scope make them)."""
        add_role_users(self.parts.sessions, at=NOW, customers=["harbour"], prefix="harbour-")

    def ticket(self, ticket_id: int) -> TicketRow:
        with self.parts.sessions() as session:
            return session.get(TicketRow, ticket_id)


@pytest.fixture
async def pages(tmp_path, database_url) -> AsyncIterator[Served]:
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "database_url": database_url}
    raw["customers"].append({"id": "harbour", "name": "Harbour Gas"})
    raw["sites"].append({"id": "harbour", "customer": "harbour", "name": "Harbour depot", "sla_zone": "ring1",
                         "time_zone": "Asia/Urumqi"})
    raw["assets"].append({"id": "ah-harbour-01", "site": "harbour", "kind": "alarm_host", "name": "Harbour alarm host",
                          "alarm_host": {"host_id": "ah-harbour-01", "zones": 8}})
    parts = build_components(config_from_dict(raw), clock=FixedClock(NOW))
    with parts.sessions() as session:
        sync_inventory(session, parts.config, actor="test", now=NOW)
        session.commit()
    TicketWriter(sessions=parts.sessions, config=parts.config).apply([
        firing("ah-north-01", "mains-loss", "mains_ok", Severity.MAJOR, NOW - timedelta(hours=2), "mains lost"),
        firing("ah-harbour-01", "tamper", "tamper", Severity.CRITICAL, NOW - timedelta(minutes=10), "cover opened"),
        firing("rs-north-01", "outlet-high", "outlet_kpa", Severity.CRITICAL, NOW - timedelta(minutes=1),
               "outlet_kpa 3.100 kPa above 2.9 kPa for 10 s"),
        firing("rs-north-01", "relief-venting", "relief_open", Severity.MAJOR, NOW - timedelta(seconds=30),
               "relief venting to atmosphere"),
    ])
    add_role_users(parts.sessions, at=NOW)
    with parts.sessions() as session:
        tickets = {t.rule_id: t.id for t in session.scalars(select(TicketRow))}
    assert set(tickets) == {"mains-loss", "tamper", "outlet-high"}, "the relief alert joined the outlet ticket"
    try:
        async with served(create_app(parts)) as client:
            yield Served(parts, raw, str(client.base_url), tickets)
    finally:
        parts.close()


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/tickets/(\d+)">\d+</a></td>', html)]


async def test_the_list_shows_what_each_scope_sees_in_site_time_and_filters_it(pages):
    ids = pages.tickets
    pages.add_harbour_users()
    async with pages.user("dispatcher") as (client, _):
        page = await client.get("/tickets")
        assert page.status_code == 200
        assert listed(page.text) == [ids["outlet-high"], ids["tamper"], ids["mains-loss"]], "newest first"
        assert '<a href="/asset/rs-north-01">North 01 regulator station</a>' in page.text
        assert "2026-05-04 13:59 UTC+8" in page.text, "opened on Shanghai's clock, with the zone"
        assert "2026-05-04 11:50 UTC+6" in page.text, "the harbour ticket on Urumqi's clock"
        assert "2 h 59 min left" in page.text, "the arrive-by countdown of a 3 h zone opened a minute ago"

        async def only(**query) -> list[int]:
            return listed((await client.get("/tickets", params=query)).text)

        assert await only(customer="harbour") == [ids["tamper"]]
        assert await only(site="north") == [ids["outlet-high"], ids["mains-loss"]]
        assert await only(severity="major") == [ids["mains-loss"]]
        assert await only(state="closed") == [] and await only(breached="1") == []
        Deadlines(sessions=pages.parts.sessions, config=pages.parts.config).check_arrivals(now=NOW + timedelta(hours=2))
        assert await only(breached="1") == [ids["tamper"], ids["mains-loss"]], "nobody came within 2 h / 3 h"
        assert "Arrival SLA missed" in (await client.get("/tickets", params={"breached": "1"})).text
    async with pages.user("harbour-viewer") as (client, _):
        assert listed((await client.get("/tickets")).text) == [ids["tamper"]]
        assert listed((await client.get("/tickets", params={"customer": "citygas"})).text) == []


async def test_the_list_comes_a_page_at_a_time(pages):
    everyone = Scope.of(Principal(name="test", role=Role.VIEWER), pages.parts.config)
    with pages.parts.sessions() as session:
        first, total = find_tickets(session, pages.parts.config, everyone, TicketFilter(state="all"), per_page=2)
        second, _ = find_tickets(session, pages.parts.config, everyone, TicketFilter(state="all", page=2), per_page=2)
    assert total == 3 and [t.id for t in first + second] == [pages.tickets[r] for r in ("outlet-high", "tamper", "mains-loss")]


async def test_a_ticket_goes_through_its_life_by_the_forms_of_desk_and_technician(pages):
    ticket_id = pages.tickets["outlet-high"]
    url, move = f"/tickets/{ticket_id}", f"/tickets/{ticket_id}/move"
    async with pages.user("dispatcher") as (desk, desk_csrf), pages.user("technician") as (tech, tech_csrf):
        page = (await desk.get(url)).text
        assert 'id="move-dispatched"' in page and 'id="move-arrived"' not in page and 'id="commit"' not in page
        assert '<option value="technician">Technician (technician)</option>' in page, "technicians to choose from"
        assert "relief venting to atmosphere" in page and "outlet_kpa 3.100 kPa above 2.9 kPa" in page, "symptoms"

        refused = await desk.post(move, data={"to": "dispatched", "assignee": "technician"})
        assert refused.status_code == 403 and pages.ticket(ticket_id).state == "registered", "no CSRF token: refused"
        done = await desk.post(move, data={"csrf_token": desk_csrf, "to": "dispatched", "assignee": "technician",
                                           "note": "take the spare regulator"})
        assert (done.status_code, done.headers["location"]) == (303, url)
        assert pages.ticket(ticket_id).assignee == "technician"

        page = (await tech.get(url)).text
        assert 'id="move-arrived"' in page and 'id="commit"' in page and 'id="move-dispatched"' not in page
        pages.parts.clock.now_value = NOW + timedelta(minutes=40)
        assert (await tech.post(move, data={"csrf_token": tech_csrf, "to": "arrived", "note": "on site"})).status_code == 303

        incomplete = await tech.post(move, data={"csrf_token": tech_csrf, "to": "resolved", "cause": " ",
                                                 "work_done": "replaced the pilot"})
        assert incomplete.status_code == 422
        assert "The report needs the cause and the work done." in incomplete.text
        assert ">replaced the pilot</textarea>" in incomplete.text, "what was typed is kept"
        assert pages.ticket(ticket_id).state == "arrived" and pages.ticket(ticket_id).work_done == "", "nothing changed"
        bad_hours = await tech.post(move, data={"csrf_token": tech_csrf, "to": "resolved", "cause": "pilot worn",
                                                "work_done": "replaced the pilot", "work_hours": "an hour"})
        assert bad_hours.status_code == 422 and "Work hours are a number of hours" in bad_hours.text
        resolved = await tech.post(move, data={
            "csrf_token": tech_csrf, "to": "resolved", "cause": "pilot diaphragm worn", "work_done": "replaced the pilot",
            "work_hours": "1,5", "parts_used": "pilot kit", "service_type": "C"})
        assert resolved.status_code == 303
        row = pages.ticket(ticket_id)
        assert (row.state, row.cause, row.work_hours, row.parts_used, row.service_type) == (
            "resolved", "pilot diaphragm worn", 1.5, "pilot kit", "C")

        unrated = await tech.post(move, data={"csrf_token": tech_csrf, "to": "signed_off", "customer_name": "Wang",
                                              "rating_attitude": "4"})
        assert unrated.status_code == 422 and "all four ratings" in unrated.text
        signed = await tech.post(move, data={"csrf_token": tech_csrf, "to": "signed_off", "customer_name": "Wang Fang",
                                             "rating_attitude": "4", "rating_skill": "3", "rating_arrival_time": "4",
                                             "rating_follow_through": "2"})
        assert signed.status_code == 303

        page = (await tech.get(url)).text
        assert 'id="move-followed_up"' not in page, "the desk follows up, not the technician"
        assert (await tech.post(move, data={"csrf_token": tech_csrf, "to": "followed_up", "note": "fine"})).status_code == 403
        assert "Skill</dt><dd>3 · Satisfied" in page and "Follow-through</dt><dd>2 · Fairly satisfied" in page

        assert (await desk.post(move, data={"csrf_token": desk_csrf, "to": "followed_up",
                                            "note": "customer happy, pressure steady"})).status_code == 303
        skipped = await desk.post(move, data={"csrf_token": desk_csrf, "to": "followed_up", "note": "again"})
        assert skipped.status_code == 409 and "“Followed up” now and cannot become “Followed up”" in skipped.text
        assert (await desk.post(move, data={"csrf_token": desk_csrf, "to": "closed"})).status_code == 303

        page = (await desk.get(url)).text
    assert 'class="card"' not in page, "a closed ticket has no next move"
    timeline = page[page.index("<h2>History</h2>"):]
    steps = re.findall(r"<b>([^<]+)</b> · ([\w ()]+)", timeline)
    automatic = "Sitewatch (automatic)"
    assert steps == [("Opened", automatic), ("Another symptom joined", automatic), ("Dispatched", "dispatcher"),
                     ("Arrived", "technician"), ("Resolved", "technician"), ("Signed off", "technician"),
                     ("Followed up", "dispatcher"), ("Closed", "dispatcher")]
    for shown in ("take the spare regulator", "Assignee: technician", "2026-05-04 14:40 UTC+8", "on site",
                  "Cause: pilot diaphragm worn", "Signed by Wang Fang", "customer happy, pressure steady"):
        assert shown in timeline, shown
    assert "arrived 2026-05-04 14:40 UTC+8" in page


async def test_a_committed_resolution_time_is_read_on_the_sites_clock(pages):
    ticket_id = pages.tickets["mains-loss"]
    commit = f"/tickets/{ticket_id}/commit"
    async with pages.user("technician") as (tech, csrf):
        no_reason = await tech.post(commit, data={"csrf_token": csrf, "resolve_by": "2026-05-05T10:00", "reason": ""})
        assert no_reason.status_code == 422 and "Give the reason it cannot be resolved sooner." in no_reason.text
        past = await tech.post(commit, data={"csrf_token": csrf, "resolve_by": "2026-05-04T13:00", "reason": "parts"})
        assert past.status_code == 422 and "must be in the future" in past.text
        done = await tech.post(commit, data={"csrf_token": csrf, "resolve_by": "2026-05-05T10:00",
                                             "reason": "the rectifier comes from the depot tomorrow"})
        assert done.status_code == 303
        assert pages.ticket(ticket_id).resolve_by == datetime(2026, 5, 5, 2, 0, tzinfo=UTC), "10:00 in Shanghai"
        page = (await tech.get(f"/tickets/{ticket_id}")).text
    assert "2026-05-05 10:00 UTC+8" in page and "the rectifier comes from the depot tomorrow" in page
    assert "Resolution time committed" in page


async def test_a_viewer_sees_no_form_and_may_not_post(pages):
    ticket_id = pages.tickets["outlet-high"]
    async with pages.user("viewer") as (viewer, csrf):
        page = await viewer.get(f"/tickets/{ticket_id}")
        assert page.status_code == 200 and "<form class=\"card\"" not in page.text
        move = await viewer.post(f"/tickets/{ticket_id}/move", data={"csrf_token": csrf, "to": "dispatched",
                                                                     "assignee": "viewer"})
        commit = await viewer.post(f"/tickets/{ticket_id}/commit", data={"csrf_token": csrf, "reason": "x",
                                                                         "resolve_by": "2026-05-05T10:00"})
    assert move.status_code == commit.status_code == 403 and "Your role may not do this." in move.text
    assert pages.ticket(ticket_id).state == "registered" and pages.ticket(ticket_id).resolve_reason == ""


async def test_another_customers_ticket_is_not_found_for_page_and_posts(pages):
    theirs, own = pages.tickets["outlet-high"], pages.tickets["tamper"]
    pages.add_harbour_users()
    async with pages.user("harbour-dispatcher") as (client, csrf):
        assert (await client.get(f"/tickets/{own}")).status_code == 200
        answers = [await client.get(f"/tickets/{theirs}"),
                   await client.post(f"/tickets/{theirs}/move", data={"csrf_token": csrf, "to": "dispatched",
                                                                       "assignee": "harbour-technician"}),
                   await client.post(f"/tickets/{theirs}/commit", data={"csrf_token": csrf, "reason": "x",
                                                                         "resolve_by": "2026-05-05T10:00"})]
        for answer in answers:  # the same answer as for a ticket that does not exist, nothing of it told
            assert answer.status_code == 404 and "outlet_kpa" not in answer.text
        page = (await client.get(f"/tickets/{own}")).text
    assert 'value="harbour-technician"' in page and 'value="technician"' in page, "technicians who see the customer"
    async with pages.user("dispatcher") as (client, _):
        unknown = await client.get("/tickets/999999")
        page = (await client.get(f"/tickets/{theirs}")).text
    assert unknown.status_code == 404 and "Ticket #999999 not found" in unknown.text
    assert 'value="technician"' in page and 'value="harbour-technician"' not in page, \
        "no technician scoped to another customer is offered"
    assert pages.ticket(theirs).state == "registered"


def visible(html: str) -> str:
    """What a person reads on a page: its text, and the words in placeholders and tooltips."""
    html = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    hints = re.findall(r'(?:placeholder|title|aria-label)="([^"]*)"', html)
    return unescape(re.sub(r"<[^>]+>", " ", html) + "\n" + "\n".join(hints))


async def test_the_pages_speak_chinese_at_every_step(pages):
    """An admin (every form shown) takes a ticket through its life in Chinese: no English is
    left on the list or on the ticket at any step, but for data (names, what was typed)."""
    ticket_id = pages.tickets["outlet-high"]
    url, move = f"/tickets/{ticket_id}", f"/tickets/{ticket_id}/move"
    typed = {"note": "好", "cause": "指挥器膜片老化", "work_done": "更换指挥器", "work_hours": "2",
             "parts_used": "指挥器组件", "customer_name": "王芳"}
    rating = {f"rating_{axis}": "4" for axis in ("attitude", "skill", "arrival_time", "follow_through")}
    steps = [{"to": "dispatched", "assignee": "technician"}, {"to": "arrived"}, {"to": "resolved", "service_type": "A"},
             {"to": "signed_off", **rating}, {"to": "followed_up"}, {"to": "closed"}]
    data = config_strings(pages.raw) | people() | {"mains lost", "cover opened", "relief venting to atmosphere",
                                                   "outlet_kpa 3.100 kPa above 2.9 kPa for 10 s"}
    async with pages.user("admin", headers={"Accept-Language": "zh-CN"}) as (admin, csrf):
        listing = (await admin.get("/tickets")).text
        first = (await admin.get(url)).text
        early = await admin.post(move, data={"csrf_token": csrf, "to": "arrived"})
        seen = {"list": listing, "registered": first, "refused": early.text}
        for step in steps:
            assert (await admin.post(move, data={"csrf_token": csrf, **typed, **step})).status_code == 303, step
            seen[step["to"]] = (await admin.get(url)).text
        seen["closed list"] = (await admin.get("/tickets", params={"state": "all"})).text
    assert early.status_code == 409 and "不能变为“已到场”" in early.text, "a refusal in Chinese"
    for zh in ("工单", "状态", "已登记", "剩余", "严重"):
        assert zh in listing, zh
    for zh in ("到达时限", "故障现象", "处理记录", "承诺修复时间", "派工", "服务态度", "非常满意", "已回访"):
        assert zh in first + seen["resolved"] + seen["closed"], zh
    left = {name: untranslated(visible(html), data) for name, html in seen.items()}
    assert not any(left.values()), {name: words for name, words in left.items() if words}


def test_every_ticket_page_text_has_a_chinese_translation():
    ours = ("api/pages/ticket", "api/templates/ticket")
    assert {m: where for m, where in missing().items() if where.startswith(ours)} == {}
