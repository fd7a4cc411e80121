"""What the asset page shows, gathered: live values in words, the device's facts and health,
its alerts, tickets, inspections and field readings, and the latest picture check; for a
Modbus gateway, the stations behind it.

Everything comes out as text for people in the current locale (``i18n/labels.py`` for
channels and values) and times on the site's clock; the template only lays it out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.pages.common import local
from sitewatch.api.routes.trends import SETTING_NAMES, channel_limits
from sitewatch.api.schemas import ValuePublic
from sitewatch.collector.modbus.config import ModbusGateway
from sitewatch.config.models import Asset, Config, Site
from sitewatch.domain.health import DeviceHealth, HealthState
from sitewatch.i18n import labels, messages
from sitewatch.inspections.plans import PLAN_KINDS, plan
from sitewatch.storage.tables import AlertRow, AssetRow, FieldReadingRow, InspectionRow, TicketRow
from sitewatch.tickets.words import SEVERITIES, STATES

KINDS = {
    "regulator_station": i18n.lazy("Regulator station"),
    "regulator_cabinet": i18n.lazy("Regulator cabinet"),
    "regulator_box": i18n.lazy("Regulator box"),
    "camera": i18n.lazy("Camera"),
    "encoder": i18n.lazy("Video encoder"),
    "nvr": i18n.lazy("Network video recorder"),
    "alarm_host": i18n.lazy("Alarm host"),
    "modbus_gateway": i18n.lazy("Modbus gateway"),
}
# How a gateway (or a station with its own converter) carries Modbus: collector/modbus/config.py.
FRAMINGS = {
    "tcp": i18n.lazy("Modbus TCP"),
    "rtu_over_tcp": i18n.lazy("RTU frames over TCP (serial server or DTU)"),
    "rtu": i18n.lazy("RTU on a serial line (RS-485)"),
}
QUALITIES = {
    "good": None,
    "stale": i18n.lazy("stale: the device has not answered for a while"),
    "comm_error": i18n.lazy("communication error"),
    "not_polled": i18n.lazy("not polled: the collector had no time to spare"),
}
HEALTH_STATES = {
    "unknown": i18n.lazy("not polled yet"),
    "online": i18n.lazy("answering"),
    "degraded": i18n.lazy("failing"),
    "offline": i18n.lazy("not answering"),
}
NOT_POLLED_HERE = i18n.lazy("not polled by this server process")
# What a device reports about itself (collector/onvif/decode.py DeviceInfo), in this order;
# a Modbus station's strings under these channel names too. Other strings a profile reads
# are shown by their channel name, as i18n/labels.py shows an unknown channel.
REPORTED = (
    ("manufacturer", i18n.lazy("Manufacturer")),
    ("model", i18n.lazy("Model")),
    ("firmware", i18n.lazy("Firmware")),
    ("serial", i18n.lazy("Serial number")),
    ("hardware_id", i18n.lazy("Hardware id")),
)
PICTURE_FIGURES = ("picture_laplacian_var", "picture_mean_level", "picture_change")
HISTORY_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Value:
    channel: str
    label: str
    text: str
    quality: str  # good | stale | comm_error | not_polled
    problem: str | None  # the quality in words, None when good
    at: str  # site-local


@dataclass(frozen=True, slots=True)
class Link:
    """A fact whose value opens another page (the gateway a station is reached through)."""

    text: str
    href: str


@dataclass(frozen=True, slots=True)
class Station:
    """A station behind a gateway, as the gateway's page lists it."""

    id: str
    name: str
    device_id: int
    state: str  # a HealthState value; "offline" while its gateway is
    connection: str  # in words


HealthOf = Callable[[str], DeviceHealth | None]  # None: this process does not poll the device


@dataclass(frozen=True, slots=True)
class Picture:
    verdict: str | None
    ok: bool
    at: str
    figures: list[tuple[str, str]] = field(default_factory=list)  # (label, value)


def live(values: list[ValuePublic], time_zone: str) -> list[Value]:
    return [
        Value(channel=v.channel, label=labels.label(v.channel), text=labels.show(v.channel, v.value, v.unit),
              quality=v.quality, problem=_translated(QUALITIES.get(v.quality, v.quality)),
              at=local(v.ts, time_zone, "%m-%d %H:%M:%S"))
        for v in values
    ]


def picture(values: list[ValuePublic], time_zone: str) -> Picture | None:
    """The latest snapshot's verdict and figures; None for a device without a picture check.
    The JPEG itself is kept apart, as a file (storage/snapshots.py)."""
    by_channel = {v.channel: v for v in values if v.channel.startswith("picture_")}
    if not by_channel:
        return None
    verdict = labels.picture_verdict({c: math.nan if v.value is None else v.value for c, v in by_channel.items()})
    newest = max(v.ts for v in by_channel.values())
    figures = [(labels.label(c), labels.show(c, by_channel[c].value, by_channel[c].unit))
               for c in PICTURE_FIGURES if c in by_channel]
    ok = by_channel.get("picture_ok")
    return Picture(verdict=verdict, ok=ok is not None and ok.value is not None and ok.value >= 0.5, at=local(newest, time_zone), figures=figures)


def device_facts(config: Config, asset: Asset, site: Site, row: AssetRow | None) -> list[tuple[str, str | Link]]:
    """(what, value) pairs: kind, where, how it is reached, what it says it is."""
    _ = i18n.gettext
    customer = next((c.name for c in config.customers if c.id == site.customer), site.customer)
    facts: list[tuple[str, str | Link]] = [
        (_("Kind"), _translated(KINDS.get(asset.kind, asset.kind))), (_("Customer"), customer), (_("Site"), site.name)]
    if site.address:
        facts.append((_("Address"), site.address))
    if asset.modbus is not None:
        if asset.modbus.gateway is not None:  # its gateway's page says how that is reached
            facts.append((_("Reached through"), _link(config, asset.modbus.gateway)))
        else:
            facts.append((_("Modbus address"), f"{asset.modbus.host}:{asset.modbus.port}"))
            if asset.modbus.framing != "tcp":
                facts.append((_("Framing"), _translated(FRAMINGS[asset.modbus.framing])))
        facts += [(_("Modbus device id"), str(asset.modbus.device_id)),
                  (_("Register profile"), asset.modbus.profile)]
    if asset.modbus_gateway is not None:
        facts += _gateway_facts(asset.modbus_gateway)
    if asset.onvif is not None:
        facts += [(_("ONVIF address"), f"{asset.onvif.host}:{asset.onvif.port}"),
                  (_("Snapshot check"), _yes_no(asset.onvif.snapshot)),
                  (_("Camera events"), _yes_no(asset.onvif.events))]
    if asset.alarm_host is not None:
        facts += [(_("Alarm host id"), asset.alarm_host.host_id), (_("Zones"), str(asset.alarm_host.zones))]
    else:  # alarm hosts push their events; they are not polled
        facts.append((_("Poll interval"), messages.Seconds(asset.poll_interval_s).render()))
    if asset.depends_on and (asset.modbus is None or asset.modbus.gateway is None):  # a gateway's: above
        facts.append((_("Reached through"), _link(config, asset.depends_on)))
    if asset.installed_on:
        facts.append((_("In service since"), asset.installed_on.isoformat()))
    reported = row.reported if row is not None else {}
    known = {key for key, _name in REPORTED}
    facts += [(_translated(name), str(reported[key])) for key, name in REPORTED if reported.get(key)]
    facts += [(key, str(value)) for key, value in sorted(reported.items()) if key not in known and value]
    return facts


def _link(config: Config, asset_id: str) -> Link:
    return Link(text=config.asset(asset_id).name, href=f"/asset/{asset_id}")


def _gateway_facts(gateway: ModbusGateway) -> list[tuple[str, str]]:
    """How the gateway is reached: its framing, address or serial line, and its pace."""
    _ = i18n.gettext
    facts = [(_("Framing"), _translated(FRAMINGS[gateway.framing]))]
    if gateway.serial is not None:
        line = gateway.serial
        facts.append((_("Serial line"), _("%(device)s, %(baudrate)s baud, %(bytesize)s%(parity)s%(stopbits)s",
                                          device=line.device, baudrate=line.baudrate, bytesize=line.bytesize,
                                          parity=line.parity, stopbits=line.stopbits)))
    else:
        facts.append((_("Modbus address"), f"{gateway.host}:{gateway.port}"))
    facts.append((_("Pause between requests"), f"{gateway.pause_between_requests_ms:g} ms"))
    return facts


def gateway_of(config: Config, asset: Asset) -> Asset | None:
    """The modbus_gateway asset a station is reached through, if any."""
    if asset.modbus is None or asset.modbus.gateway is None:
        return None
    return config.asset(asset.modbus.gateway)


def down(health: DeviceHealth | None) -> bool:
    return health is not None and health.state is HealthState.OFFLINE


def stations(gateway: Asset, assets: list[Asset], health_of: HealthOf, *, gateway_down: bool) -> list[Station]:
    """The stations behind ``gateway`` with their connection: while the gateway is down,
    theirs is the gateway's fault, whatever their own records last said."""
    out = []
    for asset in assets:
        assert asset.modbus is not None
        state, words = connection(health_of(asset.id), gateway_down=gateway if gateway_down else None)
        out.append(Station(id=asset.id, name=asset.name, device_id=asset.modbus.device_id, state=state,
                           connection=words))
    return out


def connection(health: DeviceHealth | None, *, gateway_down: Asset | None = None) -> tuple[str, str]:
    """(state, words) of a device's connection; ``gateway_down``: the gateway it is reached
    through when that is down, which then answers for it."""
    if gateway_down is not None:
        return (HealthState.OFFLINE.value,
                i18n.gettext("not answering through gateway %(gateway)s, which is down", gateway=gateway_down.name))
    if health is None:
        return HealthState.UNKNOWN.value, i18n.gettext(NOT_POLLED_HERE)
    return health.state.value, i18n.gettext(HEALTH_STATES[health.state.value])


def health_facts(health: DeviceHealth | None, time_zone: str, *,
                 gateway_down: Asset | None = None) -> list[tuple[str, str]]:
    """The collector's record of the device (this process polls it), else nothing; and the
    gateway it is reached through, when that is down, as its connection."""
    _ = i18n.gettext
    connected = (_("Connection"), connection(health, gateway_down=gateway_down)[1])
    if health is None:
        return [connected] if gateway_down is not None else []
    facts = [connected,
             (_("Last answer"), local(health.last_success, time_zone, "%Y-%m-%d %H:%M:%S")),
             (_("Failed polls in a row"), str(health.consecutive_failures))]
    if health.last_error:
        facts += [(_("Last error"), health.last_error),
                  (_("Last failure"), local(health.last_failure, time_zone, "%Y-%m-%d %H:%M:%S"))]
    return facts


def settings(asset: Asset) -> list[tuple[str, str]]:
    """The regulator's pressures, as set on site (kPa)."""
    if asset.regulator is None:
        return []
    return [(i18n.gettext(SETTING_NAMES[name]), labels.show(name, value, "kPa"))
            for name, value in asset.regulator.model_dump().items()]


def limits(config: Config, asset: Asset, values: list[ValuePublic]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per measured channel with any, the levels the rules judge it by: (channel label, [(what,
    value)]). A state channel's level (0.5: "on") says nothing its alerts do not."""
    out = []
    for v in values:
        if v.unit == "state":
            continue
        found = [x for x in channel_limits(config, asset, v.channel) if x.kind != "setting"]
        if found:
            out.append((labels.label(v.channel), [(x.text(), labels.show(v.channel, x.value, v.unit))
                                                  for x in found]))
    return out


def alerts(session: Session, asset_id: str, time_zone: str) -> list[dict]:
    rows = session.scalars(select(AlertRow).where(AlertRow.asset_id == asset_id)
                           .order_by(AlertRow.started_at.desc(), AlertRow.id.desc()).limit(HISTORY_LIMIT))
    # The rules' own summary in the reader's language; a row from before summaries were
    # kept as messages shows the channel and value instead of its English.
    return [{"id": a.id, "label": labels.label(a.channel), "severity": a.severity,
             "summary": messages.render(a.summary_msg, "") or None,
             "severity_label": _translated(SEVERITIES.get(a.severity, a.severity)),
             "value": labels.show(a.channel, a.value, a.unit), "started": local(a.started_at, time_zone),
             "ended": local(a.resolved_at, time_zone) if a.resolved_at else None,
             "acknowledged_by": a.acknowledged_by, "ticket_id": a.ticket_id} for a in rows]


def inspections(session: Session, asset: Asset, time_zone: str) -> list[dict]:
    """Rounds and checks of this asset or of its whole site, newest first."""
    rows = session.scalars(
        select(InspectionRow).where(InspectionRow.site_id == asset.site,
                                    (InspectionRow.asset_id == asset.id) | InspectionRow.asset_id.is_(None))
        .order_by(InspectionRow.started_at.desc()).limit(HISTORY_LIMIT))
    return [{"id": i.id, "what": _translated(plan(i.kind).title) if i.kind in PLAN_KINDS else i.kind,
             "in_charge": i.in_charge, "people": i.people, "started": local(i.started_at, time_zone),
             "ended": local(i.ended_at, time_zone) if i.ended_at else None} for i in rows]


def readings(session: Session, asset_id: str, time_zone: str) -> list[dict]:
    """Field readings taken here, each against SCADA's value at the same moment."""
    rows = session.scalars(select(FieldReadingRow).where(FieldReadingRow.asset_id == asset_id)
                           .order_by(FieldReadingRow.taken_at.desc()).limit(HISTORY_LIMIT))
    return [{"inspection_id": r.inspection_id, "taken": local(r.taken_at, time_zone), "label": labels.label(r.channel),
             "field": labels.show(r.channel, r.value, r.unit), "scada": labels.show(r.channel, r.scada_value, r.unit),
             "difference": labels.show(r.channel, r.difference, r.unit) if r.difference is not None else "—",
             "within": r.within_tolerance, "ticket_id": r.ticket_id} for r in rows]


def at_work(config: Config, asset: Asset, site: Site, inspected: list[dict], now: datetime) -> str | None:
    """Why technicians are at the asset ("inspection:<id>", "maintenance:<window>"), or None."""
    for i in inspected:
        if i["ended"] is None:
            return f"inspection:{i['id']}"
    for window in config.maintenance_windows:
        if window.covers(now, asset_id=asset.id, site_id=site.id, time_zone=site.time_zone):
            return f"maintenance:{window.id}"
    return None


def tickets(session: Session, asset_id: str, time_zone: str) -> list[dict]:
    rows = session.scalars(select(TicketRow).where(TicketRow.asset_id == asset_id)
                           .order_by(TicketRow.opened_at.desc(), TicketRow.id.desc()).limit(HISTORY_LIMIT))
    return [{"id": t.id, "label": labels.label(t.channel) if t.channel else "—",
             "title": messages.render(t.title_msg, "") or None,
             "state": _translated(STATES.get(t.state, t.state)),
             "severity": t.severity, "severity_label": _translated(SEVERITIES.get(t.severity, t.severity)),
             "opened": local(t.opened_at, time_zone), "closed": t.state == "closed",
             "breached": t.sla_breached} for t in rows]


def _yes_no(flag: bool) -> str:
    return i18n.gettext("Yes") if flag else i18n.gettext("No")


def _translated(message: str | None) -> str | None:
    return None if message is None else i18n.gettext(message)
