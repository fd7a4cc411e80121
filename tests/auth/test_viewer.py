"""A viewer changes nothing: every write route the app serves — every unsafe method,
enumerated from the app, so a route added later is covered too — answers 403 to a viewer,
on real objects, by bearer token and by session (with a valid CSRF token, so the 403 is the
role's). Logging in and out and choosing one's language are a person's own, not data."""

from __future__ import annotations

import pytest

from sitewatch.api.app import create_app
from sitewatch.auth.users import add_user
from tests.auth.world import NOW, build
from tests.logins import log_in
from tests.serving import UNSAFE, bearer, endpoints, fill, served, token_entry

OWN = {"/login", "/logout", "/language"}
VIEWER = "wallboard-viewer-token"


@pytest.fixture(params=["session", "token"])
async def viewer(request, tmp_path, database_url):
    parts, own, _other = build(tmp_path, database_url, [token_entry(VIEWER, name="wallboard", role="viewer")])
    with parts.sessions() as session:
        add_user(session, "watcher", "watcher password", role="viewer", at=NOW, actor="test")
        session.commit()
    app = create_app(parts)
    async with served(app) as client:
        if request.param == "session":
            await log_in(client, "watcher", "watcher password")
        else:
            client.headers.update(bearer(VIEWER))
        writes = [(method, fill(path, own)) for method, path, _ in endpoints(app) if method in UNSAFE and path not in OWN]
        yield request.param, client, writes
    parts.close()


async def test_every_write_route_refuses_a_viewer(viewer):
    how, client, writes = viewer
    assert len(writes) >= 20, writes
    answers = {(method, url): (await client.request(method, url, json={})).status_code for method, url in writes}
    assert {k: status for k, status in answers.items() if status != 403} == {}
    if how == "session":  # what is the person's own stays open
        assert (await client.post("/language", data={"locale": "en"}, follow_redirects=False)).status_code == 303
        assert (await client.post("/logout", follow_redirects=False)).status_code == 303
