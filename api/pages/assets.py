"""The asset page (/asset/{asset_id}): what a technician needs at a station, on a phone too.

Live values in words and units, the latest picture check, trend charts (ECharts, served
from /static/vendor/ and fed by /api/assets/{id}/trend), limits, device facts and health,
alerts, tickets, inspections and field readings. A Modbus gateway's page lists the stations
behind it; a station behind an offline gateway is shown offline through it, not as its own
fault. Without the chart library installed the page still shows everything else and says
that charts are unavailable.
"""

from __future__ import annotations

import logging
from functools import cache, partial
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.context import ApiContext
from sitewatch.api.dashboard.status import STATUS_LABELS, Firing, asset_status
from sitewatch.api.deps import ComponentsDep, PrincipalDep, SessionDep
from sitewatch.api.pages import asset_facts as facts
from sitewatch.api.pages.common import local, render, request_locale
from sitewatch.api.routes.trends import Range, channel_limits, visible_asset
from sitewatch.api.schemas import ValuePublic
from sitewatch.api.views import live_values
from sitewatch.auth.roles import Principal
from sitewatch.config.models import Asset, Config
from sitewatch.domain.health import DeviceHealth
from sitewatch.i18n import labels
from sitewatch.storage import repository
from sitewatch.storage.snapshots import snapshot_folder, snapshot_taken_at
from sitewatch.storage.tables import AlertRow

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# Copied here by `make` from web/node_modules (web/package.json pins the version).
ECHARTS = Path(__file__).resolve().parent.parent / "static" / "vendor" / "echarts.min.js"
ECHARTS_URL = "/static/vendor/echarts.min.js"

RANGE_NAMES = {
    Range.HOUR: i18n.lazy("Last hour"),
    Range.DAY: i18n.lazy("Last day"),
    Range.WEEK: i18n.lazy("Last week"),
    Range.MONTH: i18n.lazy("Last month"),
}


@router.get("/asset/{asset_id}", response_class=HTMLResponse)
def asset_page(asset_id: str, request: Request, parts: ComponentsDep, session: SessionDep, principal: PrincipalDep):
    asset = visible_asset(parts, principal, asset_id)
    site = parts.config.site(asset.site)
    tz = site.time_zone
    now = parts.clock.now()
    values = live_values(parts, [asset_id], now=now).get(asset_id, [])
    health_of = partial(_health, parts)
    health = health_of(asset_id)
    gateway = facts.gateway_of(parts.config, asset)
    gateway_down = gateway if gateway is not None and _down(parts, session, gateway) else None
    charts = charts_available()
    locale = request_locale(request, principal)
    with i18n.using(locale):
        picture = facts.picture(values, tz)
        shown = [v for v in values if picture is None or not v.channel.startswith("picture_")]
        inspected = facts.inspections(session, asset, tz)
        firing = repository.list_alerts(session, state="firing", asset_id=asset_id)
        context = {
            "asset": asset, "site": site, "now_local": local(now, tz, "%Y-%m-%d %H:%M"),
            "status": _status(parts.config, firing, at_work=facts.at_work(parts.config, asset, site, inspected, now),
                              unreachable=facts.down(health) or gateway_down is not None),
            "values": facts.live(shown, tz),
            "picture": picture,
            # The JPEG itself comes from /api/assets/{id}/snapshot.jpg; the page says when it was taken.
            "snapshot_at": (snapshot_taken_at(snapshot_folder(parts.config.storage.data_dir), asset_id)
                            if asset.onvif is not None and asset.onvif.snapshot else None),
            "device": facts.device_facts(parts.config, asset, site, repository.get_asset(session, asset_id)),
            "health": facts.health_facts(health, tz, gateway_down=gateway_down),
            "stations": (facts.stations(asset, _visible_behind(parts, principal, asset), health_of,
                                        gateway_down=_down(parts, session, asset))
                         if asset.modbus_gateway is not None else None),
            "settings": facts.settings(asset),
            "limits": facts.limits(parts.config, asset, values),
            "alerts": facts.alerts(session, asset_id, tz),
            "tickets": facts.tickets(session, asset_id, tz),
            "inspections": inspected,
            "readings": facts.readings(session, asset_id, tz),
            "charts": charts,
            "echarts_url": ECHARTS_URL,
            # For asset.js, in a <script type="application/json">: no markup can break out of it.
            "chart": {
                "asset": asset_id,
                "channels": [{"channel": v.channel, "label": labels.label(v.channel)} for v in values],
                "channel": _first_chart(parts.config, asset, values),
                "ranges": [{"range": r.value, "label": i18n.gettext(name)} for r, name in RANGE_NAMES.items()],
                "range": Range.DAY.value,
                "locale": "zh-CN" if locale == "zh_CN" else "en",
                "text": _chart_text(),
            },
        }
    return render(request, "asset.html", context, principal=principal)


def _health(parts: ApiContext, device_id: str) -> DeviceHealth | None:
    try:
        return parts.health.get(device_id)
    except KeyError:
        return None  # polled by another process, or it pushes (alarm hosts)


def _down(parts: ApiContext, session: Session, gateway: Asset) -> bool:
    """Down as its stations see it: the collector here cannot connect it, or an alert of an
    offline rule fires on it (the line behind it is silent, or another process polls it) —
    the alert that holds its stations' own (tickets/holds.py)."""
    if facts.down(_health(parts, gateway.id)):
        return True
    offline_rules = {r.id for r in parts.config.rules if r.offline}
    return any(a.rule_id in offline_rules for a in repository.list_alerts(session, state="firing", asset_id=gateway.id))


def _visible_behind(parts: ApiContext, principal: Principal, gateway: Asset) -> list[Asset]:
    """The stations behind the gateway that the reader's customer scope covers."""
    return [a for a in parts.config.behind(gateway.id) if principal.sees(parts.config.site(a.site).customer)]


def charts_available() -> bool:
    if ECHARTS.is_file():
        return True
    _say_how_to_install(ECHARTS)
    return False


@cache
def _say_how_to_install(missing: Path) -> None:
    """Once per process: the pages work without charts, the log says how to get them."""
    log.warning("charts unavailable: %s is missing; install it with `make api/static/vendor/echarts.min.js` "
                "in the source tree (npm ci --prefix web, then a copy of "
                "web/node_modules/echarts/dist/echarts.min.js)", missing)


def _first_chart(config: Config, asset: Asset, values: list[ValuePublic]) -> str | None:
    """The channel the chart opens on: the first one with limits (outlet pressure at a
    regulator), else the first measurement, else the first channel."""
    for v in values:
        if v.unit != "state" and channel_limits(config, asset, v.channel):
            return v.channel
    measured = [v.channel for v in values if v.unit != "state"]
    return measured[0] if measured else (values[0].channel if values else None)


def _status(config: Config, firing: list[AlertRow], *, at_work: str | None, unreachable: bool) -> dict[str, str]:
    """The control room's status of the asset (api/dashboard/status.py), in words."""
    silent = {r.id for r in config.rules if r.offline or r.kind == "no_data"}
    status, _reason = asset_status([Firing(severity=a.severity, silence=a.rule_id in silent, held_by=a.suppressed_by)
                                    for a in firing], at_work=at_work, unreachable=unreachable)
    return {"css": status.value, "text": i18n.gettext(STATUS_LABELS[status])}


def _chart_text() -> dict[str, str]:
    """The words the chart script shows, in the page's language."""
    _ = i18n.gettext
    return {"min": _("Minimum"), "max": _("Maximum"), "mean": _("Average"), "alert": _("Alert"),
            "no_data": _("No samples in this period."), "failed": _("The chart could not be loaded:"),
            "local_time": _("site time"),
            "unavailable": _("Charts are unavailable: the chart library could not be loaded.")}
