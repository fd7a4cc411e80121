"""Chromium as people use it: a browser context per person and language, logged in
through the real login form, screenshots of what they saw, and requests made by the
page itself (its session cookie, its CSRF token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, Response

from tests.browser.instance import TIME_ZONE
from tests.logins import password_of

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"  # gitignored with the rest of var/
# Screenshot folder and browser locale → the product's locale.
LANGUAGES = {"en": ("en-US", "en"), "zh-CN": ("zh-CN", "zh_CN")}
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here
# We run as root (no sandbox then); the alarm must be able to sound without a click first.
CHROMIUM_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
WAIT_MS = 10_000  # the longest any page or element is waited for, unless a test says otherwise


class Browsers:
    """Browser contexts opened for one test; all closed by :meth:`close`."""

    def __init__(self, chromium: Browser, url: str) -> None:
        self._chromium = chromium
        self.url = url
        self._contexts: list[BrowserContext] = []

    async def context(self, lang: str) -> BrowserContext:
        """A fresh browser (no cookies) speaking ``lang``: its Accept-Language, and the
        language cookie the language switch would have set."""
        browser_locale, locale = LANGUAGES[lang]
        context = await self._chromium.new_context(base_url=self.url, locale=browser_locale, timezone_id=TIME_ZONE,
                                                   viewport={"width": 1280, "height": 800})
        self._contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        await context.add_cookies([{"name": "sitewatch_lang", "value": locale, "url": self.url}])
        return context

    async def page(self, lang: str) -> Page:
        return await (await self.context(lang)).new_page()

    async def logged_in(self, username: str, lang: str = "en") -> Page:
        """A page of a new browser, logged in as ``username`` through the login form."""
        page = await self.page(lang)
        await page.goto("/login")
        response = await submit_login(page, username)
        assert response is not None and response.ok, (
            f"logging in as {username!r}: {response and response.status} at {page.url}")
        assert "/login" not in page.url, f"{username!r} is still at the login form: {await error_of(page)}"
        return page

    async def close(self) -> None:
        for context in self._contexts:
            await context.close()
        self._contexts.clear()


async def submit_login(page: Page, username: str, password: str | None = None) -> Response | None:
    """Fill in and send the login form on the page; the answer to the page's navigation."""
    form = page.locator('form[action="/login"]')
    await form.locator('input[name="username"]').fill(username)
    await form.locator('input[name="password"]').fill(password if password is not None else password_of(username))
    async with page.expect_navigation() as navigation:
        await form.locator('[type="submit"]').click()
    return await navigation.value


async def error_of(page: Page) -> str:
    alert = page.locator('[role="alert"]')
    return (await alert.first.inner_text()).strip() if await alert.count() else ""


async def shoot(page: Page, lang: str, name: str) -> Path:
    """A full-page screenshot in var/screenshots/<lang>/<name>.png, checked to show something."""
    path = SCREENSHOTS / lang / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0, f"{path} is empty"
    with Image.open(path) as image:
        low, high = image.convert("L").getextrema()
    assert low != high, f"{path} is one flat colour: nothing was drawn"
    return path


async def csrf_of(page: Page) -> str:
    token = await page.evaluate("() => document.querySelector('meta[name=\"csrf-token\"]')?.content || ''")
    assert token, f"{page.url} carries no CSRF token for its logged-in user"
    return token


async def send_from_page(page: Page, url: str, body: dict[str, Any], *, method: str = "POST",
                         form: bool = False) -> dict[str, Any]:
    """A write from the page's own JavaScript, as its buttons send it: the session cookie
    and the CSRF token go with it. Returns status and body text (a redirect: status 0)."""
    return await page.evaluate(
        """async ([url, body, method, form, csrf]) => {
             const init = {method, credentials: "same-origin", redirect: "manual",
                           headers: {"X-CSRF-Token": csrf}};
             if (form) { init.body = new URLSearchParams(body); }
             else { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
             const response = await fetch(url, init);
             return {status: response.status, body: await response.text()};
           }""",
        [url, body, method, form, await csrf_of(page)],
    )


async def get_from_page(page: Page, url: str, *, stream_wait_ms: int = 1500) -> dict[str, Any]:
    """GET from the page's own JavaScript: status, content type and body text (none for a
    PDF or audio). A live stream (server-sent events) is read for its first chunk, then
    abandoned."""
    return await page.evaluate(
        """async ([url, waitMs]) => {
             const stop = new AbortController();
             const response = await fetch(url, {credentials: "same-origin", signal: stop.signal});
             const type = response.headers.get("content-type") || "";
             let body = "";
             if (type.startsWith("text/event-stream")) {
               const reader = response.body.getReader();
               const timer = new Promise(done => setTimeout(() => done({value: null}), waitMs));
               const first = await Promise.race([reader.read(), timer]);
               body = first.value ? new TextDecoder().decode(first.value) : "";
               stop.abort();
             } else if (type.startsWith("text/") || type.includes("json")) {
               body = await response.text();
             } else {
               stop.abort();
             }
             return {status: response.status, type, body, url: response.url};
           }""",
        [url, stream_wait_ms],
    )


async def visible_text(page: Page) -> str:
    """What a person reads on the page: the title, the rendered text (no script or style,
    nothing hidden), and the words in placeholders, tooltips, labels and button values."""
    return await page.evaluate(
        """() => {
             const parts = [document.title, document.body.innerText];
             for (const e of document.querySelectorAll("[placeholder], [title], [aria-label], img[alt], input[type=submit], input[type=button]")) {
               for (const a of ["placeholder", "title", "aria-label", "alt"]) { if (e.getAttribute(a)) parts.push(e.getAttribute(a)); }
               if (e.type === "submit" || e.type === "button") parts.push(e.value);
             }
             return parts.join("\\n");
           }"""
    )
