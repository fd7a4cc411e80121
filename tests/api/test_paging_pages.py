"""What people see of paging, over a real socket with logged-in users: a ticket's
"Notifications" (in English and Chinese, addresses masked), its "Acknowledge" button and the
"acknowledged by" it leaves, the way a message's link lands on the ticket after the login
form, and the admins' /admin/paging (counts, dead letters with "Send again", who is on
call) — refused to everyone else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from sitewatch.api.app import create_app
from sitewatch.auth.users import add_user
from sitewatch.storage.paging import DeliveryRow, PageRow
from tests.api.test_paging_api import EMAIL, NOW, PHONE, World, build_world
from tests.api.test_ticket_pages import visible
from tests.browser.english import config_strings, people, untranslated
from tests.logins import add_role_users, log_in, password_of
from tests.serving import served

ENGLISH, CHINESE = {"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}
ERRORS = ("HTTP 500: hook down", "550 <l***@example.com> mailbox unavailable", "HTTP 502")  # receivers' answers


@dataclass
class Pages:
    world: World
    base_url: str

    @asynccontextmanager
    async def user(self, username: str, headers: dict = ENGLISH) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
        """A browser logged in as ``username`` and its CSRF token, which (like a form) it
        sends only where a test puts it in the form."""
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10) as client:
            token = await log_in(client, username)
            del client.headers["X-CSRF-Token"]
            yield client, token


@asynccontextmanager
async def serving(tmp_path, database_url: str, *, paging: bool = True) -> AsyncIterator[Pages]:
    world = build_world(tmp_path, database_url, paging=paging)
    add_role_users(world.parts.sessions, at=NOW)
    with world.parts.sessions() as session:
        add_user(session, "city-admin", password_of("city-admin"), role="admin", customers=["citygas"], at=NOW,
                 actor="test")
        session.commit()
    try:
        async with served(create_app(world.parts)) as client:
            yield Pages(world, str(client.base_url))
    finally:
        world.parts.close()


@pytest.fixture
async def pages(tmp_path, database_url) -> AsyncIterator[Pages]:
    async with serving(tmp_path, database_url) as served_pages:
        yield served_pages


def section(html: str, heading: str) -> str:
    """The page from the heading ``heading`` to the next h2."""
    start = html.index(f">{heading}</h2>")
    end = html.find("<h2", start)
    return html[start:end if end > 0 else None]


def data_of(pages: Pages) -> set[str]:
    """What may stay Latin on a Chinese page: names and ids from the configuration, users,
    the receivers' own answers."""
    paging = pages.world.parts.config.paging
    ids = set(paging.channels) | set(paging.desks) if paging else set()
    return config_strings(pages.world.parts.config.model_dump(mode="json")) | people() | set(ERRORS) | ids


async def test_the_ticket_page_shows_what_was_sent_to_whom_in_english_and_chinese(pages):
    ids, url = pages.world.deliveries, f"/tickets/{pages.world.tickets['north']}"
    async with pages.user("dispatcher") as (client, _):
        english = (await client.get(url)).text
    async with pages.user("dispatcher", CHINESE) as (client, _):
        chinese = (await client.get(url)).text
    table = section(english, "Notifications")
    rows = re.findall(r'<tr id="delivery-(\d+)"', table)
    assert rows == [str(ids[n]) for n in ("sms", "hook", "mail", "folded", "summary")], "oldest first, summary too"
    sms = table[table.index(f'id="delivery-{ids["sms"]}"'):table.index(f'id="delivery-{ids["hook"]}"')]
    for shown in ("2026-12-03 09:51 UTC+8", "张伟", "138****0001", "SMS", "New fault", "Delivered"):
        assert shown in sms, f"{shown!r} not in the SMS row: {sms}"
    for shown in ("ops-hook", "Webhook", "Given up", "last error: HTTP 500: hook down", "attempts: 7",
                  "刘洋", "l***@example.com", "E-mail", "Not acknowledged: escalated, level 2",
                  "Still not acknowledged", "Sent in a summary", f"in summary #{ids['summary']}",
                  "Summary of a site&#39;s alerts"):
        assert shown in table, f"{shown!r} not in the notifications"
    assert PHONE not in english and EMAIL not in english, "a full address is on the page"

    zh = section(chinese, "通知")
    for shown in ("短信", "新故障", "已送达", "已放弃", "最近错误：HTTP 500: hook down", "电子邮件",
                  "无人确认，已升级（第 2 级）", "已并入汇总发送", f"见汇总 #{ids['summary']}", "站点告警汇总"):
        assert shown in zh, f"{shown!r} not in the Chinese notifications"
    assert untranslated(visible(chinese), data_of(pages)) == []


async def test_acknowledge_posts_from_the_ticket_page_and_then_says_who_did_and_when(pages):
    ticket = pages.world.tickets["north"]
    url = f"/tickets/{ticket}"
    async with pages.user("viewer") as (viewer, viewer_csrf):
        assert 'id="acknowledge"' not in (await viewer.get(url)).text, "a viewer is shown the button"
        refused = await viewer.post(f"{url}/acknowledge", data={"csrf_token": viewer_csrf})
        assert refused.status_code == 403 and "Your role may not do this." in refused.text
    async with pages.user("dispatcher") as (desk, csrf):
        page = (await desk.get(url)).text
        assert 'id="acknowledge"' in page and 'id="acknowledged"' not in page
        pages.world.parts.clock.now_value = NOW + timedelta(minutes=3)
        done = await desk.post(f"{url}/acknowledge", data={"csrf_token": csrf, "comment": "driving there"})
        assert (done.status_code, done.headers["location"]) == (303, url)
        page = (await desk.get(url)).text
    assert 'id="acknowledge"' not in page, "the button stays after everything was acknowledged"
    assert "Acknowledged by dispatcher at 2026-12-03 10:03 UTC+8" in page
    history = page[page.index("<h2>History</h2>"):]
    assert "<b>Acknowledged</b> · dispatcher" in history and "driving there" in history


async def test_a_page_paging_recorded_as_acknowledged_is_shown_and_needs_no_button(pages):
    ticket = pages.world.tickets["north"]
    with pages.world.parts.sessions() as session:
        session.add(PageRow(ticket_id=ticket, route="urgent", desk="operations", paged_at=NOW - timedelta(minutes=9),
                            last_told_at=NOW - timedelta(minutes=9), acknowledged_at=NOW - timedelta(minutes=2),
                            acknowledged_by="zhang"))
        session.commit()
    async with pages.user("technician") as (client, _):
        page = (await client.get(f"/tickets/{ticket}")).text
    assert "Acknowledged by zhang at 2026-12-03 09:58 UTC+8" in page
    assert 'id="acknowledge"' in page, "its alert still fires unacknowledged: the button stays for it"
    closed = pages.world.tickets["closed"]
    async with pages.user("dispatcher") as (client, csrf):
        page = (await client.get(f"/tickets/{closed}")).text
        refused = await client.post(f"/tickets/{closed}/acknowledge", data={"csrf_token": csrf})
    assert 'id="acknowledge"' not in page, "a closed ticket offers nothing to acknowledge"
    assert refused.status_code == 409 and "The ticket is closed" in refused.text


async def test_a_messages_link_lands_on_the_ticket_after_the_login_form(pages):
    ticket = pages.world.tickets["north"]
    url = f"/tickets/{ticket}"
    async with httpx.AsyncClient(base_url=pages.base_url, headers=ENGLISH | {"Accept": "text/html"},
                                 timeout=10) as client:
        first = await client.get(url)
        assert first.status_code == 303 and first.headers["location"] == f"/login?next=%2Ftickets%2F{ticket}"
        form = await client.get(first.headers["location"])
        assert f'name="next" value="{url}"' in form.text, "the login form keeps where to go"
        login = await client.post("/login", data={"username": "dispatcher", "password": password_of("dispatcher"),
                                                  "next": url})
        assert (login.status_code, login.headers["location"]) == (303, url)


async def test_the_admin_page_counts_lists_dead_letters_and_retries_one(pages):
    ids = pages.world.deliveries
    async with pages.user("admin") as (admin, csrf):
        page = (await admin.get("/admin/paging")).text
        counts = dict(re.findall(r'<tr id="count-(\w+)"[^>]*><td>[^<]+</td><td class="n">(\d+)</td>', page))
        assert counts == {"pending": "0", "waiting": "0", "folded": "1", "delivered": "2", "dead": "3"}
        dead = section(page, "Dead letters")
        assert re.findall(r'<tr id="delivery-(\d+)"', dead) == [str(ids[n]) for n in ("mail", "harbour", "hook")]
        for shown in ("刘洋", "l***@example.com", "550 &lt;l***@example.com&gt; mailbox unavailable", "attempts: 3",
                      f'action="/admin/paging/deliveries/{ids["hook"]}/retry"', 'href="/tickets/'):
            assert shown in dead, f"{shown!r} not among the dead letters"
        assert EMAIL not in page and PHONE not in page
        assert 'href="/admin/users"' in page and 'href="/admin/paging"' in (await admin.get("/admin/users")).text

        retried = await admin.post(f"/admin/paging/deliveries/{ids['hook']}/retry", data={"csrf_token": csrf})
        assert (retried.status_code, retried.headers["location"]) == (303, f"/admin/paging?retried={ids['hook']}")
        page = (await admin.get(retried.headers["location"])).text
        assert f"Message #{ids['hook']} will be sent again now." in page
        assert f'id="delivery-{ids["hook"]}"' not in section(page, "Dead letters")
        again = await admin.post(f"/admin/paging/deliveries/{ids['hook']}/retry", data={"csrf_token": csrf})
        assert again.status_code == 409 and "no longer a dead letter" in again.text
    with pages.world.parts.sessions() as session:
        assert session.get(DeliveryRow, ids["hook"]).state == "pending"


async def test_the_admin_page_shows_who_is_on_call_now_and_the_next_seven_days(pages):
    async with pages.user("admin") as (admin, _):
        english = (await admin.get("/admin/paging")).text
    async with pages.user("admin", CHINESE) as (admin, _):
        chinese = (await admin.get("/admin/paging")).text
    desk = english[english.index('id="desk-operations"'):]
    assert re.search(r"On call now</dt><dd[^>]*><b>张伟</b>", desk), "zhang has the first week of the rota"
    shifts = re.findall(r'<td class="when">([^<]+)</td><td class="when">([^<]+)</td><td[^>]*>([^<]+)</td>', desk)
    assert shifts == [("2026-12-03 10:00 UTC+8", "2026-12-07 08:30 UTC+8", "张伟"),
                      ("2026-12-07 08:30 UTC+8", "2026-12-10 10:00 UTC+8", "刘洋")], "handover Monday 08:30"
    assert "Duty lead</dt><dd>刘洋" in desk and "ops-hook" in desk
    assert "当前值班" in chinese and untranslated(visible(chinese), data_of(pages)) == []


async def test_the_admin_page_is_for_admins_only_and_shows_an_admin_only_their_customers(pages):
    for role in ("viewer", "dispatcher", "manager"):
        async with pages.user(role, ENGLISH | {"Accept": "text/html"}) as (client, csrf):
            assert (await client.get("/admin/paging")).status_code == 403, role
            retry = await client.post(f"/admin/paging/deliveries/{pages.world.deliveries['hook']}/retry",
                                      data={"csrf_token": csrf})
            assert retry.status_code == 403, role
    async with pages.user("city-admin") as (client, _):
        page = (await client.get("/admin/paging")).text
    assert f'id="delivery-{pages.world.deliveries["harbour"]}"' not in page and "HTTP 502" not in page
    assert 'id="count-dead" class="dead"><td>Given up</td><td class="n">2</td>' in page


async def test_without_paging_configured_the_admin_page_says_so(tmp_path, database_url):
    async with serving(tmp_path, database_url, paging=False) as unconfigured, unconfigured.user("admin") as (admin, _):
        page = (await admin.get("/admin/paging")).text
    assert 'id="not-configured"' in page and "Paging is not configured" in page
    assert "Nobody is on call: paging is not configured." in page
    assert 'id="delivery-' in page, "the messages sent before are still listed"
