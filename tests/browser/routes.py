"""Every route of the app, with its path parameters (and required query parameters) filled
from the scene: the walkers (viewer, scoped user, untranslated text) go through all of
them, so a page added later is walked too — or fails here, naming the parameter that has
no value yet."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import routing
from fastapi.routing import APIRoute
from sqlalchemy import select

from sitewatch.api.app import create_app
from sitewatch.components import asset_channels
from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.tables import TicketRow
from tests.browser.instance import ALARM_STATION, OTHER_STATION, OWN, Running
from tests.browser.scene import Scene

_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
# Routes the walkers leave alone, and why.
NOT_WALKED = {
    "/docs": "Swagger UI for integrators: a third party's page, in English by design",
    "/login": "the login form, walked logged out by the tests that need it",
    "/api/assets/{asset_id}/snapshot.jpg": "a camera's kept picture, not a page: 404 for a station, which has none; "
                                           "scope and 404s in tests/api/test_scope.py and test_asset_snapshot.py",
}
LOGIN_FORMS = ("/login", "/logout", "/language")  # posts that every visitor may make


@dataclass(frozen=True)
class Route:
    path: str  # the template, e.g. /tickets/{ticket_id}
    methods: frozenset[str]
    query: frozenset[str]  # the query parameters it takes
    required: tuple[str, ...] = ()  # ... and those it cannot do without

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


@dataclass(frozen=True)
class Values:
    """What to fill a customer's URLs with: per parameter name, one URL per value."""

    by_name: dict[str, tuple[str, ...]]
    channel_of: dict[str, str]  # asset → one of its channels (a trend's required query)
    query_of: dict[str, dict[str, str]]  # route → its whole query, where its parameters go together

    def __or__(self, more: dict[str, tuple[str, ...]]) -> Values:
        return Values(self.by_name | more, self.channel_of, self.query_of)


def routes_of(running: Running) -> tuple[Route, ...]:
    # The running service built its own app; this one, on the same components, is only read.
    app = create_app(running.parts)
    # FastAPI 0.16x keeps included routers as they are and resolves their routes lazily;
    # iter_route_contexts (what its OpenAPI generator uses) gives each with its full path.
    contexts = getattr(routing, "iter_route_contexts", None)
    found = []
    for route in contexts(app.routes) if contexts else app.routes:
        endpoint = getattr(route, "original_route", route)
        if isinstance(endpoint, APIRoute):
            query = endpoint.dependant.query_params
            found.append(Route(route.path, frozenset(route.methods), frozenset(p.alias for p in query),
                               tuple(p.alias for p in query if p.field_info.is_required())))
    return tuple(found)


def reads(routes: tuple[Route, ...]) -> list[Route]:
    return [r for r in routes if "GET" in r.methods and r.path not in NOT_WALKED]


def writes(routes: tuple[Route, ...]) -> list[Route]:
    return [r for r in routes if r.methods - {"GET", "HEAD"} and r.path not in LOGIN_FORMS]


def values(running: Running, scene: Scene, *, customer: str) -> Values:
    """Everything to fill URLs with, all belonging to ``customer``."""
    own = customer == OWN
    ticket = scene.open_ticket if own else scene.other_ticket
    return Values({
        "asset_id": (ALARM_STATION, running.camera_id) if own else (OTHER_STATION,),
        "ticket_id": (str(ticket),),
        "delivery_id": (str(dead_letter(running, ticket)),),
        "alert_id": (str(scene.open_alert if own else scene.other_alert),),
        "inspection_id": (str(scene.own_inspection if own else scene.other_inspection),),
        "site_id": ("north",) if own else ("harbour",),
        "customer_id": (customer,),
        "day": (scene.day.isoformat(),),
        "month": (scene.month,),
        "quarter": (scene.quarter,),
    }, channel_of={a.asset_id: next(iter(a.channels)) for a in asset_channels(running.parts.config)},
        # the reports page's picker: a site's monthly inspection report
        query_of={"/reports/open": {"kind": "inspections", "period": scene.month,
                                    "site_id": "north" if own else "harbour"}})


def dead_letter(running: Running, ticket_id: int) -> int:
    """A message about the ticket that paging gave up on (made once, as the sender leaves one):
    the retry routes name it, and the ticket page and /admin/paging list it. Its channel and
    error are what a receiver would name them — ids and codes, not English text."""
    key = f"browser-walk/t{ticket_id}/dead"
    with running.parts.sessions() as session:
        found = session.scalar(select(DeliveryRow.id).where(DeliveryRow.key == key))
        if found is not None:
            return found
        ticket = session.get(TicketRow, ticket_id)
        now = running.parts.clock.now()
        row = DeliveryRow(key=key, ticket_id=ticket_id, site_id=ticket.site_id, kind="opened", channel="hook-1",
                          recipient="group:hook-1", locale="zh_CN", content={"subject": ""}, state="dead",
                          created_at=now - timedelta(minutes=5), next_attempt_at=now - timedelta(minutes=4),
                          attempts=3, last_error="HTTP 503", dead_at=now - timedelta(minutes=1))
        session.add(row)
        session.commit()
        return row.id


def fill(route: Route, filled: Values) -> list[str]:
    """Every URL of the route with these values (several for a parameter: one URL each)."""
    together = filled.query_of.get(route.path)
    wanted = [*route.params, *(q for q in route.required if q != "channel" and together is None)]
    missing = [p for p in wanted if p not in filled.by_name]
    assert not missing, (f"{route.path}: no value for {missing} — add them to values() in "
                         f"tests/browser/routes.py so the route is walked")
    urls = []
    for combination in itertools.product(*(filled.by_name[p] for p in wanted)):
        chosen = dict(zip(wanted, combination))
        url = _PARAM.sub(lambda m, chosen=chosen: chosen[m.group(1)], route.path)
        query = dict(together) if together is not None else {
            q: chosen[q] for q in route.required if q != "channel"}
        if "channel" in route.required:
            query["channel"] = filled.channel_of[chosen["asset_id"]]
        urls.append(f"{url}?{urlencode(query)}" if query else url)
    return urls


def urls(routes: list[Route], filled: Values) -> list[str]:
    return [url for r in routes for url in fill(r, filled)]
