"""A browser opening a page it may not see is shown a page in its language, not JSON."""

from __future__ import annotations

from tests.logins import add_role_users, log_in

HTML = {"Accept": "text/html,application/xhtml+xml"}


async def test_a_page_outside_the_scope_is_a_translated_404_page_and_the_api_keeps_json(site):
    add_role_users(site.parts.sessions, customers=["someone-else"], prefix="other-")
    async with site.fresh() as browser:
        await log_in(browser, "other-viewer")
        page = await browser.get("/asset/rs-north-01", headers=HTML | {"Accept-Language": "zh-CN"})
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "此内容不存在，或您无权查看。" in page.text
        assert "rs-north-01" not in page.text.split("<main>", 1)[1], "the 404 page must not echo the object"
        english = await browser.get("/asset/rs-north-01", headers=HTML | {"Accept-Language": "en"})
        assert "This does not exist, or it is not yours to see." in english.text
        api = await browser.get("/api/assets/rs-north-01", headers=HTML)
        assert api.status_code == 404 and api.json()["detail"].startswith("no asset")


async def test_a_role_refused_a_page_gets_a_403_page(site):
    async with site.fresh() as browser:
        await log_in(browser, "viewer")
        page = await browser.get("/admin/users", headers=HTML | {"Accept-Language": "en"})
        assert page.status_code == 403
        assert "Your role may not open or change this." in page.text
        assert 'action="/logout"' in page.text, "the error page keeps the frame: the viewer can log out"
