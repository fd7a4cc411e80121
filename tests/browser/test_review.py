"""The manager signs the 08:30 log on /review: signed as the logged-in manager (no name is
typed), and the page then shows it signed."""

from __future__ import annotations

import json

from tests.browser.browser import Browsers, error_of, get_from_page, shoot
from tests.browser.scene import Scene

SITE = "north"


async def test_the_manager_signs_the_0830_log_as_themselves(browsers: Browsers, scene: Scene):
    page = await browsers.logged_in("manager", "zh-CN")
    await page.goto("/review")
    await shoot(page, "zh-CN", "review-before-signing")
    day = scene.day.isoformat()
    sign = page.locator(f'form[action="/review/{SITE}/{day}/sign"]')
    forms = await page.locator("form").evaluate_all("fs => fs.map(f => f.action)")
    assert await sign.count() == 1, f"/review offers no way to sign {SITE}'s log of {day}; its forms: {forms}"
    async with page.expect_navigation():
        await sign.locator('button, [type="submit"]').first.click()
    assert not await error_of(page), f"signing was refused: {await error_of(page)}"

    answer = await get_from_page(page, f"/api/reviews/{SITE}/{day}")
    assert answer["status"] == 200, answer
    review = json.loads(answer["body"])
    assert review["signed_at"] is not None, "the log is not signed"
    assert review["signed_by"] in ("manager", "Manager"), f"signed by {review['signed_by']!r}, not the manager"
    await page.goto("/review")
    assert await page.locator(f'form[action="/review/{SITE}/{day}/sign"]').count() == 0, "still offered for signing"
    await shoot(page, "zh-CN", "review-signed")
