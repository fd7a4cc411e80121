"""Every page, in both languages, opened by an admin (who may see them all) and kept as a
screenshot in var/screenshots/<lang>/: each must answer 200, in the visitor's language,
and draw something."""

from __future__ import annotations

import pytest

from tests.browser.browser import LANGUAGES, Browsers, shoot
from tests.browser.instance import ALARM_STATION, Running
from tests.browser.scene import Scene


def pages(running: Running, scene: Scene) -> dict[str, str]:
    """Screenshot name → page."""
    return {
        "control-room": "/",
        "asset-station": f"/asset/{ALARM_STATION}",
        "asset-camera": f"/asset/{running.camera_id}",
        "tickets": "/tickets",
        "ticket": f"/tickets/{scene.open_ticket}",
        "review": "/review",
        "review-day": f"/review/north/{scene.day.isoformat()}",
        "inspections": "/inspections",
        "reports": "/reports",
        "users": "/admin/users",
    }


@pytest.mark.parametrize("lang", list(LANGUAGES))
async def test_every_page_opens_in_the_visitors_language(browsers: Browsers, running: Running, scene: Scene, lang):
    logged_out = await browsers.page(lang)
    await logged_out.goto("/login")
    await shoot(logged_out, lang, "login")
    page = await browsers.logged_in("admin", lang)
    problems = []
    for name, url in pages(running, scene).items():
        response = await page.goto(url)
        status = response.status if response else None
        html_lang = await page.locator("html").get_attribute("lang")
        if status != 200 or html_lang != lang:
            problems.append(f"{url}: status {status}, language {html_lang!r}")
            continue
        await shoot(page, lang, name)
    await page.set_viewport_size({"width": 390, "height": 844})  # a technician's phone at the station
    for name in ("asset-station", "ticket"):
        if (response := await page.goto(pages(running, scene)[name])) and response.ok:
            await shoot(page, lang, f"{name}-on-a-phone")
    assert not problems, f"pages that did not open in {lang}:\n" + "\n".join(problems)
