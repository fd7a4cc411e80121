"""Customer scope, for EVERY route the app serves (issue 10's acceptance): a person or a token
scoped to City Gas cannot open, change or list anything of Harbour Security's.

* A route naming one of Harbour's objects — in its path, in a query filter, or (writes) in
  its body — answers 404, as for an object that does not exist.
* The same route naming City Gas's object opens (200), so the 404 above is the scope, not
  a wrong URL.
* A route naming no object (a list, a page, a period's report) shows nothing of Harbour's,
  while an unscoped token sees Harbour there: the check is not vacuous.

By session (a scoped admin, with the CSRF token) and by bearer token (a scoped admin
token), on SQLite and PostgreSQL. The routes are enumerated from the app, so a new route is
walked too; if this test cannot name another customer's object for it, it fails and says so.
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pypdf import PdfReader

from sitewatch.api.app import create_app
from sitewatch.auth.users import add_user
from tests.auth.world import DAY, NOW, build
from tests.logins import log_in
from tests.serving import UNSAFE, bearer, endpoints, fill, served, token_entry

ADMIN, CITY = "unscoped-admin-token", "city-gas-admin-token"
MARK = re.compile("harbour", re.IGNORECASE)  # in every Harbour id and name, in nothing of City Gas's
# What names an object in a URL; api/scope.guard answers 404 for these outside the scope.
OBJECTS = ("site_id", "asset_id", "customer_id", "ticket_id", "alert_id", "inspection_id", "flag_id", "complaint_id", "delivery_id")
# Writes that name no object in their URL, with a body (JSON or form) naming Harbour's.
BODIES = {
    ("POST", "/api/inspections"): {"json": {"site_id": "harbour", "kind": "security_monthly", "in_charge": "Zhao"}},
    ("POST", "/api/complaints"): {"json": {"customer_id": "harbour", "complaint_class": "other", "description": "x"}},
    ("POST", "/review/generate"): {"data": {"site_id": "harbour", "day": DAY.isoformat()}},
    ("POST", "/inspections/start"): {"data": {"kind": "security_monthly", "where": "site:harbour", "in_charge": "Zhao"}},
    ("POST", "/api/admin/backup"): {"json": {}},  # every customer's data: none for a scoped principal
}
# Writes that are about the person, not a customer's objects; /admin/users has its own
# scope rules (tests/auth/test_admin.py: a scoped admin manages only users within them).
NOT_CUSTOMER_DATA = {"/login", "/logout", "/language"}


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient  # the scoped principal
    unscoped: httpx.AsyncClient
    own: dict[str, object]
    other: dict[str, object]


@pytest.fixture(params=["session", "token"])
async def world(request, tmp_path, database_url):
    parts, own, other = build(tmp_path, database_url, [
        token_entry(ADMIN, name="unscoped"), token_entry(CITY, name="city-integration", customers=["citygas"])])
    with parts.sessions() as session:
        add_user(session, "city-admin", "city admin password", role="admin", customers=["citygas"], at=NOW,
                 actor="test")
        session.commit()
    app = create_app(parts)
    async with served(app, timeout_s=30) as client:
        if request.param == "session":
            await log_in(client, "city-admin", "city admin password")
        else:
            client.headers.update(bearer(CITY))
        async with httpx.AsyncClient(base_url=client.base_url, timeout=30, headers=bearer(ADMIN)) as unscoped:
            yield World(app, client, unscoped, own, other)
    parts.close()


def _names_objects(path: str) -> bool:
    return any("{" + name + "}" in path for name in OBJECTS)


def _query_objects(route) -> list[str]:  # noqa: ANN001 (an APIRoute)
    return [p.name for p in route.dependant.query_params if p.name in OBJECTS]


def _required_query(route, values: dict[str, object]) -> dict[str, object]:  # noqa: ANN001
    required = [p.name for p in route.dependant.query_params if p.field_info.is_required()]
    assert set(required) <= set(values), f"{route.path}: the test does not know what to put for {required}"
    return {name: values[name] for name in required}


async def _text(client: httpx.AsyncClient, method: str, url: str, **kwargs) -> tuple[int, str]:
    """Status and readable text of an answer: a PDF's text, a live stream's first event. A
    redirect is followed by hand: httpx drops the session's Cookie header on a redirect."""
    async with client.stream(method, url, **kwargs) as response:
        if response.is_redirect and response.headers["location"].startswith("/"):
            return await _text(client, "GET", response.headers["location"])
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            body = b""
            async with asyncio.timeout(5):
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if b"\n\n" in body:
                        break
        else:
            body = await response.aread()
    if kind.startswith("application/pdf") and response.status_code == 200:
        return response.status_code, " ".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    return response.status_code, body.decode("utf-8", errors="replace")


async def test_another_customers_object_is_404_on_every_route_and_in_every_body(world):
    refused, checked = [], 0
    for method, path, route in endpoints(world.app):
        tries = []
        if _names_objects(path):
            tries.append((fill(path, world.other), _required_query(route, world.own), {"json": {}}))
        for name in _query_objects(route):
            query = _required_query(route, world.own) | {name: world.other[name]}
            tries.append((fill(path, world.own), query, {"json": {}}))
        if method in UNSAFE and not _names_objects(path) and not path.startswith("/admin/users"):
            if path in NOT_CUSTOMER_DATA:
                continue
            assert (method, path) in BODIES, f"{method} {path}: add a body naming another customer's object to BODIES"
            tries.append((path, {}, BODIES[method, path]))
        for url, params, body in tries:
            answer = await world.client.request(method, url, params=params, **body)
            checked += 1
            if answer.status_code != 404:
                refused.append(f"{method} {url} {params} {body} -> {answer.status_code} {answer.text[:120]}")
    assert refused == []
    assert checked > 40, "the walk checked almost nothing"


async def test_the_own_customers_objects_open_on_every_route(world):
    failed = []
    for method, path, route in endpoints(world.app):
        if method != "GET" or not (_names_objects(path) or _query_objects(route)):
            continue
        url = fill(path, world.own)
        status, text = await _text(world.client, method, url, params=_required_query(route, world.own))
        if status != 200:
            failed.append(f"GET {url} -> {status} {text[:120]}")
    assert failed == [], "the 404s of the other test must be the scope, not a broken URL"


async def test_lists_and_pages_show_nothing_of_another_customer(world):
    leaked, shown_unscoped = [], set()
    for method, path, route in endpoints(world.app):
        if method != "GET" or _names_objects(path):
            continue
        url, params = fill(path, world.own), _required_query(route, world.own)
        status, text = await _text(world.client, method, url, params=params)
        assert status == 200, f"GET {url} -> {status} {text[:200]}"
        if found := MARK.search(text):
            leaked.append(f"GET {url}: ...{text[max(0, found.start() - 80):found.end() + 40]}...")
        if MARK.search((await _text(world.unscoped, method, url, params=params))[1]):
            shown_unscoped.add(path)
    assert leaked == []
    core = {"/api/sites", "/api/assets", "/api/alerts", "/api/tickets", "/api/inspections", "/api/inspections/flags",
            "/api/contracts", "/api/reviews", "/api/complaints", "/api/reports/complaint-rate/{month}"}
    assert core <= shown_unscoped, f"not vacuous: unscoped, these list Harbour too; missing {core - shown_unscoped}"
