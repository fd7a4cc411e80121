"""The FastAPI application factory."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import swagger_ui_bundle
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sitewatch import i18n
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import LoginRequired, PrincipalDep, login_required, require_principal
from sitewatch.api.limits import BodyLimits, IdentifyFirst
from sitewatch.api.pages import admin, assets, control_room, live, login
from sitewatch.api.pages import inspections as inspection_pages
from sitewatch.api.pages import paging as paging_pages
from sitewatch.api.pages import reports as report_pages
from sitewatch.api.pages import review as review_pages
from sitewatch.api.pages import tickets as ticket_pages
from sitewatch.api.pages.common import reader_locale, render, request_locale
from sitewatch.api.routes import backup, dashboard, inspections, inventory, paging, reports, review, tickets, trends
from sitewatch.api.schemas import BufferPublic, LoopPublic, RefusalPublic, ServiceHealthPublic
from sitewatch.domain.health import HealthState
from sitewatch.i18n.fonts import FontMissing
from sitewatch.inspections.visits import InspectionNotFound, InspectionRefused
from sitewatch.storage.timeseries import TimeSeriesError
from sitewatch.tickets.workflow import AlertNotFound, InvalidTransition, MissingDetails, TicketNotFound

log = logging.getLogger(__name__)
# FastAPI documents a 422 as its validation errors only; the workflow's refusals are a sentence.
REFUSED = {422: {"model": RefusalPublic, "description": "Not allowed: what failed validation, or why it was refused"}}


def create_app(components: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Sitewatch",
        summary="Monitoring and maintenance tickets for regulator stations and security systems",
        version="0.1.0",
        # FastAPI's own /docs loads Swagger UI from a CDN; control rooms are offline, so the
        # same UI is served from the swagger-ui-bundle package instead.
        docs_url=None,
        redoc_url=None,
    )
    app.mount("/static/docs", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.state.components = components
    # The last added runs first: a body over its limit is refused before anyone is identified,
    # and nobody's write before its body is read (api/limits.py).
    app.add_middleware(IdentifyFirst)
    app.add_middleware(BodyLimits)
    _workflow_errors(app)
    _page_errors(app)
    _login_required(app)
    app.include_router(login.router)  # the only pages open to nobody-yet
    # Everything else needs someone logged in (a session or a bearer token); what they may
    # change is checked per route (auth/roles.py), what they may see by their customer scope.
    someone = [Depends(require_principal), Depends(reader_locale)]
    api = (inventory.router, tickets.router, inspections.router, review.router, reports.router, dashboard.router,
           trends.router, paging.router, backup.router)
    pages = (control_room.router, live.router, assets.router, ticket_pages.router, review_pages.router,
             inspection_pages.router, report_pages.router, admin.router, paging_pages.router)
    for router in api:
        app.include_router(router, dependencies=someone, responses=REFUSED)
    for router in pages:
        app.include_router(router, dependencies=someone)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse, dependencies=someone)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="Sitewatch API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon-32x32.png",
        )

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics(principal: PrincipalDep) -> Response:
        """Prometheus metrics of this process (polls, devices, loops, buffers, inputs), for a
        scraper with a bearer token: nothing is read anonymously."""
        return Response(components.metrics(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["service"], responses={503: {"description": "the database cannot be reached"}})
    def healthz(response: Response) -> ServiceHealthPublic:
        """Really asks the database and the time-series store, and reports each loop. 200 even
        when degraded (the process answers; the body says what is wrong), 503 when the database
        cannot be reached: nothing this process serves can be read then, so a load balancer
        should send the requests elsewhere."""
        checks = {"database": _check_database(components), "store": _check_store(components)}
        if checks["database"] != "ok":
            response.status_code = 503
        states = [h.state for h in components.health.all()]
        service = components.service
        degraded = service.degraded(now=components.clock.now()) or any(v != "ok" for v in checks.values())
        return ServiceHealthPublic(
            status="degraded" if degraded else "ok",
            checks=checks,
            devices={s.value: states.count(s) for s in HealthState},
            loops={name: LoopPublic.model_validate(loop) for name, loop in service.loops().items()},
            set_aside=service.set_aside(),
            inputs=service.inputs(),
            buffers={name: BufferPublic.model_validate(state) for name, state in service.buffers().items()},
        )

    return app


def _check_database(components: ApiContext) -> str:
    try:
        with components.sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _check_store(components: ApiContext) -> str:
    """One real read (a series nobody writes), so a server that is down or refuses us shows."""
    now = components.clock.now()
    try:
        components.store.query(asset_id="healthz", start=now - timedelta(seconds=1), end=now, limit=1)
    except TimeSeriesError as exc:
        return f"unreachable: {exc}"
    return "ok"


# What a person is told when a page cannot be shown; the API keeps its JSON detail.
_PAGE_ERRORS = {
    403: (i18n.lazy("Not allowed"), i18n.lazy("Your role may not open or change this.")),
    404: (i18n.lazy("Not found"), i18n.lazy("This does not exist, or it is not yours to see.")),
}


def _wants_page(request: Request) -> bool:
    return (request.method == "GET" and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def _page_errors(app: FastAPI) -> None:
    """A browser opening a page it may not see gets a page in its language, not JSON; the
    same 404 for what does not exist and what belongs to another customer."""

    async def handler(request: Request, exc: StarletteHTTPException):  # noqa: ANN202
        if exc.status_code not in _PAGE_ERRORS or not _wants_page(request):
            return await http_exception_handler(request, exc)
        heading, message = _PAGE_ERRORS[exc.status_code]
        with i18n.using(request_locale(request, getattr(request.state, "principal", None))):
            heading, message = i18n.gettext(heading), i18n.gettext(message)
        return render(request, "error.html", {"heading": heading, "message": message}, status_code=exc.status_code)

    app.add_exception_handler(StarletteHTTPException, handler)


def _login_required(app: FastAPI) -> None:
    """Nobody logged in: a page sends the browser to the login form, the API answers 401."""

    async def handler(request: Request, _exc: LoginRequired):  # noqa: ANN202
        path = request.url.path
        if not _wants_page(request):
            return login_required()
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    app.add_exception_handler(LoginRequired, handler)


def _workflow_errors(app: FastAPI) -> None:
    """The workflow's refusals, as HTTP answers with the workflow's own message."""

    def answer(status: int):  # noqa: ANN202
        async def handler(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return handler

    app.add_exception_handler(TicketNotFound, answer(404))
    app.add_exception_handler(AlertNotFound, answer(404))
    app.add_exception_handler(InvalidTransition, answer(409))
    app.add_exception_handler(MissingDetails, answer(422))
    app.add_exception_handler(InspectionNotFound, answer(404))
    app.add_exception_handler(InspectionRefused, answer(409))
    app.add_exception_handler(FontMissing, answer(503))  # a Chinese PDF on a machine without a Chinese font

    async def store_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # The time-series store is down (its server unreachable, its file closed): the caller
        # may retry; the server's address stays in the log, not in the answer.
        log.error("time-series store unavailable to a request: %s", exc)
        return JSONResponse({"detail": "the time-series store is unavailable; try again later"}, status_code=503,
                            headers={"Retry-After": "10"})

    app.add_exception_handler(TimeSeriesError, store_unavailable)
