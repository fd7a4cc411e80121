"""The control room: sites with a status chip per asset, firing alerts grouped by fault, open
tickets counting down to their deadlines; acknowledge, mute and assign from the page.

The server renders the first state (first paint needs no script and no second request);
control_room.js then follows /live/control-room and redraws what changed, and plays the
alarm while an alert sounds. Filters live in the URL (?customer=&site=&severity=&desk=).
A problem of the process itself that the control room must see (the store's on-disk buffer
past its warning level) is shown above everything; the page asks /healthz again every
SERVICE_CHECK_S.
Self-contained: control rooms run on isolated networks, nothing comes from another host.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from datetime import datetime
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from sitewatch import i18n
from sitewatch.api.context import ServiceHealthReader
from sitewatch.api.dashboard.hub import hub_of
from sitewatch.api.dashboard.read import config_text
from sitewatch.api.dashboard.status import SLA_LABELS, STATUS_LABELS, Status
from sitewatch.api.deps import ComponentsDep, PrincipalDep
from sitewatch.api.pages.common import environment, local, render, request_locale
from sitewatch.api.routes.dashboard import FiltersDep
from sitewatch.auth.roles import Permission, Principal
from sitewatch.tickets.words import SEVERITIES, STATES, countdown, label

router = APIRouter(include_in_schema=False)

# Why an asset is held or in maintenance (the prefix of AlertRow.suppressed_by, tickets/holds.py).
REASONS = {
    "maintenance": i18n.lazy("maintenance window %(ref)s"),
    "inspection": i18n.lazy("inspection #%(ref)s in progress"),
    "offline": i18n.lazy("%(ref)s is offline"),
    "site-down": i18n.lazy("site %(ref)s is down"),
}
MUTE_MINUTES = (15, 30, 60, 120, 240, 480)
SERVICE_CHECK_S = 15  # the buffer fills over hours: a quarter-minute is soon enough
BUFFER_WARNING = i18n.lazy("Samples are waiting for the time-series store: %(samples)s in the on-disk buffer, "
                           "%(percent)s of its room. When it is full the oldest are dropped (%(dropped)s so far).")
TIME_FORMAT = "%m-%d %H:%M"


def reason_text(reason: str | None) -> str:
    if not reason:
        return ""
    kind, _, ref = reason.partition(":")
    return i18n.gettext(REASONS[kind], ref=ref) if kind in REASONS else reason


@router.get("/", response_class=HTMLResponse)
async def control_room(request: Request, principal: PrincipalDep, parts: ComponentsDep, filters: FiltersDep):
    locale = request_locale(request, principal)
    view = await hub_of(request.app).view(principal.customers, filters, locale)
    context = {"view": view, "now": parts.clock.now(), "texts": _texts, "reason_text": reason_text, "at": _at,
               "parse": _parse, "status_label": lambda s: label(STATUS_LABELS, s),
               "severity_label": lambda s: label(SEVERITIES, s), "state_label": lambda s: label(STATES, s),
               "arrival_label": lambda s: label(SLA_LABELS, s), "countdown": countdown, "config_text": config_text,
               "technicians": _technicians(parts.config), "mute_minutes": MUTE_MINUTES,
               "site_names": {s.data["id"]: s.data["name"] for s in view.scoped_sites},
               "service_warnings": service_warnings(parts.service), "service_check_ms": SERVICE_CHECK_S * 1000,
               "can_ack": principal.can(Permission.ALERTS_ACKNOWLEDGE),
               "can_dispatch": principal.can(Permission.TICKETS_DISPATCH)}
    # Ten thousand chips take a few hundred milliseconds to render: not on the event loop.
    return await run_in_threadpool(_page, request, principal, locale, context)


def _page(request: Request, principal: Principal, locale: str, context: dict[str, Any]) -> HTMLResponse:
    """The page; its bulk rendered once per version, role and minute (the countdowns count
    minutes; control_room.js recounts them every second)."""
    view, now = context["view"], context["now"]
    key = (context["can_ack"], context["can_dispatch"], now.replace(second=0, microsecond=0))
    bulk = view.rendered.get(key)
    if bulk is None:
        with i18n.using(locale):
            bulk = Markup(environment().get_template("_control_room_state.html").render(locale=locale, **context))
        if len(view.rendered) >= 4:  # earlier minutes
            view.rendered.clear()
        view.rendered[key] = bulk
    return render(request, "control_room.html", context | {"state_html": bulk}, principal=principal)


def service_warnings(service: ServiceHealthReader) -> list[str]:
    """The process's buffers past their warning level, in words (control_room.js says the same)."""
    words = []
    for buffer in service.buffers().values():
        if buffer.warning:
            numbers = {"samples": f"{buffer.samples:,}", "percent": f"{100 * buffer.samples // buffer.max_samples} %",
                       "dropped": f"{buffer.dropped:,}"}
            words.append(i18n.gettext(BUFFER_WARNING, **numbers))
    return words


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _at(iso: str | None, time_zone: str, fmt: str = TIME_FORMAT) -> str:
    """A state's UTC time on the site's clock; control_room.js writes the same."""
    return local(None if iso is None else _parse(iso), time_zone, fmt)


def _technicians(config) -> list[str]:
    """Names the assign form offers: the sites' technicians (any other may be typed)."""
    return sorted({name for site in config.sites for name in site.technicians.values()})


def _texts() -> dict[str, Any]:
    """What control_room.js writes, in the page's language (called inside the render)."""
    _ = i18n.gettext
    return {
        "status": {s.value: _(STATUS_LABELS[s]) for s in Status},
        "severity": {k: _(v) for k, v in SEVERITIES.items()},
        "state": {k: _(v) for k, v in STATES.items()},
        "arrival": {k.value: _(v) for k, v in SLA_LABELS.items()},
        "reason": {k: _(v) for k, v in REASONS.items()},
        "left": _("%(duration)s left"), "overdue": _("%(duration)s overdue"), "duration": _("%(hours)d h %(minutes)02d min"),
        "acknowledged": _("acknowledged by %(name)s"), "muted": _("muted until %(time)s by %(name)s: %(reason)s"),
        "held": _("held: %(reason)s"), "escalated": _("escalated"),
        "acknowledge": _("Acknowledge"), "comment": _("Comment (optional)"), "mute": _("Mute"), "assign": _("Assign"),
        "no_alerts": _("No alert is firing."), "no_tickets": _("No open tickets."),
        "live": _("Live"), "reconnecting": _("Connection lost, reconnecting…"),
        "sound_blocked": _("The browser blocked the alarm sound: press “Enable sound”."),
        "not_saved": _("Not saved: %(error)s"),
        "buffer_warning": _(BUFFER_WARNING),
    }


@router.get("/alarm.wav")
def alarm_sound() -> Response:
    """The control room's alarm tone, generated here: nothing is fetched from elsewhere."""
    return Response(_alarm_wav(), media_type="audio/wav", headers={"Cache-Control": "max-age=86400"})


@cache
def _alarm_wav(rate: int = 8000) -> bytes:
    # Two 880 Hz beeps and a pause: about one second, played in a loop while alerts sound.
    frames = bytearray()
    for i in range(rate):
        t = i / rate
        on = (t % 0.5) < 0.2
        frames += struct.pack("<h", int(12000 * math.sin(2 * math.pi * 880 * t)) if on else 0)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buffer.getvalue()
