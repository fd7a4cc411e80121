"""The control-room dashboard: stations, live values, open tickets with SLA countdowns.

Server-rendered and self-contained (no CDN, no external fonts): control rooms run on
isolated networks. Times are shown in each site's local time.
"""

from __future__ import annotations

from datetime import datetime

import io
import math
import struct
import wave
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ComponentsDep, SessionDep
from api.views import asset_view, live_values
from domain.time import to_local
from storage import repository

router = APIRouter(include_in_schema=False)


# Digits worth showing per unit: a control room reads 2.487 kPa, not 2.4871935367584.
DECIMALS = {"MPa": 3, "kPa": 3, "Nm3/h": 1, "degC": 1, "%LEL": 1, "V": 2, "s": 0, "state": 0}


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "state":
        return str(int(value))
    return f"{value:.{DECIMALS.get(unit, 3)}f} {unit}"


def countdown(deadline: datetime, now: datetime) -> str:
    seconds = int((deadline - now).total_seconds())
    sign = "" if seconds >= 0 else "overdue "
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, parts: ComponentsDep, session: SessionDep):
    now = parts.clock.now()
    sites = repository.list_sites(session)
    zones = {s.id: s.time_zone for s in sites}
    rows = repository.list_assets(session)
    values = live_values(parts, [r.id for r in rows], now=now)
    assets = [asset_view(parts, r, values.get(r.id, [])) for r in rows]
    open_tickets = repository.list_tickets(session, open_only=True)
    firing = repository.list_alerts(session, state="firing")
    symptoms = repository.symptoms_of(session, open_tickets)
    site_of = {a.id: a.site_id for a in assets}
    context = {
        "now": now,
        "sites": [
            {"site": s, "local_now": to_local(now, s.time_zone), "assets": [a for a in assets if a.site_id == s.id]}
            for s in sites
        ],
        "tickets": [
            {
                "t": t,
                "opened": to_local(t.opened_at, zones[t.site_id]),
                "arrive_by": to_local(t.arrive_by, zones[t.site_id]),
                "countdown": countdown(t.arrive_by, now) if t.arrived_at is None else "arrived",
                "overdue": t.arrived_at is None and t.arrive_by < now,
                # the fault's other alerts, one line each (a regulator failure: relief venting ...)
                "symptoms": symptoms.get(t.id, []),
            }
            for t in open_tickets
        ],
        "alarming": {(a.asset_id, a.channel) for a in firing},
        # What the alarm sounds for: firing, paged, nobody has acknowledged or muted it.
        "sounding": [a for a in firing if a.acknowledged_at is None and a.suppressed_by is None
                     and (a.muted_until is None or a.muted_until <= now)],
        "show": show,
        "alerts": [
            {
                "a": a,
                "started": to_local(a.started_at, zones.get(site_of.get(a.asset_id, ""), "UTC")),
                "muted_until": (to_local(a.muted_until, zones.get(site_of.get(a.asset_id, ""), "UTC"))
                                if a.muted_until is not None and a.muted_until > now else None),
            }
            for a in firing
        ],
    }
    return request.app.state.templates.TemplateResponse(request, "dashboard.html", context)


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
