"""The control room's state: sites, assets with their status, firing alerts grouped by fault,
open tickets with their deadlines, and which alerts sound.

Built in two steps so that a hundred open dashboards cost one database read per change:

* :func:`read_snapshot` reads everything once (one query per table) and keeps each piece
  both as a dict (for the page's first render) and as its JSON text, cut along the lines
  that scope and filters cut: the assets of one site, one fault group, one ticket.
* :meth:`Snapshot.view` keeps the pieces a principal's customers and the filters let
  through and joins their JSON; no object is serialised twice.

Times are UTC ISO strings, each piece carrying its site's time zone for display.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import i18n
from api import labels
from api.dashboard.signature import active_windows
from api.dashboard.status import (
    SEVERITY_RANK, Firing, Status, arrival, asset_status, resolution, sounding,
)
from config.models import Config
from domain.alerts import AlertState
from domain.tickets import OPEN_STATES
from domain.time import UTC
from i18n import messages
from storage.tables import AlertRow, AssetRow, CustomerRow, InspectionRow, SiteRow, TicketRow
from tickets.duty import desk_for

_SILENCE_KINDS = ("no_data",)


@dataclass(frozen=True, slots=True)
class Filters:
    """The control room's filters (query parameters): each None lets everything through."""

    customer: str | None = None
    site: str | None = None
    severity: str | None = None  # at least this severity
    desk: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"customer": self.customer, "site": self.site, "severity": self.severity, "desk": self.desk}


@dataclass(frozen=True, slots=True)
class Piece:
    """One cut of the state: its dict, its JSON, and what scope and filters test."""

    data: dict[str, Any]
    json: bytes
    site_id: str | None
    rank: int = 0  # severity rank (alert groups, tickets)
    desk: str = ""
    sounding: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SitePiece:
    data: dict[str, Any]
    customer_id: str
    assets: list[dict[str, Any]]
    assets_json: bytes  # the site's assets, comma-joined objects without brackets
    counts: Counter
    json: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: str
    generated_at: datetime
    customers: dict[str, str]  # id -> name
    sites: list[SitePiece]
    groups: dict[str, list[Piece]]  # per locale: alert summaries and ticket titles are read in it
    tickets: dict[str, list[Piece]]
    desks: list[str]

    def view(self, customers: frozenset[str] | None, filters: Filters, locale: str) -> View:
        """What a principal seeing ``customers`` (None: all) is shown under ``filters``."""
        scoped = [s for s in self.sites if customers is None or s.customer_id in customers]
        shown = [s for s in scoped if filters.customer in (None, s.customer_id) and filters.site in (None, s.data["id"])]
        site_ids = {s.data["id"] for s in shown}
        narrowed = filters.customer is not None or filters.site is not None or customers is not None
        least = SEVERITY_RANK.get(filters.severity or "", -1)

        def keep(piece: Piece) -> bool:
            on_site = piece.site_id in site_ids if piece.site_id is not None else not narrowed
            return on_site and piece.rank >= least and filters.desk in (None, piece.desk)

        locale = locale if locale in self.groups else i18n.DEFAULT_LOCALE
        return View(self, filters, scoped, shown, [g for g in self.groups[locale] if keep(g)],
                    [t for t in self.tickets[locale] if keep(t)],
                    customers=[(c, self.customers.get(c, c)) for c in sorted({s.customer_id for s in scoped})])


@dataclass(slots=True)
class View:
    snapshot: Snapshot
    filters: Filters
    scoped_sites: list[SitePiece]  # every site the principal may see: the filter's choices
    sites: list[SitePiece]
    groups: list[Piece]
    tickets: list[Piece]
    customers: list[tuple[str, str]]
    _json: bytes | None = None

    @property
    def version(self) -> str:
        return self.snapshot.version

    @property
    def sounding(self) -> list[int]:
        return sorted(i for g in self.groups for i in g.sounding)

    @property
    def counts(self) -> dict[str, int]:
        total: Counter = Counter()
        for site in self.sites:
            total.update(site.counts)
        return {s.value: total.get(s.value, 0) for s in Status}

    @property
    def options(self) -> dict[str, Any]:
        return {"customers": [{"id": c, "name": n} for c, n in self.customers],
                "sites": [{"id": s.data["id"], "name": s.data["name"], "customer_id": s.customer_id}
                          for s in self.scoped_sites],
                "desks": self.snapshot.desks}

    def json(self) -> bytes:
        if self._json is None:
            head = {"version": self.version, "generated_at": _iso(self.snapshot.generated_at),
                    "filters": self.filters.as_dict(), "counts": self.counts, "sounding": self.sounding,
                    "options": self.options}
            self._json = b"".join([
                _dumps(head)[:-1],
                b',"sites":[', b",".join(s.json for s in self.sites), b"]",
                b',"assets":[', b",".join(s.assets_json for s in self.sites if s.assets_json), b"]",
                b',"alert_groups":[', b",".join(g.json for g in self.groups), b"]",
                b',"tickets":[', b",".join(t.json for t in self.tickets), b"]}",
            ])
        return self._json


# --- reading ------------------------------------------------------------------------------


def read_snapshot(session: Session, config: Config, *, version: str, now: datetime,
                  unreachable: frozenset[str]) -> Snapshot:
    """Everything the control room shows at ``now``, from the database and the config."""
    customers = dict(session.execute(select(CustomerRow.id, CustomerRow.name)).all())
    sites = session.execute(select(SiteRow.id, SiteRow.customer_id, SiteRow.name, SiteRow.address,
                                   SiteRow.time_zone).order_by(SiteRow.id)).all()
    assets = session.execute(select(AssetRow.id, AssetRow.site_id, AssetRow.kind, AssetRow.name)
                             .order_by(AssetRow.site_id, AssetRow.id)).all()
    alerts = session.scalars(select(AlertRow).where(AlertRow.state == AlertState.FIRING.value)
                             .order_by(AlertRow.started_at, AlertRow.id)).all()
    tickets = session.scalars(select(TicketRow).where(TicketRow.state.in_([s.value for s in OPEN_STATES]))
                              .order_by(TicketRow.priority, TicketRow.arrive_by, TicketRow.id)).all()
    inspections = session.execute(select(InspectionRow.id, InspectionRow.site_id, InspectionRow.asset_id).where(
        InspectionRow.ended_at.is_(None), InspectionRow.started_at <= now)).all()

    zone_of_site = {s.id: s.time_zone for s in sites}
    site_of_asset = {a.id: a.site_id for a in assets}
    name_of_asset = {a.id: a.name for a in assets}
    work = _at_work(config, now, inspections, assets)
    silence = {r.id for r in config.rules if r.offline or r.kind in _SILENCE_KINDS}
    firing: dict[str, list[Firing]] = defaultdict(list)
    for a in alerts:
        firing[a.asset_id].append(Firing(a.severity, a.rule_id in silence, a.suppressed_by))

    by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in assets:
        status, reason = asset_status(firing.get(a.id, ()), at_work=work.get(a.id), unreachable=a.id in unreachable)
        by_site[a.site_id].append({"id": a.id, "site_id": a.site_id, "name": a.name, "kind": a.kind,
                                   "status": status.value, "reason": reason})
    site_pieces = []
    for s in sites:
        mine = by_site.get(s.id, [])
        counts = Counter(a["status"] for a in mine)
        data = {"id": s.id, "name": s.name, "customer_id": s.customer_id,
                "customer_name": customers.get(s.customer_id, s.customer_id), "address": s.address,
                "time_zone": s.time_zone, "counts": {st.value: counts.get(st.value, 0) for st in Status}}
        site_pieces.append(SitePiece(data, s.customer_id, mine, _dumps(mine)[1:-1], counts, _dumps(data)))

    open_by_id = {t.id: t for t in tickets}
    faults = config.correlation.faults
    fault_of_rule = {r.id: r.fault for r in config.rules}
    desk_now = _desks_now(config, now, zone_of_site)
    groups, tickets_of = {}, {}
    for locale in i18n.LOCALES:
        with i18n.using(locale):
            tickets_of[locale] = [_ticket_piece(t, now, zone_of_site, name_of_asset, faults) for t in tickets]
            groups[locale] = _groups(alerts, now=now, open_by_id=open_by_id, site_of_asset=site_of_asset,
                                     name_of_asset=name_of_asset, zone_of_site=zone_of_site,
                                     fault_of_rule=fault_of_rule, faults=faults, desk_now=desk_now)
    desks = sorted({config.duty.office_desk, config.duty.off_hours_desk} | {t.desk for t in tickets if t.desk})
    return Snapshot(version, now, customers, site_pieces, groups, tickets_of, desks)


def _at_work(config: Config, now: datetime, inspections: Iterable, assets: Iterable) -> dict[str, str]:
    """Asset -> why technicians are at work on it ("maintenance:<window>", "inspection:<id>"):
    the test of tickets.holds.Holds.at_work, with its reason kept for the chip's tooltip."""
    of_site: dict[str, list[str]] = defaultdict(list)
    for a in assets:
        of_site[a.site_id].append(a.id)
    work: dict[str, str] = {}
    for inspection_id, site_id, asset_id in inspections:
        for target in ([asset_id] if asset_id is not None else of_site.get(site_id, [])):
            work.setdefault(target, f"inspection:{inspection_id}")
    for window_id, kind, target in sorted(active_windows(config, now)):
        for asset_id in ([target] if kind == "asset" else of_site.get(target, [])):
            work.setdefault(asset_id, f"maintenance:{window_id}")
    return work


def _desks_now(config: Config, now: datetime, zone_of_site: dict[str, str]) -> dict[str, str]:
    """Per site, the desk on duty now: where an alert without a ticket would go."""
    duty = config.duty
    calendar = config.sla.calendars.get(duty.calendar) if duty.calendar else None
    by_zone = {zone: desk_for(now, time_zone=zone, duty=duty, calendar=calendar) for zone in set(zone_of_site.values())}
    return {site_id: by_zone[zone] for site_id, zone in zone_of_site.items()}


def _ticket_piece(t: TicketRow, now: datetime, zone_of_site: dict[str, str], name_of_asset: dict[str, str],
                  faults: dict) -> Piece:
    data = {
        "id": t.id, "asset_id": t.asset_id, "asset_name": name_of_asset.get(t.asset_id, t.asset_id),
        "site_id": t.site_id, "time_zone": zone_of_site.get(t.site_id, "UTC"),
        "title": messages.render(t.title_msg, t.title),
        "severity": t.severity, "priority": t.priority, "state": t.state, "desk": t.desk, "assignee": t.assignee,
        "fault": t.fault, "fault_label": faults[t.fault].label if t.fault in faults else None,
        "opened_at": _iso(t.opened_at), "arrive_by": _iso(t.arrive_by), "arrived_at": _iso(t.arrived_at),
        "resolve_by": _iso(t.resolve_by), "resolved_at": _iso(t.resolved_at),
        "arrival": arrival(arrive_by=t.arrive_by, arrived_at=t.arrived_at, breached=t.sla_breached, now=now).value,
        "resolution": resolution(resolve_by=t.resolve_by, resolved_at=t.resolved_at, now=now).value,
        "occurrences": t.occurrences, "repeat_of": t.repeat_of,
    }
    return Piece(data, _dumps(data), t.site_id, SEVERITY_RANK.get(t.severity, 0), t.desk)


def _groups(alerts: Iterable[AlertRow], *, now: datetime, open_by_id: dict[int, TicketRow],
            site_of_asset: dict[str, str], name_of_asset: dict[str, str], zone_of_site: dict[str, str],
            fault_of_rule: dict[str, str | None], faults: dict, desk_now: dict[str, str]) -> list[Piece]:
    """Firing alerts by fault: the ticket they paged on (tickets/correlation.py), else their
    asset and their rule's fault group (held alerts have no ticket yet)."""
    grouped: dict[str, dict[str, Any]] = {}
    for a in alerts:
        ticket = open_by_id.get(a.ticket_id) if a.ticket_id is not None else None
        fault = ticket.fault if ticket is not None else fault_of_rule.get(a.rule_id)
        key = f"ticket:{a.ticket_id}" if a.ticket_id is not None else f"{a.asset_id}/{fault or a.rule_id}"
        group = grouped.get(key)
        if group is None:
            asset_id = ticket.asset_id if ticket is not None else a.asset_id
            site_id = ticket.site_id if ticket is not None else site_of_asset.get(a.asset_id)
            group = grouped[key] = {
                "key": key, "ticket_id": a.ticket_id, "asset_id": asset_id,
                "asset_name": name_of_asset.get(asset_id, asset_id), "site_id": site_id,
                "time_zone": zone_of_site.get(site_id or "", "UTC"), "fault": fault,
                "fault_label": faults[fault].label if fault in faults else None,
                "desk": ticket.desk if ticket is not None else desk_now.get(site_id or "", ""),
                "severity": a.severity, "started_at": _iso(a.started_at), "alerts": [],
            }
        if SEVERITY_RANK.get(a.severity, 0) > SEVERITY_RANK.get(group["severity"], 0):
            group["severity"] = a.severity
        muted = a.muted_until if a.muted_until is not None and a.muted_until > now else None
        group["alerts"].append({
            "id": a.id, "asset_id": a.asset_id, "asset_name": name_of_asset.get(a.asset_id, a.asset_id),
            "rule_id": a.rule_id, "channel": a.channel, "channel_label": labels.label(a.channel),
            "severity": a.severity, "value": a.value, "unit": a.unit, "value_text": labels.show(a.channel, a.value, a.unit),
            "summary": messages.render(a.summary_msg, a.summary), "started_at": _iso(a.started_at),
            "escalated": a.escalated_at is not None,
            "held_by": a.suppressed_by, "acknowledged_at": _iso(a.acknowledged_at),
            "acknowledged_by": a.acknowledged_by, "ack_comment": a.ack_comment, "muted_until": _iso(muted),
            "muted_by": a.muted_by if muted else None, "mute_reason": a.mute_reason if muted else "",
            "sounding": sounding(held_by=a.suppressed_by, acknowledged_at=a.acknowledged_at,
                                 muted_until=a.muted_until, now=now),
        })
    pieces = []
    for group in grouped.values():
        group["sounding"] = any(a["sounding"] for a in group["alerts"])
        rank = SEVERITY_RANK.get(group["severity"], 0)
        pieces.append(Piece(group, _dumps(group), group["site_id"], rank, group["desk"],
                            tuple(a["id"] for a in group["alerts"] if a["sounding"])))
    # The most severe fault first, then the newest: what the desk must look at now.
    pieces.sort(key=lambda p: p.data["started_at"], reverse=True)
    pieces.sort(key=lambda p: -p.rank)
    return pieces


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
