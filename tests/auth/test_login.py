"""Logging in over HTTP: the rate limit (429 with Retry-After, on the injected clock), the
session cookie's flags, CSRF on a browser's unsafe requests (and none for bearer tokens),
logging out, and sessions ended by a new password or role; each step in the audit log."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sitewatch.auth.users import FAILURE_WINDOW, MAX_FAILURES_PER_USER, set_password, set_role
from sitewatch.storage.tables import AuditRow
from tests.auth.conftest import ADMIN_TOKEN
from tests.logins import log_in, password_of
from tests.serving import bearer

COMPLAINT = {"customer_id": "citygas", "complaint_class": "other", "description": "phone line busy"}


async def attempt(client, username: str, password: str):
    return await client.post("/login", data={"username": username, "password": password, "next": "/"},
                             follow_redirects=False)


def login_audit(site) -> list[tuple[str, str]]:
    with site.parts.sessions() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.action.like("log%")).order_by(AuditRow.id))
        return [(r.entity_id, r.action) for r in rows]


async def test_the_sixth_failure_is_throttled_until_the_window_passes_for_that_name_only(site):
    client = site.client
    for _ in range(MAX_FAILURES_PER_USER):
        assert (await attempt(client, "dispatcher", "not-the-password")).status_code == 401
    throttled = await attempt(client, "dispatcher", "not-the-password")
    assert throttled.status_code == 429
    retry_after = int(throttled.headers["Retry-After"])
    assert 0 < retry_after <= FAILURE_WINDOW.total_seconds() + 1
    right = await attempt(client, "dispatcher", password_of("dispatcher"))
    assert right.status_code == 429 and "sitewatch_session" not in right.headers.get("set-cookie", ""), \
        "while throttled even the right password is refused"
    assert (await attempt(client, "technician", password_of("technician"))).status_code == 303, \
        "another name is not throttled"

    site.clock.now_value += timedelta(seconds=retry_after - 2)
    assert (await attempt(client, "dispatcher", password_of("dispatcher"))).status_code == 429, "not yet"
    site.clock.now_value += timedelta(seconds=2)
    assert (await attempt(client, "dispatcher", password_of("dispatcher"))).status_code == 303, "the window passed"
    audit = login_audit(site)
    assert audit.count(("dispatcher", "login_failed")) == MAX_FAILURES_PER_USER
    assert audit.count(("dispatcher", "login_throttled")) == 3
    assert ("technician", "login") in audit and audit[-1] == ("dispatcher", "login")


async def test_the_session_cookie_is_httponly_samesite_lax_and_secure(site):
    answer = await attempt(site.client, "viewer", password_of("viewer"))
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert cookie.startswith("sitewatch_session=")
    assert {"httponly", "secure"} <= set(flags) and flags["samesite"].lower() == "samesite=lax"
    assert flags["path"] == "Path=/" and int(flags["max-age"].split("=")[1]) == 12 * 3600


async def test_a_browser_post_needs_the_csrf_token_a_bearer_token_does_not(site):
    client = site.client
    token = await log_in(client, "dispatcher")
    del client.headers["X-CSRF-Token"]
    assert (await client.post("/api/complaints", json=COMPLAINT)).status_code == 403
    forged = ("y" if token[0] == "x" else "x") + token[1:]  # one character off, whatever the token starts with
    wrong = await client.post("/api/complaints", json=COMPLAINT, headers={"X-CSRF-Token": forged})
    assert wrong.status_code == 403 and "CSRF" in wrong.json()["detail"]
    form = await client.post("/language", data={"locale": "en", "next": "/"}, follow_redirects=False)
    assert form.status_code == 403, "a form post without csrf_token"
    form = await client.post("/language", data={"locale": "en", "next": "/", "csrf_token": token},
                             follow_redirects=False)
    assert form.status_code == 303
    made = await client.post("/api/complaints", json=COMPLAINT, headers={"X-CSRF-Token": token})
    assert made.status_code == 201 and made.json()["recorded_by"] == "dispatcher"
    async with site.fresh() as integration:
        by_token = await integration.post("/api/complaints", json=COMPLAINT, headers=bearer(ADMIN_TOKEN))
        assert by_token.status_code == 201 and by_token.json()["recorded_by"] == "integration"


async def test_nothing_is_read_anonymously_and_logging_out_ends_the_session(site):
    client = site.client
    assert (await client.get("/api/sites")).status_code == 401
    page = await client.get("/tickets", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Ftickets"
    await log_in(client, "manager")
    assert (await client.get("/api/sites")).status_code == 200
    assert (await client.post("/logout", follow_redirects=False)).status_code == 303
    assert (await client.get("/api/sites")).status_code == 401, "the same cookie logs nobody in any more"
    assert login_audit(site)[-2:] == [("manager", "login"), ("manager", "logout")]


async def test_a_new_password_or_role_ends_the_open_browser_sessions(site):
    async with site.fresh() as tech, site.fresh() as other:
        await log_in(tech, "technician")
        await log_in(other, "dispatcher")
        with site.parts.sessions() as session:
            set_password(session, "technician", "another long password", at=site.clock.now(), actor="admin")
            session.commit()
        assert (await tech.get("/api/sites")).status_code == 401
        assert (await other.get("/api/sites")).status_code == 200, "only that user's sessions end"
        await log_in(tech, "technician", "another long password")
        with site.parts.sessions() as session:
            set_role(session, "technician", role="viewer", at=site.clock.now(), actor="admin")
            session.commit()
        assert (await tech.get("/api/sites")).status_code == 401
        await log_in(tech, "technician", "another long password")
        assert (await tech.post("/api/complaints", json=COMPLAINT)).status_code == 403, "now a viewer"
