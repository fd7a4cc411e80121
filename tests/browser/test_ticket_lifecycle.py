"""A ticket's life on its page, /tickets/{id}: the dispatcher sends a technician, who takes it
through arrival, resolution and the customer's sign-off on the page's forms (on the
station's phone, in Chinese). Each form's fields are named after the API's."""

from __future__ import annotations

import json

from playwright.async_api import Page

from tests.browser.browser import Browsers, error_of, get_from_page, shoot
from tests.browser.scene import Scene

# Typed in by the technician and the customer; shown back on the ticket as data.
REPORT = {"cause": "Door contact loose", "work_done": "Contact fastened, door alarm tested",
          "work_hours": "1.5", "parts_used": "one contact screw"}
CUSTOMER = "Wang Wu"
RATING = {"rating_attitude": "4", "rating_skill": "4", "rating_arrival_time": "3", "rating_follow_through": "4"}
TYPED = (*REPORT.values(), CUSTOMER)


async def move(page: Page, to: str, fields: dict[str, str]) -> None:
    """Fill in and send the form that moves the ticket ``to`` a state; it must be saved."""
    form = page.locator(f'form:has([name="to"][value="{to}"])')
    forms = await page.locator("form").evaluate_all("fs => fs.map(f => f.id || f.action)")
    assert await form.count() == 1, f"{page.url} has no form moving the ticket to {to!r}; its forms: {forms}"
    for name, value in fields.items():
        field = form.locator(f'[name="{name}"]')
        assert await field.count(), f"the {to!r} form has no field {name!r}"
        kind = await field.first.evaluate("e => e.tagName.toLowerCase() === 'select' ? 'select' : e.type")
        if kind == "select":
            await field.select_option(value)
        elif kind == "radio":
            await form.locator(f'[name="{name}"][value="{value}"]').check()
        else:
            await field.fill(value)
    async with page.expect_navigation():
        await form.locator('[type="submit"]').click()
    assert not await error_of(page), f"moving to {to!r} was not saved: {await error_of(page)}"


async def ticket_of(page: Page, ticket_id: int) -> dict:
    answer = await get_from_page(page, f"/api/tickets/{ticket_id}")
    assert answer["status"] == 200, answer
    return json.loads(answer["body"])


async def test_a_technician_takes_a_ticket_through_arrival_resolution_and_sign_off(browsers: Browsers, scene: Scene):
    url = f"/tickets/{scene.work_ticket}"
    desk = await browsers.logged_in("dispatcher", "en")
    await desk.goto(url)
    await move(desk, "dispatched", {"assignee": "technician", "note": "Please look at the door"})
    assert (await ticket_of(desk, scene.work_ticket))["state"] == "dispatched"

    phone = await browsers.logged_in("technician", "zh-CN")
    await phone.set_viewport_size({"width": 390, "height": 844})
    await phone.goto(url)
    await shoot(phone, "zh-CN", "ticket-dispatched-on-a-phone")
    await move(phone, "arrived", {"note": "On site"})
    assert (await ticket_of(phone, scene.work_ticket))["state"] == "arrived"
    await move(phone, "resolved", REPORT)
    await move(phone, "signed_off", {"customer_name": CUSTOMER, **RATING})
    ticket = await ticket_of(phone, scene.work_ticket)
    assert ticket["state"] == "signed_off"
    assert {k: ticket[k] for k in ("cause", "work_done", "parts_used", "customer_name")} == {
        "cause": REPORT["cause"], "work_done": REPORT["work_done"], "parts_used": REPORT["parts_used"],
        "customer_name": CUSTOMER}
    assert ticket["work_hours"] == 1.5
    assert {axis: str(ticket[axis]) for axis in RATING} == RATING
    history = [(h["action"], h["actor"]) for h in ticket["history"]]
    for state, actor in (("dispatched", "dispatcher"), ("arrived", "technician"), ("resolved", "technician"),
                         ("signed_off", "technician")):
        assert (f"to_{state}", actor) in history, (state, actor, history)
    page_text = await phone.locator("main").inner_text()
    assert REPORT["cause"] in page_text and CUSTOMER in page_text, "the page does not show the report it took"
    await shoot(phone, "zh-CN", "ticket-signed-off-on-a-phone")
