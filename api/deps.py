"""Dependencies: the running components, a database session, and who is asking.

Who: a bearer token from the config (integrations) or a browser session cookie (people).
Nobody anonymous reads or writes anything but the login page, /healthz and static files;
an unsafe request from nobody is refused before its body is read (api/limits.py).
A browser's unsafe request must echo its session's CSRF token (``X-CSRF-Token`` header
or a ``csrf_token`` form field); the cookie is also SameSite=Lax.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sitewatch.api.context import ApiContext
from sitewatch.api.scope import Scope, guard
from sitewatch.auth.roles import Permission, Principal, Role
from sitewatch.auth.users import principal_of_session, token_digest

SESSION_COOKIE = "sitewatch_session"
LOCALE_COOKIE = "sitewatch_lang"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_components(request: Request) -> ApiContext:
    return request.app.state.components


ComponentsDep = Annotated[ApiContext, Depends(get_components)]


def get_session(parts: ComponentsDep) -> Iterator[Session]:
    with parts.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(auto_error=False)


class LoginRequired(Exception):
    """Nobody is logged in: pages redirect to /login, the API answers 401 (api/app.py)."""


def login_required() -> JSONResponse:
    """The API's answer to nobody (and a page's to an unsafe request from nobody)."""
    return JSONResponse({"detail": "log in, or send a bearer token"}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})


def identify(request: Request, parts: ApiContext,
             credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    """The principal of a request, or None; cached on the request."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    principal = None
    if credentials is not None:
        digest = token_digest(credentials.credentials)
        for token in parts.config.api.tokens:
            if hmac.compare_digest(digest, token.sha256):
                principal = Principal(name=token.name, role=Role(token.role),
                                      customers=frozenset(token.customers) if token.customers else None,
                                      display_name=token.name)
                break
        else:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unknown bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
    elif cookie := request.cookies.get(SESSION_COOKIE):
        with parts.sessions() as session:
            principal = principal_of_session(session, cookie, at=parts.clock.now())
    request.state.principal = principal
    return principal


def optional_principal(
    request: Request, parts: ComponentsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    return identify(request, parts, credentials)


async def require_principal(
    request: Request, parts: ComponentsDep, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    """Someone logged in; for a browser's unsafe request, with the session's CSRF token; and
    no id in the URL outside the principal's customer scope (api/scope.py: 404)."""
    if principal is None:
        raise LoginRequired()
    if principal.csrf_token is not None and request.method not in _SAFE_METHODS:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, principal.csrf_token):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="missing or wrong CSRF token; reload the page")
    request.state.scope = scope = Scope.of(principal, parts.config)
    if not scope.everything:  # it may read the database: not on the event loop
        await run_in_threadpool(guard, request, scope, parts.sessions)
    return principal


PrincipalDep = Annotated[Principal, Depends(require_principal)]


def get_scope(request: Request, principal: PrincipalDep) -> Scope:
    return request.state.scope


ScopeDep = Annotated[Scope, Depends(get_scope)]


def allowed(*permissions: Permission):  # noqa: ANN201 (a FastAPI dependency)
    """A dependency: the principal, if its role may one of ``permissions``; 403 otherwise.
    A dependency rather than a check in the route so that the 403 comes before the body is
    validated: a viewer learns nothing from a 422."""

    def check(principal: PrincipalDep) -> Principal:
        if not any(principal.can(p) for p in permissions):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"role {principal.role.value!r} may not {' or '.join(permissions)}")
        return principal

    return check


def may(*permissions: Permission) -> type[Principal]:
    """``actor: may(Permission.TICKETS_WORK)`` in a route's signature (one of them, if several)."""
    return Annotated[Principal, Depends(allowed(*permissions))]  # type: ignore[return-value]
