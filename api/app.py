"""The FastAPI application factory."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.routes import inspections, inventory, pages, reports, review, tickets
from api.schemas import LoopPublic, ServiceHealthPublic
from domain.health import HealthState
from sitewatch.runtime import Components
from inspections.visits import InspectionNotFound, InspectionRefused
from tickets.workflow import AlertNotFound, InvalidTransition, MissingDetails, TicketNotFound


def create_app(components: Components) -> FastAPI:
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
    app.state.components = components
    app.state.templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
    _workflow_errors(app)
    app.include_router(inventory.router)
    app.include_router(tickets.router)
    app.include_router(inspections.router)
    app.include_router(pages.router)
    app.include_router(review.router)
    app.include_router(reports.router)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title="Sitewatch API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon-32x32.png",
        )

    @app.get("/healthz", tags=["service"])
    def healthz() -> ServiceHealthPublic:
        """200 even when degraded: the process answers; the body says what is wrong."""
        states = [h.state for h in components.health.all()]
        service = components.service
        return ServiceHealthPublic(
            status="degraded" if service.degraded(now=components.clock.now()) else "ok",
            devices={s.value: states.count(s) for s in HealthState},
            loops={name: LoopPublic.model_validate(loop) for name, loop in service.loops().items()},
            set_aside=service.set_aside(),
            inputs=service.inputs(),
        )

    return app


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
