"""The control room live: a fault injected into a simulated station shows on a control room
already open — without a reload — within 5 s of its alert firing, and the alarm sounds;
the dispatcher acknowledges it from the page and the sound stops.

The page's side of the contract (api/pages/control_room.py): each firing alert is an
element with ``data-alert-id`` (in a group naming its asset), holding a
``data-action="acknowledge"`` button for those who may; ``document.body.dataset.sounding`` is "true" while the alarm
sounds, through an <audio> element that plays.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime

import httpx
from playwright.async_api import Page

from tests.browser.browser import Browsers, get_from_page, shoot
from tests.browser.instance import ALARM_STATION, Running
from tests.browser.scene import acknowledge_all

LIVE_BUDGET_S = 5.0
NAME = f"Regulator station {ALARM_STATION[3:]}"  # as the configuration names it
# An alert of the station: its own text names it, or the group (fault) it is shown in does.
ALERT_OF_STATION = """([id, name]) => [...document.querySelectorAll("[data-alert-id]")].find(e => {
    const group = e.closest("article, [data-key]") || e;
    return group.textContent.includes(id) || group.textContent.includes(name)
        || group.querySelector(`a[href="/asset/${id}"]`);
  })?.dataset.alertId || null"""
SOUNDING = """() => document.body.dataset.sounding === "true"
    && [...document.querySelectorAll("audio")].some(a => !a.paused)"""
SILENT = """() => document.body.dataset.sounding !== "true"
    && [...document.querySelectorAll("audio")].every(a => a.paused)"""


async def test_a_fault_shows_live_sounds_the_alarm_and_the_dispatcher_silences_it(browsers: Browsers,
                                                                                  running: Running):
    api = httpx.AsyncClient(base_url=running.url, headers={"Authorization": f"Bearer {running.token}"}, timeout=10)
    control = httpx.AsyncClient(base_url=running.stations_control, timeout=10)
    async with api, control:
        await acknowledge_all(api)  # whatever else fired meanwhile must not be what sounds
        page = await browsers.logged_in("dispatcher", "en")
        assert page.url == f"{running.url}/", f"the dispatcher did not land on the control room: {page.url}"
        marker = secrets.token_hex(8)
        await page.evaluate("marker => { window.sitewatchTestMarker = marker; }", marker)
        assert await page.evaluate(ALERT_OF_STATION, [ALARM_STATION, NAME]) is None, "the alert is there already"
        assert await page.evaluate(SILENT), "the alarm sounds before anything happened"

        (await control.post(f"/stations/{ALARM_STATION}/faults",
                            json={"fault": "regulator_failure"})).raise_for_status()
        try:
            shown = await page.wait_for_function(ALERT_OF_STATION, arg=[ALARM_STATION, NAME], timeout=30_000)
            seen_at = time.time()
            alert_id = int(await shown.json_value())
            alert = await alert_row(page, alert_id)
            fired_at = datetime.fromisoformat(alert["started_at"]).timestamp()
            assert seen_at - fired_at <= LIVE_BUDGET_S, (
                f"alert {alert_id} ({alert['summary']}) fired at {alert['started_at']}, on the page "
                f"{seen_at - fired_at:.1f} s later (budget {LIVE_BUDGET_S} s)")
            assert await page.evaluate("() => window.sitewatchTestMarker") == marker, "the page was reloaded"
            await page.wait_for_function(SOUNDING, timeout=int(LIVE_BUDGET_S * 1000))
            await shoot(page, "en", "control-room-alarm")

            page.on("dialog", lambda dialog: dialog.accept())  # a confirmation, if the page asks
            button = page.locator(f'[data-alert-id="{alert_id}"][data-action="acknowledge"], '
                                  f'[data-alert-id="{alert_id}"] [data-action="acknowledge"]').first
            await button.click()
            await page.wait_for_function(SILENT, timeout=int(LIVE_BUDGET_S * 1000))
            assert (await alert_row(page, alert_id))["acknowledged_by"] == "dispatcher"
            assert await page.evaluate("() => window.sitewatchTestMarker") == marker, "the page was reloaded"
            await shoot(page, "en", "control-room-acknowledged")
        finally:
            (await control.delete(f"/stations/{ALARM_STATION}/faults")).raise_for_status()
            await acknowledge_all(api)


async def alert_row(page: Page, alert_id: int) -> dict:
    """The alert as the API tells it, read by the page's own session."""
    answer = await get_from_page(page, f"/api/alerts?asset_id={ALARM_STATION}")
    assert answer["status"] == 200, answer
    [alert] = [a for a in json.loads(answer["body"]) if a["id"] == alert_id] or [None]
    assert alert is not None, f"alert {alert_id} shown on the page is not among {ALARM_STATION}'s alerts"
    return alert
