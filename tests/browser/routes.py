"""Every route of the app, with its path parameters filled from the scene: the walkers
(viewer, scoped user, untranslated text) go through all of them, so a page added later is
walked too — or fails here, naming the parameter that has no value yet."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from fastapi.routing import APIRoute

from api.app import create_app
from tests.browser.instance import ALARM_STATION, OTHER_STATION, OWN, Running
from tests.browser.scene import Scene

_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
# Routes the walkers leave alone, and why.
NOT_WALKED = {
    "/docs": "Swagger UI for integrators: a third party's page, in English by design",
    "/login": "the login form is walked logged out (test_login.py)",
}
LOGIN_FORMS = ("/login", "/logout", "/language")  # posts that every visitor may make


@dataclass(frozen=True)
class Route:
    path: str  # the template, e.g. /tickets/{ticket_id}
    methods: frozenset[str]
    query: frozenset[str]  # the query parameters it takes

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


def routes_of(running: Running) -> tuple[Route, ...]:
    # The running service built its own app; this one, on the same components, is only read.
    app = create_app(running.parts)
    return tuple(
        Route(r.path, frozenset(r.methods), frozenset(p.name for p in r.dependant.query_params))
        for r in app.routes if isinstance(r, APIRoute)
    )


def reads(routes: tuple[Route, ...]) -> list[Route]:
    return [r for r in routes if "GET" in r.methods and r.path not in NOT_WALKED]


def writes(routes: tuple[Route, ...]) -> list[Route]:
    return [r for r in routes if r.methods - {"GET", "HEAD"} and r.path not in LOGIN_FORMS]


def values(running: Running, scene: Scene, *, customer: str) -> dict[str, tuple[str, ...]]:
    """Path parameter → what to fill it with, all belonging to ``customer``."""
    own = customer == OWN
    return {
        "asset_id": (ALARM_STATION, running.camera_id) if own else (OTHER_STATION,),
        "ticket_id": (str(scene.open_ticket if own else scene.other_ticket),),
        "alert_id": (str(scene.open_alert if own else scene.other_alert),),
        "inspection_id": (str(scene.own_inspection if own else scene.other_inspection),),
        "site_id": ("north",) if own else ("harbour",),
        "customer_id": (customer,),
        "day": (scene.day.isoformat(),),
        "month": (scene.month,),
        "quarter": (scene.quarter,),
    }


def fill(route: Route, filled: dict[str, tuple[str, ...]]) -> list[str]:
    """Every URL of the route with these values (several for a parameter: one URL each)."""
    missing = [p for p in route.params if p not in filled]
    assert not missing, (f"{route.path}: no value for {missing} — add them to values() in "
                         f"tests/browser/routes.py so the route is walked")
    urls = []
    for combination in itertools.product(*(filled[p] for p in route.params)):
        url = route.path
        for param, value in zip(route.params, combination):
            url = _PARAM.sub(lambda m, p=param, v=value: v if m.group(1) == p else m.group(0), url)
        urls.append(url)
    return urls


def urls(routes: list[Route], filled: dict[str, tuple[str, ...]], *, with_params: bool | None = None) -> list[str]:
    """The URLs of ``routes`` (only those with path parameters, or without, if asked)."""
    chosen = [r for r in routes if with_params is None or bool(r.params) == with_params]
    return [url for r in chosen for url in fill(r, filled)]
