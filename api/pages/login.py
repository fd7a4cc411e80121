"""Logging in and out, and choosing the language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sitewatch import i18n
from sitewatch.api.deps import (
    LOCALE_COOKIE,
    SESSION_COOKIE,
    ComponentsDep,
    PrincipalDep,
    SessionDep,
    optional_principal,
)
from sitewatch.api.pages.common import render, request_locale
from sitewatch.auth.users import LoginRefused, TooManyAttempts, log_in, log_out, set_locale

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this server: a login link must not send anyone elsewhere."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, _who: Annotated[object, Depends(optional_principal)],  # shown in the header
               next: str | None = None):  # noqa: A002 (the query's name)
    return render(request, "login.html", {"next": _safe_next(next), "error": None, "username": ""})


@router.post("/login")
def login(request: Request, parts: ComponentsDep, session: SessionDep,
          username: Annotated[str, Form()], password: Annotated[str, Form()], next: Annotated[str, Form()] = "/"):  # noqa: A002
    remote = request.client.host if request.client else "-"
    now = parts.clock.now()
    try:
        opened = log_in(session, username, password, remote=remote, at=now)
        session.commit()
    except TooManyAttempts as exc:
        with i18n.using(request_locale(request)):
            error = i18n.gettext("Too many failed logins. Try again in %(seconds)s s.", seconds=exc.retry_after_s)
        response = render(request, "login.html", {"next": _safe_next(next), "error": error, "username": username},
                          status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except LoginRefused:
        with i18n.using(request_locale(request)):
            error = i18n.gettext("Wrong username or password.")
        return render(request, "login.html", {"next": _safe_next(next), "error": error, "username": username},
                      status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, opened.token, max_age=int((opened.expires_at - now).total_seconds()),
                        httponly=True, samesite="lax", secure=parts.config.api.secure_cookies, path="/")
    return response


@router.post("/logout")
def logout(request: Request, principal: PrincipalDep, parts: ComponentsDep, session: SessionDep):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        log_out(session, token, at=parts.clock.now())
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def language(request: Request, principal: PrincipalDep, parts: ComponentsDep, session: SessionDep,
             locale: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:  # noqa: A002
    """The viewer's language, kept on their user (every browser) and in a cookie."""
    chosen = i18n.normalise(locale) or i18n.DEFAULT_LOCALE
    if principal.user_id is not None:
        set_locale(session, principal.user_id, chosen, at=parts.clock.now())
        session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LOCALE_COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/")
    return response
