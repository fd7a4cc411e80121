"""A viewer reads every page and changes nothing: no control that writes is shown to them,
and every write the app has, sent by their own browser session with its CSRF token, is
refused with 403."""

from __future__ import annotations

from tests.browser.browser import Browsers, get_from_page, send_from_page
from tests.browser.instance import OWN, Running
from tests.browser.routes import Route, reads, urls, values, writes
from tests.browser.scene import Scene

# What a control that writes is: a form that posts (other than logging out and choosing the
# language), a button or input that would post a form, or an element carrying one of the
# pages' JavaScript actions (data-action, e.g. acknowledge, mute, assign). Only what is
# shown counts: a viewer must not see it.
WRITE_CONTROLS = """() => {
  const free = (form) => ["/logout", "/language"].includes(new URL(form.action, location.href).pathname);
  const posts = (form) => form && form.method.toLowerCase() === "post" && !free(form);
  const shown = (e) => e.checkVisibility();
  const found = [];
  for (const form of document.forms) if (posts(form) && shown(form)) found.push(`form posting to ${form.action}`);
  for (const e of document.querySelectorAll("button, input[type=submit], input[type=image]")) {
    if (shown(e) && (posts(e.form) || (e.getAttribute("formmethod") || "").toLowerCase() === "post"))
      found.push(`${e.tagName.toLowerCase()} "${(e.innerText || e.value || "").trim()}"`);
  }
  for (const e of document.querySelectorAll("[data-action]")) if (shown(e))
    found.push(`${e.tagName.toLowerCase()} data-action=${e.dataset.action} "${e.innerText.trim()}"`);
  return [...new Set(found)];
}"""

# A body that gets past a route's validation to its permission check, where the check is
# made after the body is read (a ticket move: which move decides who may make it).
BODIES: dict[str, tuple[dict, bool]] = {  # route → (body, sent as a form?)
    "/api/tickets/{ticket_id}/transitions": ({"to": "arrived"}, False),
    "/tickets/{ticket_id}/move": ({"to": "arrived"}, True),
}


async def test_a_viewer_sees_no_control_that_writes_on_any_page(browsers: Browsers, running: Running, scene: Scene,
                                                                  routes: tuple[Route, ...]):
    page = await browsers.logged_in("viewer", "en")
    filled = values(running, scene, customer=OWN)
    shown: dict[str, list[str]] = {}
    visited = []
    for url in urls(reads(routes), filled):
        probe = await get_from_page(page, url)
        if not probe["type"].startswith("text/html"):
            continue
        response = await page.goto(url)
        assert response is not None and response.status == 200, f"{url}: {response and response.status}"
        visited.append(url)
        controls = await page.evaluate(WRITE_CONTROLS)
        if controls:
            shown[url] = controls
    assert "/" in visited and any(u.startswith("/tickets/") for u in visited), f"too few pages walked: {visited}"
    assert not shown, "a viewer is shown controls that write:\n" + "\n".join(
        f"  {url}: {', '.join(controls)}" for url, controls in shown.items())


async def test_every_write_from_a_viewers_browser_session_is_refused_with_403(browsers: Browsers, running: Running,
                                                                               scene: Scene,
                                                                               routes: tuple[Route, ...]):
    page = await browsers.logged_in("viewer", "en")
    filled = values(running, scene, customer=OWN) | {"flag_id": ("1",), "username": ("viewer",)}
    answers = {}
    for route in writes(routes):
        body, form = BODIES.get(route.path, ({}, not route.path.startswith("/api/")))
        method = min(route.methods - {"GET", "HEAD"})
        for url in urls([route], filled):
            answer = await send_from_page(page, url, body, method=method, form=form)
            answers[f"{method} {url}"] = (answer["status"], answer["body"][:200])
    assert any(" /api/alerts/" in url for url in answers), f"too few writes tried: {list(answers)}"
    accepted = {url: answer for url, answer in answers.items() if answer[0] != 403}
    assert not accepted, "writes a viewer's session was not refused (403 expected):\n" + "\n".join(
        f"  {url}: {status} {body}" for url, (status, body) in accepted.items())
    # Nothing the viewer sent changed anything: the ticket they tried to move is where it was.
    ticket = await get_from_page(page, f"/api/tickets/{scene.open_ticket}")
    assert '"state":"registered"' in ticket["body"].replace(" ", ""), ticket["body"][:300]
