"""The users page: only for admins; it lists users and the login audit, and adds a user,
changes a role and scope, resets a password, disables and enables — each by a form post
with the CSRF token, each audited under the admin's name, each ending that user's sessions
where it should. An admin cannot lock themselves out, nor hand out more than their scope."""

from __future__ import annotations

from sqlalchemy import select

from sitewatch.auth.users import add_user, get_user
from sitewatch.storage.tables import AuditRow
from tests.auth.conftest import VIEWER_TOKEN
from tests.logins import log_in
from tests.serving import bearer


def audit(site, action: str) -> list[tuple[str, str, dict]]:
    with site.parts.sessions() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.entity == "user", AuditRow.action == action)
                               .order_by(AuditRow.id))
        return [(r.actor, r.entity_id, r.detail) for r in rows]


def user(site, username: str):
    with site.parts.sessions() as session:
        return get_user(session, username)


async def test_only_an_admin_opens_or_posts_to_the_users_page(site):
    client = site.client
    for role in ("viewer", "dispatcher", "technician", "manager"):
        async with site.fresh() as other:
            await log_in(other, role)
            assert (await other.get("/admin/users")).status_code == 403, role
            refused = await other.post("/admin/users", data={"username": "x9", "role": "admin",
                                                             "password": "long enough pw"})
            assert refused.status_code == 403 and user(site, "x9") is None, role
    assert (await client.get("/admin/users", headers=bearer(VIEWER_TOKEN))).status_code == 403
    await log_in(client, "admin")
    page = await client.get("/admin/users")
    assert page.status_code == 200
    for name in ("viewer", "dispatcher", "technician", "manager", "admin"):
        assert f'id="user-{name}"' in page.text
    assert 'href="/admin/users"' in page.text, "the nav shows admins the users page"


async def test_add_change_reset_disable_and_enable_all_audited(site):
    client = site.client
    await log_in(client, "admin")
    form = {"username": "Li.Wei", "display_name": "Li Wei", "role": "dispatcher", "password": "first long password",
            "customers": ["citygas"]}
    added = await client.post("/admin/users", data=form, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/admin/users?done=li.wei"
    row = user(site, "li.wei")
    assert (row.role, row.customers, row.display_name) == ("dispatcher", ["citygas"], "Li Wei")
    assert "Li Wei" in (await client.get("/admin/users?done=li.wei")).text

    async with site.fresh() as li:
        await log_in(li, "li.wei", "first long password")
        changed = await client.post("/admin/users/li.wei/role", data={"role": "manager"}, follow_redirects=False)
        assert changed.status_code == 303
        assert (user(site, "li.wei").role, user(site, "li.wei").customers) == ("manager", [])
        assert (await li.get("/api/sites")).status_code == 401, "a role change ends the user's sessions"
        reset = await client.post("/admin/users/li.wei/password", data={"password": "second long password"},
                                  follow_redirects=False)
        assert reset.status_code == 303
        await log_in(li, "li.wei", "second long password")
        assert (await client.post("/admin/users/li.wei/disable", follow_redirects=False)).status_code == 303
        assert user(site, "li.wei").disabled and (await li.get("/api/sites")).status_code == 401
        page = (await client.get("/admin/users")).text
        assert "disabled: cannot log in" in page or "已停用" in page
        assert (await client.post("/admin/users/li.wei/enable", follow_redirects=False)).status_code == 303
        assert not user(site, "li.wei").disabled

    assert [a[:2] for a in audit(site, "created") if a[1] == "li.wei"] == [("admin", "li.wei")]
    assert audit(site, "role_changed") == [("admin", "li.wei", {"before": {"role": "dispatcher", "customers": ["citygas"]},
                                                                "after": {"role": "manager", "customers": []}})]
    assert [a[:2] for a in audit(site, "password_changed")] == [("admin", "li.wei")]
    assert [a[:2] for a in audit(site, "disabled") + audit(site, "enabled")] == [("admin", "li.wei")] * 2


async def test_refusals_are_shown_on_the_page_and_change_nothing(site):
    client = site.client
    await log_in(client, "admin")
    assert (await client.post("/language", data={"locale": "en"}, follow_redirects=False)).status_code == 303
    cases = [
        ("/admin/users", {"username": "viewer", "role": "viewer", "password": "long enough pw"}, "exists already"),
        ("/admin/users", {"username": "new1", "role": "viewer", "password": "short"}, "at least 10 characters"),
        ("/admin/users", {"username": "new1", "role": "boss", "password": "long enough pw"}, "Unknown role"),
        ("/admin/users", {"username": "new1", "role": "viewer", "password": "long enough pw", "customers": "nobody"},
         "Unknown customer(s): nobody"),
        ("/admin/users/ghost/password", {"password": "long enough pw"}, "No user &#39;ghost&#39;"),
        ("/admin/users/admin/disable", {}, "cannot disable or change your own user"),
        ("/admin/users/admin/role", {"role": "viewer"}, "cannot disable or change your own user"),
    ]
    for url, data, message in cases:
        answer = await client.post(url, data=data)
        assert answer.status_code == 422 and message in answer.text, (url, data, answer.text[-600:])
    assert user(site, "new1") is None and user(site, "admin").role == "admin" and not user(site, "admin").disabled


async def test_a_scoped_admin_manages_only_users_within_their_customers(site):
    with site.parts.sessions() as session:
        add_user(session, "city.admin", "city admin password", role="admin", customers=["citygas"], at=site.clock.now(),
                 actor="test")
        add_user(session, "city.viewer", "city viewer password", role="viewer", customers=["citygas"],
                 at=site.clock.now(), actor="test")
        session.commit()
    client = site.client
    await log_in(client, "city.admin", "city admin password")
    page = (await client.get("/admin/users")).text
    assert 'id="user-city.viewer"' in page and 'id="user-viewer"' not in page, "an unscoped user is not theirs"
    refused = await client.post("/admin/users/viewer/password", data={"password": "long enough pw"})
    assert refused.status_code == 422 and audit(site, "password_changed") == []
    wider = await client.post("/admin/users", data={"username": "new2", "role": "viewer", "password": "long enough pw"})
    assert wider.status_code == 422 and user(site, "new2") is None, "no scope would mean every customer"
    ok = await client.post("/admin/users", data={"username": "new2", "role": "viewer", "password": "long enough pw",
                                                 "customers": ["citygas"]}, follow_redirects=False)
    assert ok.status_code == 303 and user(site, "new2").customers == ["citygas"]


async def test_the_page_shows_the_recent_logins_failures_and_throttles(site):
    async with site.fresh() as stranger:
        for _ in range(6):
            await stranger.post("/login", data={"username": "technician", "password": "guess", "next": "/"})
    await log_in(site.client, "admin")
    page = (await site.client.get("/admin/users", headers={"Accept-Language": "en"})).text
    logins = page[page.index('id="logins"'):]
    assert logins.count('class="failed"') == 5 and logins.count('class="throttled"') == 1
    assert "refused: too many failed logins" in logins or "登录失败次数过多" in logins
