"""The control room's state: sites, assets with their status, firing alerts grouped by fault,
open tickets with their deadlines, and which alerts sound.

A :class:`Snapshot` (read by api/dashboard/read.py) keeps each piece both as a dict (for
the page's first render) and as its JSON text, cut along the lines that scope and filters
cut: the assets of one site, one fault group, one ticket. :meth:`Snapshot.view` keeps the
pieces a principal's customers and the filters let through and joins their JSON, so a
hundred open dashboards cost one read per change and nothing is serialised twice.

Times are UTC ISO strings, each piece carrying its site's time zone for display.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sitewatch import i18n
from sitewatch.api.dashboard.status import SEVERITY_RANK, Status
from sitewatch.domain.time import UTC


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
    _gzip: bytes | None = None
    # What pages made of this view (the control room's HTML per role), kept with it: a view
    # lives as long as its version is the newest.
    rendered: dict[Hashable, Any] = field(default_factory=dict)

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
            head = {"version": self.version, "generated_at": iso(self.snapshot.generated_at),
                    "filters": self.filters.as_dict(), "counts": self.counts, "sounding": self.sounding,
                    "options": self.options}
            self._json = b"".join([
                dumps(head)[:-1],
                b',"sites":[', b",".join(s.json for s in self.sites), b"]",
                b',"assets":[', b",".join(s.assets_json for s in self.sites if s.assets_json), b"]",
                b',"alert_groups":[', b",".join(g.json for g in self.groups), b"]",
                b',"tickets":[', b",".join(t.json for t in self.tickets), b"]}",
            ])
        return self._json

    def json_gzip(self) -> bytes:
        """The JSON compressed once for every client that accepts gzip (a browser does)."""
        if self._gzip is None:
            self._gzip = gzip.compress(self.json(), compresslevel=6, mtime=0)
        return self._gzip


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
