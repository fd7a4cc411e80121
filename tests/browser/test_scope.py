"""A user scoped to one customer (City Gas) cannot open anything of another (Harbour Gas)
by URL — asset, ticket, alert, inspection, 08:30 log, report, complaint — on any route of
the app, page or API, from their own browser session; and no list, page or live stream
shows them any of it. Each refused URL is also opened with City Gas's own values, which
must work: a route that refuses everyone proves nothing."""

from __future__ import annotations

import html
from urllib.parse import parse_qsl, urlencode

from playwright.async_api import Page

from tests.browser.browser import Browsers, get_from_page
from tests.browser.instance import (
    ALARM_STATION,
    OTHER,
    OTHER_ROUND,
    OTHER_STATION,
    OWN,
    SCOPED_USER,
    Running,
)
from tests.browser.routes import Route, fill, reads, urls, values
from tests.browser.scene import COMPLAINTS, Scene

# How the other customer's things show in a page or an answer (compared lower-case).
MENTIONS = ("harbour", OTHER_STATION, OTHER_ROUND, f"station {OTHER_STATION[3:]}", f"station {OTHER_ROUND[3:]}",
            COMPLAINTS[OTHER].lower())
# Path parameters naming something that belongs to a customer: a route with one opens a
# customer's thing by URL; the others (a month's complaint rate) are lists, filtered.
OWNED = {"asset_id", "ticket_id", "alert_id", "inspection_id", "site_id", "customer_id"}
# Query parameters that pick a customer's things out of a list, and the other's value.
FILTERS = {"site_id": "harbour", "site": "harbour", "customer_id": OTHER, "customer": OTHER,
           "asset_id": OTHER_STATION, "asset": OTHER_STATION}


async def status_of(page: Page, url: str) -> int:
    """A page as a person opens it (the address bar); anything else as the page fetches it."""
    probe = await get_from_page(page, url)
    if not probe["type"].startswith("text/html"):
        return probe["status"]
    response = await page.goto(url)
    assert response is not None
    return response.status


async def test_another_customers_things_cannot_be_opened_by_url_on_any_route(browsers: Browsers, running: Running,
                                                                             scene: Scene,
                                                                             routes: tuple[Route, ...]):
    page = await browsers.logged_in(SCOPED_USER, "en")
    with_params = [r for r in reads(routes) if OWNED & set(r.params)]
    opened, refused_own = {}, {}
    for url in urls(with_params, values(running, scene, customer=OTHER)):
        status = await status_of(page, url)
        if status not in (403, 404):
            opened[url] = status
    for url in urls(with_params, values(running, scene, customer=OWN)):
        status = await status_of(page, url)
        if status != 200:
            refused_own[url] = status
    walked = {r.path for r in with_params}
    assert {"/api/tickets/{ticket_id}", "/api/assets/{asset_id}"} <= walked, walked
    assert not opened, f"{SCOPED_USER} (City Gas only) opened Harbour Gas's:\n" + "\n".join(
        f"  {url}: {status}" for url, status in opened.items())
    assert not refused_own, f"{SCOPED_USER} was refused City Gas's own:\n" + "\n".join(
        f"  {url}: {status}" for url, status in refused_own.items())


async def test_no_list_page_or_live_stream_shows_another_customers_things(browsers: Browsers, running: Running,
                                                                         scene: Scene, routes: tuple[Route, ...]):
    page = await browsers.logged_in(SCOPED_USER, "en")
    leaks, refused, bodies = {}, {}, {}
    for route in [r for r in reads(routes) if not OWNED & set(r.params)]:
        own = fill(route, values(running, scene, customer=OWN))[0]
        path, _, query = own.partition("?")
        # ... and the list asked for the other customer's site, customer or asset
        filtered = [f"{path}?{urlencode(dict(parse_qsl(query)) | {name: FILTERS[name]})}"
                    for name in sorted(route.query & FILTERS.keys())]
        for url in [own, *filtered]:
            answer = await get_from_page(page, url)
            bodies[url] = answer["body"]
            # 403: what their role may not read at all (the users page)
            if answer["status"] not in ((200, 403) if url == own else (200, 403, 404)):
                refused[url] = answer["status"]
            # A refusal may well repeat the id it was asked for, and a page its own address
            # (the language switch comes back to it): neither shows anything of the other's.
            body = answer["body"].replace(html.escape(url), "").replace(url, "").lower()
            found = [m for m in MENTIONS if m.lower() in body]
            if found and answer["status"] == 200:
                leaks[url] = found
    assert ALARM_STATION in bodies["/api/assets"] and ALARM_STATION in bodies["/"], "City Gas's own are not shown"
    assert not refused, f"{SCOPED_USER} could not read:\n" + "\n".join(f"  {u}: {s}" for u, s in refused.items())
    assert not leaks, f"{SCOPED_USER} (City Gas only) was shown Harbour Gas's:\n" + "\n".join(
        f"  {url}: {', '.join(found)}" for url, found in leaks.items())
