"""What every page shares: who is looking, in which language, and the rendering.

Pages render through :func:`render`, which translates into the viewer's language (their
own setting, else the language cookie, else the browser's Accept-Language) and gives
every template ``me`` (the principal), ``csrf`` (for its forms), ``locale``, ``nav`` and
``local`` (a UTC time shown in a site's zone).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sitewatch import i18n
from sitewatch.api.deps import LOCALE_COOKIE, PrincipalDep
from sitewatch.auth.roles import Permission, Principal
from sitewatch.domain.time import to_local

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# The navigation: (path, label, permission needed to see it or None).
NAV = (
    ("/", i18n.lazy("Control room"), None),
    ("/tickets", i18n.lazy("Tickets"), None),
    ("/review", i18n.lazy("08:30 log"), None),
    ("/inspections", i18n.lazy("Inspections"), None),
    ("/reports", i18n.lazy("Reports"), None),
    ("/admin/users", i18n.lazy("Users"), Permission.USERS_MANAGE),
    ("/admin/paging", i18n.lazy("Paging"), Permission.PAGING_ADMIN),
)


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    i18n.install(env)
    env.globals["local"] = local
    return env


def request_locale(request: Request, principal: Principal | None = None) -> str:
    if principal is not None and principal.locale in i18n.LOCALES:
        return principal.locale
    cookie = i18n.normalise(request.cookies.get(LOCALE_COOKIE))
    return cookie or i18n.negotiate(request.headers.get("accept-language"))


def local(at: datetime | None, time_zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC instant as the site's wall-clock time; '—' when there is none."""
    return "—" if at is None else to_local(at, time_zone).strftime(fmt)


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200,
           principal: Principal | None = None) -> HTMLResponse:
    principal = principal or getattr(request.state, "principal", None)
    locale = request_locale(request, principal)
    with i18n.using(locale):
        html = environment().get_template(template).render(
            request=request, me=principal, csrf=principal.csrf_token if principal else None, locale=locale,
            locales=[(code, i18n.language_name(code)) for code in i18n.LOCALES],
            nav=[(path, i18n.gettext(label)) for path, label, needed in NAV
                 if needed is None or (principal is not None and principal.can(needed))],
            path=request.url.path, Permission=Permission, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


async def reader_locale(request: Request, principal: PrincipalDep) -> str:
    """A dependency of every route behind a login: what it writes (an export, a PDF, a
    message) is in the reader's language. Async, so that the locale it sets is the
    request's own (a sync route runs in a copy of this context)."""
    locale = request_locale(request, principal)
    i18n.set_locale(locale)
    return locale


def page_principal(principal: PrincipalDep) -> Principal:
    return principal


Viewer = Annotated[Principal, Depends(page_principal)]


def forbid_unless(principal: Principal, permission: Permission) -> None:
    if not principal.can(permission):
        with i18n.using(principal.locale or i18n.DEFAULT_LOCALE):
            raise HTTPException(403, detail=i18n.gettext("Your role may not do this."))
