"""Logging test clients in as people: one user per role, and a browser-like httpx client.

httpx keeps Secure cookies for https only, so the session cookie is sent as a header here;
the CSRF token is read from the page's <meta name="csrf-token"> like app.js does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import httpx

from sitewatch.auth.roles import Role
from sitewatch.auth.users import add_user
from sitewatch.domain.time import UTC

ROLES = tuple(r.value for r in Role)


def password_of(username: str) -> str:
    return f"{username}-Secret-1"


def add_role_users(sessions, *, at: datetime | None = None, customers: Iterable[str] = (),  # noqa: ANN001
                   prefix: str = "") -> dict[str, str]:
    """One user per role, named after it (``prefix`` + role); returns role → username.
    ``customers`` scopes every one of them."""
    at = at or datetime(2026, 1, 1, tzinfo=UTC)
    out = {}
    with sessions() as session:
        for role in ROLES:
            username = f"{prefix}{role}"
            add_user(session, username, password_of(username), role=role, at=at, actor="test",
                     customers=customers, display_name=username.title())
            out[role] = username
        session.commit()
    return out


async def log_in(client: httpx.AsyncClient, username: str, password: str | None = None) -> str:
    """Log ``client`` in as ``username``; afterwards it sends the session cookie and the
    CSRF token with every request. Returns the CSRF token."""
    response = await client.post("/login", data={"username": username, "password": password or password_of(username),
                                                  "next": "/login"}, follow_redirects=False)
    assert response.status_code == 303, f"login of {username!r} refused: {response.status_code} {response.text[:300]}"
    token = response.cookies.get("sitewatch_session")
    assert token, "no session cookie after login"
    client.headers["Cookie"] = f"sitewatch_session={token}"
    page = await client.get("/login")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, "the page carries no CSRF token for a logged-in user"
    client.headers["X-CSRF-Token"] = match.group(1)
    return match.group(1)
