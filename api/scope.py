"""What a principal may see: its customers, their sites, the sites' assets and plant, and
everything that hangs off them (alerts, tickets, inspections, logs, reports, complaints).

Two parts, used by every route and page:

* :class:`Scope` (``scope: ScopeDep`` from sitewatch.api.deps) says what is visible and filters
  lists; its ``site_ids`` / ``customer_ids`` go to the list queries as filters
  (None = every one, for a principal without a customer scope).
* :func:`guard` runs for every request behind a login (sitewatch.api.deps.require_principal): an
  object named in the path or the query string (``site_id``, ``asset_id``, ``customer_id``,
  ``ticket_id``, ``alert_id``, ``inspection_id``, ``flag_id``, ``complaint_id``,
  ``delivery_id``) that the scope does not cover answers 404 exactly as an unknown one
  does, before the route runs.
  So a new route cannot forget the check, and no answer tells another customer's object
  exists. Ids in request bodies are the route's to check (:meth:`Scope.require_site` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import HTTPException
from sqlalchemy.orm import Session
from starlette.requests import Request

from sitewatch.api.bounds import stored_id
from sitewatch.auth.roles import Principal
from sitewatch.config.models import Config
from sitewatch.storage.paging import DeliveryRow
from sitewatch.storage.tables import AlertRow, ComplaintRow, InspectionFlagRow, InspectionRow, TicketRow

T = TypeVar("T")
SITE_ASSET_PREFIX = "site:"  # a site-wide ticket's asset id (tickets/writer.py: a site gone silent)


def not_found(what: str, value: object) -> HTTPException:
    return HTTPException(404, detail=f"no {what} {value!r}")


@dataclass(frozen=True, slots=True)
class Scope:
    """The visible customers, sites and assets; None = all of them."""

    customer_ids: frozenset[str] | None
    site_ids: frozenset[str] | None
    asset_ids: frozenset[str] | None  # configured assets, plant items and 'site:<id>'

    @classmethod
    def of(cls, principal: Principal, config: Config) -> Scope:
        if principal.customers is None:
            return cls(None, None, None)
        sites = frozenset(s.id for s in config.sites if s.customer in principal.customers)
        assets = {a.id for a in config.assets if a.site in sites}
        assets.update(p.id for s in config.sites if s.id in sites for p in s.plant)
        assets.update(SITE_ASSET_PREFIX + s for s in sites)
        return cls(frozenset(principal.customers), sites, frozenset(assets))

    @property
    def everything(self) -> bool:
        return self.customer_ids is None

    def sees_customer(self, customer_id: str | None) -> bool:
        return self.customer_ids is None or customer_id in self.customer_ids

    def sees_site(self, site_id: str | None) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def sees_asset(self, asset_id: str | None) -> bool:
        return self.asset_ids is None or asset_id in self.asset_ids

    def require_customer(self, customer_id: str | None) -> None:
        if customer_id is not None and not self.sees_customer(customer_id):
            raise not_found("customer", customer_id)

    def require_site(self, site_id: str | None) -> None:
        if site_id is not None and not self.sees_site(site_id):
            raise not_found("site", site_id)

    def require_asset(self, asset_id: str | None) -> None:
        if asset_id is not None and not self.sees_asset(asset_id):
            raise not_found("asset", asset_id)

    def require_stored(self, session: Session, name: str, value: int) -> None:
        """404 unless the stored object (``name`` as in a URL: 'ticket_id' ...) is in scope."""
        what, owner, sees = _STORED[name]
        if not self.everything and not sees(self, owner(session, value)):
            raise not_found(what, value)

    def keep(self, items: Iterable[T], site_of: Callable[[T], str | None]) -> list[T]:
        """The items on a visible site."""
        items = list(items)
        return items if self.site_ids is None else [i for i in items if site_of(i) in self.site_ids]


# --- the guard: ids named in the URL ---------------------------------------------------


def _site_of_ticket(session: Session, value: int) -> str | None:
    row = session.get(TicketRow, value)
    return None if row is None else row.site_id


def _asset_of_alert(session: Session, value: int) -> str | None:
    row = session.get(AlertRow, value)
    return None if row is None else row.asset_id


def _site_of_inspection(session: Session, value: int) -> str | None:
    row = session.get(InspectionRow, value)
    return None if row is None else row.site_id


def _site_of_flag(session: Session, value: int) -> str | None:
    row = session.get(InspectionFlagRow, value)
    return None if row is None else _site_of_inspection(session, row.inspection_id)


def _customer_of_complaint(session: Session, value: int) -> str | None:
    row = session.get(ComplaintRow, value)
    return None if row is None else row.customer_id


def _site_of_delivery(session: Session, value: int) -> str | None:
    """A message about a ticket belongs where its ticket is; a storm's summary (no ticket)
    where the site it sums up is."""
    row = session.get(DeliveryRow, value)
    if row is None:
        return None
    return _site_of_ticket(session, row.ticket_id) if row.ticket_id is not None else row.site_id


# name → (what it names, how to find the owning id in the database, which scope test applies)
_STORED: dict[str, tuple[str, Callable[[Session, int], str | None], Callable[[Scope, str | None], bool]]] = {
    "ticket_id": ("ticket", _site_of_ticket, Scope.sees_site),
    "alert_id": ("alert", _asset_of_alert, Scope.sees_asset),
    "inspection_id": ("inspection", _site_of_inspection, Scope.sees_site),
    "flag_id": ("inspection flag", _site_of_flag, Scope.sees_site),
    "complaint_id": ("complaint", _customer_of_complaint, Scope.sees_customer),
    "delivery_id": ("delivery", _site_of_delivery, Scope.sees_site),
}
_CONFIGURED: dict[str, tuple[str, Callable[[Scope, str | None], bool]]] = {
    "site_id": ("site", Scope.sees_site),
    "asset_id": ("asset", Scope.sees_asset),
    "customer_id": ("customer", Scope.sees_customer),
}


def guard(request: Request, scope: Scope, sessions: Callable[[], Session]) -> None:
    """404 for any id in the path or the query string outside ``scope`` (see the module's doc)."""
    if scope.everything:
        return
    named = [(k, v) for k, v in request.path_params.items() if isinstance(v, str)]
    named += [(k, v) for k in set(request.query_params) for v in request.query_params.getlist(k)]
    stored = []
    for name, value in named:
        if name in _CONFIGURED:
            what, sees = _CONFIGURED[name]
            if not sees(scope, value):
                raise not_found(what, value)
        elif name in _STORED and (number := stored_id(value)) is not None:  # else the route's own 422
            stored.append((name, number))
    if not stored:
        return
    with sessions() as session:
        for name, value in stored:
            scope.require_stored(session, name, value)
