"""Users, for admins: the list (role, customer scope, state, created), adding a user,
changing a role and scope, resetting a password, disabling and enabling; and the recent
login audit (logins, failures, throttles). Only for Permission.USERS_MANAGE (403 otherwise).

The changes are form posts (with the session's csrf_token) through auth/users.py, which
audits each one; a success redirects back to the list (no re-post on reload), a refusal
shows the page again with the reason. An admin scoped to customers manages only users
scoped within them, and cannot hand out more than their own scope; nobody disables or
changes their own user here (another admin or `sitewatch user` can), so the last admin
cannot lock everyone out by a slip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.api.pages.common import render
from sitewatch.api.scope import Scope
from sitewatch.auth.roles import Permission, Principal, Role
from sitewatch.auth.users import (
    UserError,
    add_user,
    check_customers,
    get_user,
    list_users,
    recent_logins,
    set_disabled,
    set_password,
    set_role,
)
from sitewatch.storage.tables import UserRow

router = APIRouter(include_in_schema=False)
Admin = may(Permission.USERS_MANAGE)
Customers = Annotated[list[str], Form()]
# The login audit's actions (auth/users.LOGIN_ACTIONS), as the page names them.
LOGIN_ACTIONS = {"login": i18n.lazy("logged in"), "login_failed": i18n.lazy("refused: wrong username or password"),
                 "login_throttled": i18n.lazy("refused: too many failed logins"), "logout": i18n.lazy("logged out")}


def _manages(actor: Principal, row: UserRow) -> bool:
    return actor.customers is None or (bool(row.customers) and set(row.customers) <= actor.customers)


def _granted(actor: Principal, parts: ApiContext, chosen: list[str]) -> list[str]:
    """The scope to give: known customers, and no wider than the actor's own."""
    scope = check_customers([c for c in chosen if c], {c.id for c in parts.config.customers})
    if actor.customers is not None and (not scope or not set(scope) <= actor.customers):
        raise UserError(i18n.lazy("You may only give access to customers you see yourself."))
    return scope


def _managed(session: Session, actor: Principal, username: str) -> UserRow:
    row = get_user(session, username)
    if row is None or not _manages(actor, row):
        raise UserError(i18n.lazy("No user %(name)s."), name=repr(username))
    return row


def _not_me(actor: Principal, row: UserRow) -> None:
    if actor.user_id == row.id:
        raise UserError(i18n.lazy("You cannot disable or change your own user; another admin or the CLI can."))


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, actor: Admin, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
               done: str | None = None):
    return _page(request, actor, parts, session, scope, done=done)


def _page(request: Request, actor: Principal, parts: ApiContext, session: Session, scope: Scope, *,
          done: str | None = None, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    users = [u for u in list_users(session) if _manages(actor, u)]
    shown = {u.username for u in users}
    logins = [a for a in recent_logins(session, limit=200) if actor.customers is None or a.entity_id in shown][:50]
    time_zone = next((s.time_zone for s in parts.config.sites if scope.sees_site(s.id)), "UTC")
    return render(request, "admin_users.html", {
        "users": users, "logins": logins, "roles": [r.value for r in Role], "time_zone": time_zone,
        "customers": [c for c in parts.config.customers if scope.sees_customer(c.id)],
        "customer_names": {c.id: c.name for c in parts.config.customers}, "done": done, "error": error,
        "login_actions": LOGIN_ACTIONS,
    }, status_code=status_code)


def _change(request: Request, actor: Principal, parts: ApiContext, session: Session, scope: Scope,
            username: str, change: Callable[[], object]) -> Response:
    """Make one change and redirect to the list; a refusal re-renders it with the reason."""
    try:
        change()
        session.commit()
    except UserError as exc:
        session.rollback()
        return _page(request, actor, parts, session, scope, error=str(exc), status_code=422)
    return RedirectResponse(f"/admin/users?done={quote(username, safe='')}", status_code=303)


@router.post("/admin/users")
def add(request: Request, actor: Admin, parts: ComponentsDep, session: SessionDep, scope: ScopeDep,
        username: Annotated[str, Form()], role: Annotated[str, Form()], password: Annotated[str, Form()],
        display_name: Annotated[str, Form()] = "", customers: Customers = []):  # noqa: B006 (FastAPI copies it)
    username = username.strip().lower()
    return _change(request, actor, parts, session, scope, username, lambda: add_user(
        session, username, password, role=role, customers=_granted(actor, parts, customers),
        display_name=display_name.strip(), at=parts.clock.now(), actor=actor.name))


@router.post("/admin/users/{username}/role")
def change_role(request: Request, username: str, actor: Admin, parts: ComponentsDep, session: SessionDep,
                scope: ScopeDep, role: Annotated[str, Form()], customers: Customers = []):  # noqa: B006
    def change() -> None:
        row = _managed(session, actor, username)
        _not_me(actor, row)
        set_role(session, username, role=role, customers=_granted(actor, parts, customers), at=parts.clock.now(),
                 actor=actor.name)

    return _change(request, actor, parts, session, scope, username, change)


@router.post("/admin/users/{username}/password")
def reset_password(request: Request, username: str, actor: Admin, parts: ComponentsDep, session: SessionDep,
                   scope: ScopeDep, password: Annotated[str, Form()]):
    def change() -> None:
        _managed(session, actor, username)
        set_password(session, username, password, at=parts.clock.now(), actor=actor.name)

    return _change(request, actor, parts, session, scope, username, change)


@router.post("/admin/users/{username}/disable")
def disable(request: Request, username: str, actor: Admin, parts: ComponentsDep, session: SessionDep,
            scope: ScopeDep):
    return _change(request, actor, parts, session, scope, username,
                   lambda: _switch(session, actor, username, disabled=True, at=parts.clock.now()))


@router.post("/admin/users/{username}/enable")
def enable(request: Request, username: str, actor: Admin, parts: ComponentsDep, session: SessionDep,
           scope: ScopeDep):
    return _change(request, actor, parts, session, scope, username,
                   lambda: _switch(session, actor, username, disabled=False, at=parts.clock.now()))


def _switch(session: Session, actor: Principal, username: str, *, disabled: bool, at) -> None:  # noqa: ANN001
    row = _managed(session, actor, username)
    _not_me(actor, row)
    set_disabled(session, username, disabled, at=at, actor=actor.name)
