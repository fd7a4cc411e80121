"""Reading the control room's state: one query per table, then the pieces of the snapshot —
taken from the previous build wherever what they show has not changed.

A change is usually one alert or one ticket among a thousand, and the fleet has ten
thousand assets. So every piece (a site's chips, an alert, a fault group, a ticket) is
kept by everything it shows — its rows, the time-dependent judgements (sounding, muted,
deadlines), the locale — and a build rebuilds only the pieces whose key is new. The SQL
reads columns into plain named tuples (no ORM objects; SQLAlchemy's rows compare in
Python, ten times slower) so that rows can be those keys.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, defaultdict, namedtuple
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from sitewatch import i18n
from sitewatch.api.dashboard.signature import active_windows
from sitewatch.api.dashboard.state import Piece, SitePiece, Snapshot, dumps, iso
from sitewatch.api.dashboard.status import SEVERITY_RANK, Firing, Status, arrival, asset_status, resolution, sounding
from sitewatch.config.models import Config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.tickets import OPEN_STATES
from sitewatch.i18n import labels, messages
from sitewatch.i18n.messages import Label
from sitewatch.storage.tables import AlertRow, AssetRow, CustomerRow, SiteRow, TicketRow
from sitewatch.tickets.duty import desk_for
from sitewatch.tickets.holds import inspections_in_progress

T = TypeVar("T")
_SILENCE_KINDS = ("no_data",)  # besides rules marked ``offline``: the asset itself is not heard

_ALERT_COLUMNS = (
    AlertRow.id, AlertRow.asset_id, AlertRow.rule_id, AlertRow.channel, AlertRow.severity, AlertRow.value,
    AlertRow.unit, AlertRow.summary, cast(AlertRow.summary_msg, Text).label("summary_msg"), AlertRow.started_at,
    AlertRow.acknowledged_at, AlertRow.acknowledged_by, AlertRow.ack_comment, AlertRow.escalated_at,
    AlertRow.suppressed_by, AlertRow.muted_until, AlertRow.muted_by, AlertRow.mute_reason, AlertRow.ticket_id,
)
_TICKET_COLUMNS = (
    TicketRow.id, TicketRow.asset_id, TicketRow.site_id, TicketRow.title, cast(TicketRow.title_msg, Text).label("title_msg"),
    TicketRow.severity, TicketRow.priority, TicketRow.state, TicketRow.desk, TicketRow.assignee, TicketRow.fault,
    TicketRow.opened_at, TicketRow.arrive_by, TicketRow.arrived_at, TicketRow.resolve_by, TicketRow.resolved_at,
    TicketRow.sla_breached, TicketRow.occurrences, TicketRow.repeat_of,
)

_Alert = namedtuple("_Alert", [c.key for c in _ALERT_COLUMNS])
_Ticket = namedtuple("_Ticket", [c.key for c in _TICKET_COLUMNS])
_Site = namedtuple("_Site", "id customer_id name address time_zone")
_Asset = namedtuple("_Asset", "id site_id kind name")


class Pieces:
    """The pieces of the last build by key; each build keeps the ones it used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # builds run in worker threads: one at a time
        self._kept: dict[Hashable, Any] = {}
        self._used: dict[Hashable, Any] = {}

    @contextmanager
    def building(self) -> Iterator[Pieces]:
        with self._lock:
            self._used = {}
            try:
                yield self
            finally:
                self._kept, self._used = self._used, {}

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        found = self._used.get(key)
        if found is None:
            found = self._kept.get(key)
            if found is None:
                found = make()
            self._used[key] = found
        return found


def read_snapshot(session: Session, config: Config, *, version: str, now: datetime, unreachable: frozenset[str],
                  pieces: Pieces | None = None) -> Snapshot:
    """Everything the control room shows at ``now``, from the database and the config."""
    customers = dict(session.execute(select(CustomerRow.id, CustomerRow.name)).all())
    sites = list(map(_Site._make, session.execute(select(
        SiteRow.id, SiteRow.customer_id, SiteRow.name, SiteRow.address, SiteRow.time_zone).order_by(SiteRow.id))))
    assets = list(map(_Asset._make, session.execute(select(
        AssetRow.id, AssetRow.site_id, AssetRow.kind, AssetRow.name).order_by(AssetRow.site_id, AssetRow.id))))
    alerts = list(map(_Alert._make, session.execute(select(*_ALERT_COLUMNS).where(
        AlertRow.state == AlertState.FIRING.value).order_by(AlertRow.started_at, AlertRow.id))))
    tickets = list(map(_Ticket._make, session.execute(select(*_TICKET_COLUMNS).where(
        TicketRow.state.in_([s.value for s in OPEN_STATES])).order_by(TicketRow.priority, TicketRow.arrive_by,
                                                                      TicketRow.id))))
    inspections = inspections_in_progress(session, now)

    facts = _Facts(config, now, sites, assets, tickets)
    work = _at_work(config, now, inspections, facts.assets_of_site)
    silence = {r.id for r in config.rules if r.offline or r.kind in _SILENCE_KINDS}
    firing: dict[str, list[Firing]] = defaultdict(list)
    for a in alerts:
        firing[a.asset_id].append(Firing(a.severity, a.rule_id in silence, a.suppressed_by))
    judged: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)  # site -> (asset, status, reason)
    for asset_id in sorted(set(firing) | set(work) | unreachable):
        site_id = facts.site_of_asset.get(asset_id)
        if site_id is not None:
            status, reason = asset_status(firing.get(asset_id, ()), at_work=work.get(asset_id),
                                          unreachable=asset_id in unreachable)
            judged[site_id].append((asset_id, status.value, reason))

    with (pieces or Pieces()).building() as kept:
        site_pieces = [kept.get(("site", s, customers.get(s.customer_id), facts.rows_of_site.get(s.id, ()),
                                 tuple(judged.get(s.id, ()))),
                                lambda s=s: _site_piece(s, customers, facts.rows_of_site.get(s.id, ()), judged[s.id]))
                       for s in sites]
        groups, ticket_pieces = {}, {}
        for locale in i18n.LOCALES:
            with i18n.using(locale):
                ticket_pieces[locale] = [_ticket_piece(kept, locale, t, facts) for t in tickets]
                groups[locale] = _groups(kept, locale, alerts, facts)
    desks = sorted({config.duty.office_desk, config.duty.off_hours_desk} | {t.desk for t in tickets if t.desk})
    return Snapshot(version, now, customers, site_pieces, groups, ticket_pieces, desks)


class _Facts:
    """Lookups of one build."""

    def __init__(self, config: Config, now: datetime, sites: list[_Site], assets: list[_Asset],
                 tickets: list[_Ticket]) -> None:
        self.now = now
        self.zone_of_site = {s.id: s.time_zone for s in sites}
        self.rows_of_site = {site_id: tuple(rows) for site_id, rows in groupby(assets, key=lambda a: a.site_id)}
        self.assets_of_site = {site_id: [a.id for a in rows] for site_id, rows in self.rows_of_site.items()}
        self.site_of_asset = {a.id: a.site_id for a in assets}
        self.name_of_asset = {a.id: a.name for a in assets}
        self.open_tickets = {t.id: t for t in tickets}
        self.fault_of_rule = {r.id: r.fault for r in config.rules}
        self.faults = config.correlation.faults
        duty = config.duty
        calendar = config.sla.calendars.get(duty.calendar) if duty.calendar else None
        # Where an alert without a ticket would go: the desk on duty now at its site.
        desks = {zone: desk_for(now, time_zone=zone, duty=duty, calendar=calendar)
                 for zone in set(self.zone_of_site.values())}
        self.desk_now = {site_id: desks[zone] for site_id, zone in self.zone_of_site.items()}

    def fault_label(self, fault: str | None) -> str | None:
        """The config's label of a fault group, in the current locale where a catalogue has it."""
        return config_text(self.faults[fault].label) if fault in self.faults and self.faults[fault].label else None


def _at_work(config: Config, now: datetime, inspections: Iterable, assets_of_site: dict[str, list[str]]) -> dict[str, str]:
    """Asset -> why technicians are at work on it ("maintenance:<window>", "inspection:<id>"):
    the test of sitewatch.tickets.holds.Holds.at_work, with its reason kept for the chip's tooltip."""
    work: dict[str, str] = {}
    for inspection_id, site_id, asset_id in inspections:
        for target in ([asset_id] if asset_id is not None else assets_of_site.get(site_id, [])):
            work.setdefault(target, f"inspection:{inspection_id}")
    for window_id, kind, target in sorted(active_windows(config, now)):
        for asset_id in ([target] if kind == "asset" else assets_of_site.get(target, [])):
            work.setdefault(asset_id, f"maintenance:{window_id}")
    return work


def _site_piece(site: _Site, customers: dict[str, str], rows: tuple[_Asset, ...], judged: list) -> SitePiece:
    status = {asset_id: (value, reason) for asset_id, value, reason in judged}
    assets = []
    for a in rows:
        value, reason = status.get(a.id, (Status.OK.value, None))
        assets.append({"id": a.id, "site_id": a.site_id, "name": a.name, "kind": a.kind, "status": value,
                       "reason": reason})
    counts = Counter(a["status"] for a in assets)
    data = {"id": site.id, "name": site.name, "customer_id": site.customer_id,
            "customer_name": customers.get(site.customer_id, site.customer_id), "address": site.address,
            "time_zone": site.time_zone, "counts": {s.value: counts.get(s.value, 0) for s in Status}}
    return SitePiece(data, site.customer_id, assets, dumps(assets)[1:-1], counts, dumps(data))


def _ticket_piece(kept: Pieces, locale: str, t: _Ticket, facts: _Facts) -> Piece:
    now = facts.now
    judged = (arrival(arrive_by=t.arrive_by, arrived_at=t.arrived_at, breached=t.sla_breached, now=now).value,
              resolution(resolve_by=t.resolve_by, resolved_at=t.resolved_at, now=now).value)
    zone, asset_name = facts.zone_of_site.get(t.site_id, "UTC"), facts.name_of_asset.get(t.asset_id, t.asset_id)

    def make() -> Piece:
        data = {
            "id": t.id, "asset_id": t.asset_id, "asset_name": asset_name, "site_id": t.site_id, "time_zone": zone,
            "title": _said(t.title_msg, t.title), "severity": t.severity, "priority": t.priority, "state": t.state,
            "desk": t.desk, "desk_label": config_text(t.desk), "assignee": t.assignee, "fault": t.fault, "fault_label": facts.fault_label(t.fault),
            "opened_at": iso(t.opened_at), "arrive_by": iso(t.arrive_by), "arrived_at": iso(t.arrived_at),
            "resolve_by": iso(t.resolve_by), "resolved_at": iso(t.resolved_at), "arrival": judged[0],
            "resolution": judged[1], "occurrences": t.occurrences, "repeat_of": t.repeat_of,
        }
        return Piece(data, dumps(data), t.site_id, SEVERITY_RANK.get(t.severity, 0), t.desk)

    return kept.get(("ticket", locale, t, zone, asset_name, judged), make)


def _groups(kept: Pieces, locale: str, alerts: Iterable[_Alert], facts: _Facts) -> list[Piece]:
    """Firing alerts by fault: the ticket they paged on (tickets/correlation.py), else their
    asset and their rule's fault group (held alerts have no ticket yet)."""
    members: dict[str, list[tuple[Hashable, dict[str, Any]]]] = defaultdict(list)
    heads: dict[str, dict[str, Any]] = {}
    for a in alerts:
        ticket = facts.open_tickets.get(a.ticket_id) if a.ticket_id is not None else None
        fault = ticket.fault if ticket is not None else facts.fault_of_rule.get(a.rule_id)
        key = f"ticket:{a.ticket_id}" if a.ticket_id is not None else f"{a.asset_id}/{fault or a.rule_id}"
        if key not in heads:
            asset_id = ticket.asset_id if ticket is not None else a.asset_id
            site_id = ticket.site_id if ticket is not None else facts.site_of_asset.get(a.asset_id)
            heads[key] = {
                "key": key, "ticket_id": a.ticket_id, "asset_id": asset_id,
                "asset_name": facts.name_of_asset.get(asset_id, asset_id), "site_id": site_id,
                "time_zone": facts.zone_of_site.get(site_id or "", "UTC"), "fault": fault,
                "fault_label": facts.fault_label(fault),
                "desk": ticket.desk if ticket is not None else facts.desk_now.get(site_id or "", ""),
            }
        members[key].append(_alert(kept, locale, a, facts))
    pieces = []
    for key, head in heads.items():
        alert_keys = tuple(k for k, _ in members[key])
        pieces.append(kept.get(("group", locale, tuple(head.items()), alert_keys),
                               lambda head=head, key=key: _group_piece(head, [d for _, d in members[key]])))
    # The most severe fault first, then the newest: what the desk must look at now.
    pieces.sort(key=lambda p: p.data["started_at"], reverse=True)
    pieces.sort(key=lambda p: -p.rank)
    return pieces


def _group_piece(head: dict[str, Any], alerts: list[dict[str, Any]]) -> Piece:
    severity = max((a["severity"] for a in alerts), key=lambda s: SEVERITY_RANK.get(s, 0))
    data = head | {"severity": severity, "started_at": min(a["started_at"] for a in alerts), "alerts": alerts,
                   "sounding": any(a["sounding"] for a in alerts)}
    return Piece(data, dumps(data), head["site_id"], SEVERITY_RANK.get(severity, 0), head["desk"],
                 tuple(a["id"] for a in alerts if a["sounding"]))


def _alert(kept: Pieces, locale: str, a: _Alert, facts: _Facts) -> tuple[Hashable, dict[str, Any]]:
    now = facts.now
    loud = sounding(held_by=a.suppressed_by, acknowledged_at=a.acknowledged_at, muted_until=a.muted_until, now=now)
    muted = a.muted_until is not None and a.muted_until > now
    asset_name = facts.name_of_asset.get(a.asset_id, a.asset_id)
    key = ("alert", locale, a, loud, muted, asset_name)

    def make() -> dict[str, Any]:
        value = a.value if a.value is None or math.isfinite(a.value) else None  # JSON has no NaN
        return {
            "id": a.id, "asset_id": a.asset_id, "asset_name": asset_name, "rule_id": a.rule_id, "channel": a.channel,
            "channel_label": labels.label(a.channel), "severity": a.severity, "value": value, "unit": a.unit,
            "value_text": labels.show(a.channel, value, a.unit), "summary": _said(a.summary_msg, a.summary),
            "started_at": iso(a.started_at), "escalated": a.escalated_at is not None, "held_by": a.suppressed_by,
            "acknowledged_at": iso(a.acknowledged_at), "acknowledged_by": a.acknowledged_by,
            "ack_comment": a.ack_comment, "muted_until": iso(a.muted_until) if muted else None,
            "muted_by": a.muted_by if muted else None, "mute_reason": a.mute_reason if muted else "",
            "sounding": loud,
        }

    return key, kept.get(key, make)


def config_text(text: str) -> str:
    """Words the deployment's config wrote (a fault group's label, a desk's name), in the
    current locale when a catalogue has them (sitewatch.i18n.messages.LABEL_CONTEXT)."""
    return Label(text).render() if text else text


def _said(message: str | None, fallback: str) -> str:
    """A stored message (read as its JSON text) in the current locale; the English without one."""
    return messages.render(json.loads(message) if message else None, fallback)
