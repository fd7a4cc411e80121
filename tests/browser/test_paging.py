"""A message's link, as the on-call dispatcher follows it: a fault pages people, the link
opens the ticket, the login form comes first and lands back on the ticket, "Acknowledge"
is clicked there and the page says who acknowledged it and when — in Chinese, with no
English left on the page.

The fault is real (video loss injected into the simulated camera); the message that
carried the link is written as the sender leaves a delivered one (the instance has no
[paging] section, so nothing is sent for real: tests/paging does that)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.tables import AlertRow
from tests.browser.browser import (
    Browsers,
    get_from_page,
    shoot,
    submit_login,
    visible_text,
)
from tests.browser.english import config_strings, people, strings_in, untranslated
from tests.browser.instance import Running
from tests.browser.scene import TYPED, Scene, acknowledge_all
from tests.sitewatch.service import wait_until

FAULT = "video_loss"
COMMENT = "马上到现场"
# The message's recipient and channel as the delivery names them (no [paging] here to name them otherwise).
PERSON, CHANNEL = "zhang", "sms"


def deliver(running: Running, ticket: dict) -> None:
    """The SMS that carried the ticket's link to the person on call, delivered."""
    sent = datetime.fromisoformat(ticket["opened_at"])
    with running.parts.sessions() as session:
        session.add(DeliveryRow(
            key=f"browser/t{ticket['id']}/opened/person:{PERSON}/{CHANNEL}", ticket_id=ticket["id"],
            site_id=ticket["site_id"], kind="opened", channel=CHANNEL, recipient=f"person:{PERSON}/{CHANNEL}",
            person=PERSON, address="13800000001", locale="zh_CN", content={"subject": ""}, state="delivered",
            created_at=sent, next_attempt_at=sent, attempts=1, delivered_at=sent + timedelta(seconds=1)))
        session.commit()


async def test_a_messages_link_leads_through_the_login_to_the_ticket_where_it_is_acknowledged(
        browsers: Browsers, running: Running, scene: Scene):
    api = httpx.AsyncClient(base_url=running.url, headers={"Authorization": f"Bearer {running.token}"}, timeout=10)
    control = httpx.AsyncClient(base_url=running.cameras_control, timeout=10)
    camera = running.camera_id
    async with api, control:
        (await control.post(f"/cameras/{camera}/faults", json={"fault": FAULT})).raise_for_status()
        try:
            async def paged() -> tuple[dict, list[int]] | None:
                """The camera's video-loss ticket and its alerts nobody has acknowledged yet."""
                answer = await api.get("/api/tickets", params={"open_only": True, "asset_id": camera})
                tickets = [t for t in answer.json() if t["rule_id"] == "video-loss"]
                if not tickets:
                    return None
                alerts = (await api.get("/api/alerts", params={"asset_id": camera, "state": "firing"})).json()
                waiting = [a["id"] for a in alerts if a["ticket_id"] == tickets[0]["id"] and a["acknowledged_at"] is None]
                return (tickets[0], waiting) if waiting else None

            ticket, waiting = await wait_until(paged, timeout_s=30, every_s=0.2)
            deliver(running, ticket)
            link = f"/tickets/{ticket['id']}"

            page = await browsers.page("zh-CN")
            await page.goto(link)
            assert "/login?next=%2Ftickets%2F" in page.url, f"the link did not ask for a login first: {page.url}"
            response = await submit_login(page, "dispatcher")
            assert response is not None and response.status == 200, f"{response and response.status}"
            assert page.url == f"{running.url}{link}", f"the login did not land on the ticket: {page.url}"

            form = page.locator("form#acknowledge")
            await form.locator('textarea[name="comment"]').fill(COMMENT)
            async with page.expect_navigation():
                await form.locator('button[type="submit"]').click()
            assert page.url == f"{running.url}{link}", f"after acknowledging the page is {page.url}"
            acknowledged = (await page.locator("#acknowledged").inner_text()).strip()
            assert "dispatcher" in acknowledged and "确认" in acknowledged, acknowledged
            assert COMMENT in await page.locator("ol.timeline").inner_text(), "the comment is in the history"
            notifications = await page.locator("#notification-list").inner_text()
            assert "已送达" in notifications and "138****0001" in notifications, notifications
            await shoot(page, "zh-CN", "ticket-acknowledged-from-a-message")

            with running.parts.sessions() as session:
                by = {a.id: a.acknowledged_by for a in session.scalars(select(AlertRow).where(AlertRow.id.in_(waiting)))}
            assert by == dict.fromkeys(waiting, "dispatcher"), f"the alerts the message was about: {by}"

            assets = await get_from_page(page, "/api/assets")
            reported = set().union(*(strings_in(a["details"]) | strings_in(a["reported"])
                                     for a in json.loads(assets["body"])))
            data = config_strings(running.raw) | reported | people() | set(TYPED) | {PERSON, CHANNEL}
            assert untranslated(await visible_text(page), data) == [], "English left on the Chinese ticket page"
        finally:
            (await control.delete(f"/cameras/{camera}/faults/{FAULT}")).raise_for_status()
            await acknowledge_all(api)  # what fired meanwhile (the picture check) must not sound later
